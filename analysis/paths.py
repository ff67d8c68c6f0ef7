"""Where the analysis of a scale reads its results and writes its tables and figures.

STADE_ANALYSIS_SCALE=full (run_all.sh --scale full) reads results/full/ and writes figures/full/; the default reads
results/ and writes figures/ and the README's generated blocks. Theory results are scale-free: always results/.
$STADE_RESULTS_DIR moves results/ (as for the experiments).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALE_DIRS = {"default": "", "full": "full"}  # as experiments/common.py


def scale() -> str:
    name = os.environ.get("STADE_ANALYSIS_SCALE", "default")
    if name not in SCALE_DIRS:
        raise ValueError(f"STADE_ANALYSIS_SCALE must be one of {sorted(SCALE_DIRS)}, got {name!r}")
    return name


def results_root() -> Path:
    """As methods.results.results_root, restated so that the analysis never imports torch (methods/ does)."""
    return Path(os.environ.get("STADE_RESULTS_DIR") or ROOT / "results")


def results_dir(name: str = "") -> Path:
    """Where the scale's rows are; theory_* files are the same at every scale and live in results/ itself."""
    return results_root() if name.startswith("theory_") else results_root() / SCALE_DIRS[scale()]


def figures_dir() -> Path:
    """figures/[full/], or $STADE_FIGURES_DIR (a test regenerates figures into a temporary folder)."""
    return Path(os.environ.get("STADE_FIGURES_DIR") or ROOT / "figures") / SCALE_DIRS[scale()]


def shown(path: Path) -> str:
    """A path as printed: relative to the repository when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def read_results(name: str) -> list[dict]:
    """Rows of the scale's <name>.jsonl ([] when the experiment has not run yet)."""
    return read_jsonl(results_dir(name) / f"{name}.jsonl")
