"""Benchmark: one `bash run_all.sh` from a fresh clone with an empty results folder, against the committed rows.

Clones this repository's HEAD (committed files only) into a temporary folder, empties its default-scale results
(results/*.jsonl and the stage times; results/full/ stays, since the claims table reads its full-scale columns),
runs `bash run_all.sh` there and measures its wall time, then compares every row it wrote with the committed row of
the same run (the run key; for rows without one, their non-float fields):
  digits of a row = the smallest number of significant digits on which the two rows agree over every float they
  both hold once timings, memory, dates and machine are left out (methods.results.stable_view): perplexities,
  per-window NLLs, zero-shot accuracies, allocations, theory statistics. 16 = the same doubles.
It also checks that the clone's regenerated README claims block equals the committed one. Rows go to
results/fresh_clone.jsonl (one per results file, one summary), and the clone's stage times replace
results/run_all_times_default.json (the README's timing table), since they are one uninterrupted run.
An optional benchmark of about two hours: `bash run_all.sh --only fresh_clone`.
  python experiments/fresh_clone.py [--keep] [--clone-dir DIR] [--compare-only DIR]
"""
from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, output_path, parse_args, parser
from reproducibility import digits

NAME = "fresh_clone"
BENCHMARKS = ("pruning_cost", "peer_benchmark", "reproducibility", NAME)  # measurements of time, not results
TIMES = "run_all_times_default.json"


