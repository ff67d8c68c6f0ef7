"""Result rows with provenance, appended atomically to results/*.jsonl, and resumable runs.

A row is a JSON object. `key` is a hash of the fields that define the run (not timings or versions), so an
experiment can skip the rows it already has. Appending rewrites the file through a temporary file and
os.replace: a crash leaves either the old or the new file, never half a row.
"""
from __future__ import annotations

import datetime as _dt
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

REPO_ROOT = Path(__file__).resolve().parent.parent


def results_root() -> Path:
    """results/ of the repository, or $STADE_RESULTS_DIR (tests run whole scales into a temporary folder); the
    experiments, the theory checks and run_all.sh all write below it."""
    return Path(os.environ.get("STADE_RESULTS_DIR") or REPO_ROOT / "results")


VERSIONED = ("torch", "transformers", "datasets", "accelerate", "lm_eval", "numpy")


def run_key(fields: dict[str, Any]) -> str:
    """Stable hash of the run-defining fields."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "HEAD") or None
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None}


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
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def provenance() -> dict[str, Any]:
    return {"git": git_commit(), "versions": versions(), "machine": machine(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def read_rows(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def done_keys(path: str | os.PathLike) -> set[str]:
    return {row["key"] for row in read_rows(path) if "key" in row}


def append_rows(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append complete rows atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    new = "".join(json.dumps(row, sort_keys=True, default=str) + "\n" for row in rows)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(old + new)
    os.replace(tmp, path)


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
