"""Intervals for the claims: a bootstrap over evaluation windows (or zero-shot items) and calibration seeds.

A cell is a set of result rows that differ only in the calibration seed (or the training seed). Each row keeps the
mean NLL of every evaluation window (`ppl_windows`), and every row of one experiment is evaluated on the same
windows, so two cells are compared *paired*: window w of method A against window w of method B. A cell's value in
one bootstrap replicate is its log-perplexity on resampled windows, averaged over resampled seeds:
    lp_c* = mean_{s in S*} mean_{w in W*} nll_c[s, w]
with the same window draw W* for every cell of a claim (pairing) and the same seed draw S* for cells that have the
same seeds (the same calibration samples). A claim's statistic (a log ratio, a difference of log ratios, a spread) is
computed on every replicate; its 95% interval is the 2.5 and 97.5 percentiles. With one seed the interval reflects
only the evaluation windows, and says so (`seeds`). Zero-shot cells resample items within each task, jointly across
models, and a cell's value is its mean accuracy over tasks, in points. Everything is seeded: the analysis is
reproducible to the digit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

REPLICATES = 4000
LEVEL = 0.95


@dataclass
class Cell:
    """Rows of one configuration: nll[seed, window] (or correctness[seed, item]) and the seed ids."""

    label: str
    values: np.ndarray  # [n_seeds, n_units]
    seeds: tuple
    groups: Optional[list] = None  # zero-shot: unit index ranges of each task (mean over tasks)

    @property
    def point(self) -> float:
        return float(_cell_value(self.values[None], self.groups)[0].mean())


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    seeds: int
    units: int

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "seeds": self.seeds,
                "units": self.units}


def _cell_value(values: np.ndarray, groups: Optional[list]) -> np.ndarray:
    """values [B, n_seeds, n_units] -> [B, n_seeds]: mean over units (over tasks of the per-task means)."""
    if not groups:
        return values.mean(axis=-1)
    return np.mean([values[..., a:b].mean(axis=-1) for a, b in groups], axis=0)


def window_nll(row: dict, corpus: Optional[str] = None) -> np.ndarray:
    """The per-window mean NLLs of a perplexity row (KeyError if the row predates per-window records)."""
    windows = row["ppl_windows"]
    corpus = corpus or next(iter(windows))
    return np.asarray(windows[corpus]["nll"], dtype=np.float64)


def item_scores(row: dict, metric: str = "acc") -> tuple[np.ndarray, list]:
    """Per-item correctness of a zero-shot row, tasks concatenated in name order, and each task's index range."""
    values, groups, start = [], [], 0
    for task in sorted(row["zero_shot"]["tasks"]):
        items = row["zero_shot"]["tasks"][task]["items"]
        scores = np.asarray(items[metric], dtype=np.float64) * 100.0
        values.append(scores)
        groups.append((start, start + len(scores)))
        start += len(scores)
    return np.concatenate(values), groups


def make_cell(label: str, rows: list[dict], kind: str = "ppl") -> Optional[Cell]:
    """A cell from its rows, one per seed; None when there are none or a seed has no row with per-unit records. A
    row re-run with records supersedes an older row of the same configuration and seed that has none (issue 21's
    re-runs)."""
    by_seed: dict[tuple, tuple] = {}
    for row in rows:
        seed = seed_of(row)
        if by_seed.get(seed) is None:
            by_seed[seed] = _records(row, kind)
    if not by_seed or any(r is None for r in by_seed.values()):
        return None
    seeds = sorted(by_seed)
    values = [by_seed[s][0] for s in seeds]
    if len({len(v) for v in values}) != 1:
        raise ValueError(f"cell {label}: rows were evaluated on different numbers of windows/items")
    return Cell(label, np.stack(values), tuple(seeds), by_seed[seeds[0]][1])


def _records(row: dict, kind: str) -> Optional[tuple[np.ndarray, Optional[list]]]:
    """(per-window NLLs, None) of a perplexity row or (per-item scores, task ranges) of a zero-shot row; None for a
    row that predates those records."""
    try:
        values, groups = (window_nll(row), None) if kind == "ppl" else item_scores(row)
    except (KeyError, TypeError):
        return None
    return (values, groups) if values.size else None


def units_of(row: dict, kind: str = "ppl") -> Optional[int]:
    """How many windows (zero-shot items) a row's records cover; None for a row without records."""
    records = _records(row, kind)
    return None if records is None else int(records[0].size)


def seed_of(row: dict) -> tuple:
    """What distinguishes repeated rows of one configuration: the calibration seed and, for models trained from
    scratch, the training seed."""
    calibration = row.get("calibration") or {}
    return (calibration.get("seed", 0), row.get("train_seed", 0))


def bootstrap(cells: dict[str, Cell], statistic: Callable[[dict[str, np.ndarray]], np.ndarray],
              replicates: int = REPLICATES, seed: int = 0) -> Interval:
    """The statistic's point estimate and percentile interval; statistic maps {cell name: values [B]} -> [B]."""
    names = list(cells)
    units = {cells[n].values.shape[1] for n in names}
    if len(units) != 1:
        raise ValueError(f"cells {names} were evaluated on different windows/items: {sorted(units)}")
    n_units = units.pop()
    rng = np.random.default_rng(seed)
    groups = cells[names[0]].groups
    if groups:  # zero-shot: items are resampled within their task, the same draw for every model
        unit_draw = np.concatenate([rng.integers(a, b, size=(replicates, b - a)) for a, b in groups], axis=1)
    else:
        unit_draw = rng.integers(0, n_units, size=(replicates, n_units))
    seed_draws: dict[tuple, np.ndarray] = {}
    resampled = {}
    for name in names:
        cell = cells[name]
        n_seeds = len(cell.seeds)
        if cell.seeds not in seed_draws:
            seed_draws[cell.seeds] = rng.integers(0, n_seeds, size=(replicates, n_seeds))
        draw = seed_draws[cell.seeds]
        per_seed = _resample_units(cell, unit_draw)  # [B, n_seeds]
        resampled[name] = np.take_along_axis(per_seed, draw, axis=1).mean(axis=1)
    point = float(statistic({n: np.array([cells[n].point]) for n in names})[0])
    values = statistic(resampled)
    alpha = (1 - LEVEL) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return Interval(point, float(low), float(high), min(len(c.seeds) for c in cells.values()), n_units)


def _resample_units(cell: Cell, unit_draw: np.ndarray) -> np.ndarray:
    """[B, n_seeds]: each seed's value on each replicate's resampled windows/items (groups: per task)."""
    if not cell.groups:
        return cell.values[:, unit_draw].mean(axis=-1).T
    out = np.zeros((unit_draw.shape[0], cell.values.shape[0]))
    for a, b in cell.groups:  # the draw's columns a:b hold indices within task [a, b)
        out += cell.values[:, unit_draw[:, a:b]].mean(axis=-1).T
    return out / len(cell.groups)


def verdict(interval: Interval, threshold: float, sense: str) -> str:
    """holds / does not hold / inconclusive: sense "<" means the claim is statistic < threshold (with confidence:
    the whole interval below it); ">" the opposite."""
    low, high = (interval.low, interval.high) if sense == "<" else (-interval.high, -interval.low)
    t = threshold if sense == "<" else -threshold
    if high < t:
        return "holds"
    if low > t:
        return "does not hold"
    return "inconclusive"


def pct(log_ratio: float) -> str:
    """A log ratio as a signed percentage change (exp - 1)."""
    return f"{100 * (math.exp(log_ratio) - 1):+.1f}%"
