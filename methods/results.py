"""Result rows with provenance, appended to results/*.jsonl under a lock, and resumable runs.

A row is a JSON object on one line. `key` is a hash of the fields that define the run (not timings or versions),
so an experiment can skip the rows it already has. Every writer takes an advisory lock (<file>.lock) and appends
whole lines in one write followed by fsync, so concurrent writers keep every row. A line that does not parse (a
kill mid-write on a filesystem without atomic appends, a full disk) is reported with the file name, moved to
<file>.corrupt and dropped from the file, so the run it belonged to simply runs again on resume.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Optional

import torch

from .atomic import locked, write_bytes

REPO_ROOT = Path(__file__).resolve().parent.parent


def results_root() -> Path:
    """results/ of the repository, or $STADE_RESULTS_DIR (tests run whole scales into a temporary folder); the
    experiments, the theory checks and run_all.sh all write below it."""
    return Path(os.environ.get("STADE_RESULTS_DIR") or REPO_ROOT / "results")


VERSIONED = ("torch", "transformers", "datasets", "accelerate", "lm_eval", "numpy")


def run_key(fields: dict[str, Any]) -> str:
    """Stable hash of the run-defining fields."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


OUTPUTS = (":(exclude)results", ":(exclude)figures", ":(exclude)*.md")  # what runs write, and prose: not code


@functools.lru_cache(maxsize=1)
def git_commit() -> dict[str, Any]:
    """The commit this process's code came from, read once per process (a commit made while a long run goes on
    must not be credited with its rows), and whether tracked code differed from it ("dirty"): the results and
    figures the runs themselves write, and Markdown prose, do not count."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "HEAD") or None
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", *OUTPUTS) if commit else None
    return {"commit": commit, "dirty": bool(dirty) if commit else None}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def machine() -> dict[str, Any]:
    info = {"platform": platform.platform(), "cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    cpu = _cpu_model()
    if cpu:
        info["cpu"] = cpu
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpu_model() -> Optional[str]:
    """The CPU's model name (Linux /proc/cpuinfo), so timing tables can name their hardware."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far. On Linux its own address space's high-water mark (VmHWM):
    ru_maxrss is not that, since Linux carries a parent's high-water mark into a child across exec, so a child of
    a large process (the benchmarks' workers) would report at least the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # ru_maxrss: KiB on Linux, bytes on macOS
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def provenance() -> dict[str, Any]:
    return {"git": git_commit(), "versions": versions(), "machine": machine(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def _parse(path: Path) -> tuple[list[dict], list[str]]:
    rows, bad = [], []
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        (rows if isinstance(row, dict) else bad).append(row if isinstance(row, dict) else line)
    return rows, bad


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Every complete row of a results file; lines that do not parse are set aside (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        return []
    rows, bad = _parse(path)
    if bad:
        with locked(path):
            rows, bad = _parse(path)  # again, under the lock: another writer may have repaired it meanwhile
            if bad:
                aside = path.with_name(path.name + ".corrupt")
                with open(aside, "a") as f:
                    f.write("".join(line + "\n" for line in bad))
                write_bytes(path, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows).encode())
                print(f"warning: {path}: {len(bad)} line(s) that do not parse (a write cut short) moved to {aside}; "
                      "their runs will be run again", file=sys.stderr)
    return rows


def has_records(row: dict) -> bool:
    """Whether a row carries what the claims pair on (issue 21): per-window NLLs for every perplexity it reports and
    per-item results for every zero-shot task. A row written before those records existed has neither; its run
    counts as not done, so a resumed grid runs it again instead of keeping a number no interval can be built on."""
    ppl = row.get("ppl")
    if isinstance(ppl, dict) and set(ppl) - set(row.get("ppl_windows") or {}):
        return False
    tasks = (row.get("zero_shot") or {}).get("tasks") or {}
    return all(isinstance(task, dict) and "items" in task for task in tasks.values())


def done_keys(path: str | os.PathLike) -> set[str]:
    """The run keys of a results file's complete rows (those with their records: has_records)."""
    return {row["key"] for row in read_rows(path) if "key" in row and has_records(row)}


def append_rows(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append complete rows under the file's lock, in one write, flushed to disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = "".join(json.dumps(row, sort_keys=True, default=str) + "\n" for row in rows)
    with locked(path):
        with open(path, "ab+") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a cut-short last line: end it, so the new rows start on their own line
                    new = "\n" + new
            f.write(new.encode())
            f.flush()
            os.fsync(f.fileno())


def check_writable(path: str | os.PathLike, what: str = "results file") -> Path:
    """Raise ValueError before any work if `path` cannot take rows: a directory, or a folder that cannot be made or
    written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory; give a file name (e.g. {path / 'rows.jsonl'})")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{what} {path}: cannot create its folder ({err.strerror})") from None
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{what} {path} is not writable")
    return path


VOLATILE = ("seconds", "provenance", "generation_s_per_sample", "cache_hit")
# timings, memory and speed (also the measurements of pruning_cost and structured_speedup) vary between runs
VOLATILE_SUFFIXES = ("_s", "_mb", "_seconds", "per_s")
VOLATILE_PREFIXES = ("time_ratio", "memory_ratio", "speedup", "phase_seconds")


def is_volatile(key: str) -> bool:
    return key in VOLATILE or key.endswith(VOLATILE_SUFFIXES) or key.startswith(VOLATILE_PREFIXES)


def stable_view(row: Any) -> Any:
    """A row without what legitimately differs between two identical runs (timings, memory peaks, speeds, dates,
    versions, machine, git state, cache hits): two runs with the same seeds must agree on everything else."""
    if isinstance(row, dict):
        return {k: stable_view(v) for k, v in row.items() if not is_volatile(k)}
    if isinstance(row, list):
        return [stable_view(v) for v in row]
    return row