def _floats(value, path: str = "") -> dict[str, float]:
    """Every float leaf of a row, by its path (ints and strings identify a row; they are compared as identity)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _floats(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _floats(item, f"{path}[{i}]").items()}
    return {path: value} if isinstance(value, float) else {}


def _identity(row: dict) -> str:
    """The run key, or for rows without one (theory checks, corpus statistics) their stable fields that are not
    floats (provenance, dates and timings left out, as in row_digits)."""
    from methods.results import stable_view

    if "key" in row:
        return row["key"]

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not isinstance(v, float)}
        if isinstance(value, list):
            return [strip(v) for v in value if not isinstance(v, float)]
        return value
    return json.dumps(strip(stable_view(row)), sort_keys=True)


def row_digits(old: dict, new: dict) -> int:
    """Significant digits on which two rows of the same run agree: the minimum over the floats both hold."""
    from methods.results import stable_view

    a, b = _floats(stable_view(old)), _floats(stable_view(new))
    if set(a) != set(b):
        return 0  # a row with other fields (a list of another length, another corpus) reproduces nothing
    return min((_float_digits(a[k], b[k]) for k in a), default=16)


def _float_digits(a: float, b: float) -> int:
    if math.isnan(a) or math.isnan(b):  # both NaN: the same outcome (a diverged run stays diverged)
        return 16 if math.isnan(a) and math.isnan(b) else 0
    if math.isinf(a) or math.isinf(b) or a == 0.0:
        return 16 if a == b else 0
    return digits(a, b)


def compare_file(committed: list[dict], fresh: list[dict]) -> dict:
    """Pair the rows of one results file by identity (in order when several share one) and count their digits,
    overall and per CPU model the committed rows were computed on (their provenance names it)."""
    pending: dict[str, list[dict]] = {}
    for row in fresh:
        pending.setdefault(_identity(row), []).append(row)
    found: dict[str, list[int]] = {}
    missing = 0
    for row in committed:
        match = pending.get(_identity(row))
        if match:
            cpu = ((row.get("provenance") or {}).get("machine") or {}).get("cpu") or "?"
            found.setdefault(cpu, []).append(row_digits(row, match.pop(0)))
        else:
            missing += 1
    every = [d for ds in found.values() for d in ds]
    return {"rows_committed": len(committed), "rows_fresh": len(fresh), "only_committed": missing,
            "only_fresh": sum(len(v) for v in pending.values()), **_digit_summary(every),
            "by_committed_cpu": {cpu: _digit_summary(ds) for cpu, ds in found.items()}}


def _digit_summary(found: list[int]) -> dict:
    return {"compared": len(found), "digits_min": min(found) if found else None,
            "digits_median": statistics.median(found) if found else None,
            "below_4_digits": sum(d < 4 for d in found)}


def changed_claims(old: str, new: str, column: str | None = None) -> list[str]:
    """The claims (paper: claim) whose line, or whose cell under the first header named `column` (the default
    scale's "verdict"), differ between two claims blocks."""
    def table(block: str) -> tuple[list[str], dict[str, list[str]]]:
        header, *rows = [line.strip("|").split(" | ") for line in block.splitlines() if line.startswith("| ")]
        return [h.strip() for h in header], {f"{r[0].strip()}: {r[1]}": r for r in rows if len(r) > 4}
    header, a = table(old)
    b = table(new)[1]
    pick = (lambda r: r) if column is None else (lambda r: r[header.index(column)])
    return [claim for claim in a if claim not in b or pick(a[claim]) != pick(b[claim])]


def adopt(fresh_dir: Path, results_dir: Path) -> None:
    """Make the fresh run's rows the committed default-scale results (benchmarks of time excepted), so that every
    row has the provenance of one run from a clean checkout."""
    for path in sorted(fresh_dir.glob("*.jsonl")):
        if path.stem not in BENCHMARKS:
            shutil.copyfile(path, results_dir / path.name)
            print(f"[{NAME}] adopted {path.name} from the fresh clone")


def claims_block(readme: Path) -> str:
    return _claims_of(readme.read_text())


def claims_block_at(repo: Path, commit: str) -> str:
    return _claims_of(_git("show", f"{commit}:README.md", cwd=repo))


def _claims_of(text: str) -> str:
    return text.split("<!-- BEGIN claims -->\n", 1)[1].split("<!-- END claims -->", 1)[0]


def compare(committed_dir: Path, fresh_dir: Path) -> list[dict]:
    """One row per default-scale results file of either folder (benchmarks of time are left out)."""
    from methods.results import read_rows

    names = sorted({p.stem for d in (committed_dir, fresh_dir) for p in d.glob("*.jsonl")} - set(BENCHMARKS))
    return [{"experiment": NAME, "file": f"{name}.jsonl",
             **compare_file(read_rows(committed_dir / f"{name}.jsonl"), read_rows(fresh_dir / f"{name}.jsonl"))}
            for name in names]


def measured_wall(out: Path, commit: str) -> float | None:
    """The wall time an earlier run of this script measured for a clone of `commit` (--compare-only recomputes the
    comparison of that clone, e.g. after a fix to it, and keeps the time its run took)."""
    from methods.results import read_rows

    return next((r["wall_s"] for r in reversed(read_rows(out)) if r.get("file") is None
                 and r.get("clone_commit") == commit and r.get("wall_s") is not None), None)


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def clone_and_run(clone: Path, scale: str) -> tuple[float, str]:
    """A fresh clone of HEAD with empty default-scale results, then its run_all.sh; returns the wall seconds and the
    claims block the clone's README had as committed (the run regenerates it)."""
    if _git("status", "--porcelain", "--untracked-files=no"):
        print(f"[{NAME}] warning: uncommitted changes are not in the clone (it is HEAD, {_git('rev-parse', 'HEAD')})")
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(clone)], check=True)
    for path in list((clone / "results").glob("*.jsonl")) + [clone / "results" / TIMES]:
        path.unlink(missing_ok=True)
    committed_claims = claims_block(clone / "README.md")
    start = time.monotonic()
    subprocess.run(["bash", "run_all.sh", "--scale", scale], cwd=clone, check=True)
    return time.monotonic() - start, committed_claims


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--clone-dir", default=None, help="where to clone (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the clone afterwards")
    p.add_argument("--compare-only", default=None, metavar="DIR",
                   help="compare with a clone that already ran (its folder), running nothing")
    p.add_argument("--adopt", action="store_true",
                   help="after comparing, copy the clone's default-scale rows over the committed ones")
    args = parse_args(p, argv)
    if args.scale != "default":
        sys.exit(f"error: {NAME} checks the default scale (the one run_all.sh reproduces in under two hours)")
    from methods.results import append_rows, provenance

    out = output_path(args, NAME)
    if args.dry_run:
        print(f"  todo one run_all.sh from a fresh clone of {_git('rev-parse', 'HEAD')} (about two hours)")
        return
    clone = Path(args.compare_only or args.clone_dir or tempfile.mkdtemp(prefix="stade-fresh-clone-")) / "repo"
    clone = clone.parent if args.compare_only else clone
    if args.compare_only:  # the clone's committed README is its HEAD's; its wall time, if this run measured it
        commit = _git("rev-parse", "HEAD", cwd=clone)
        wall, committed_claims = measured_wall(out, commit), claims_block_at(clone, "HEAD")
    else:
        wall, committed_claims = clone_and_run(clone, args.scale)
    rows = compare(out.parent, clone / "results")
    stages = json.loads((clone / "results" / TIMES).read_text())
    fresh_claims = claims_block(clone / "README.md")
    summary = {"experiment": NAME, "file": None, "wall_s": wall, "stage_seconds": stages["stages"],
               "clone_commit": _git("rev-parse", "HEAD", cwd=clone),
               "claims_block_identical": committed_claims == fresh_claims,
               "claims_changed": changed_claims(committed_claims, fresh_claims),
               "verdicts_changed": changed_claims(committed_claims, fresh_claims, column="verdict"),
               "provenance": provenance()}
    append_rows(out, rows + [summary])
    if wall is not None:  # one uninterrupted run: its stage times are the README's timing table
        shutil.copyfile(clone / "results" / TIMES, out.parent / TIMES)
    for row in rows:
        print(f"[{NAME}] {row['file']}: {row['compared']} rows compared, digits min {row['digits_min']}, "
              f"median {row['digits_median']}, {row['below_4_digits']} below 4; "
              f"{row['only_committed']} committed rows not produced")
    took = f"{wall / 60:.1f} min" if wall is not None else "not timed (--compare-only)"
    print(f"[{NAME}] run_all.sh from a fresh clone: {took}; claims whose line changed: "
          f"{summary['claims_changed'] or 'none'}; whose default-scale verdict changed: "
          f"{summary['verdicts_changed'] or 'none'}")
    if args.adopt:
        adopt(clone / "results", out.parent)
    if not (args.keep or args.compare_only or args.clone_dir):
        shutil.rmtree(clone.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
