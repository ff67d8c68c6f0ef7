"""Shared machinery of the theory checks: synthetic linear rows, the closed-form error of a mask, the exhaustive
optimum, the masks each metric picks (through the real scorers in methods/), and a Monte-Carlo check.

Notation (theory/README.md): one output row y = w.x + b with d inputs, x ~ (mu, Sigma). Pruning the set P
changes y by -e with e = sum_{j in P} w_j x_j, so
  E[e^2] = w_P^T Sigma_PP w_P + (w_P . mu_P)^2          without a bias update,
  E[(e - E e)^2] = w_P^T Sigma_PP w_P                     with the compensation b += w_P . mu_P.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from methods import METHODS  # noqa: E402
from methods.masks import row_mask  # noqa: E402
from methods.results import append_rows, provenance, results_root  # noqa: E402
from methods.stats import LayerStats  # noqa: E402

# metric -> (registered method, whether its rule compensates the bias)
METRICS = {"magnitude": ("magnitude", False), "wanda": ("wanda", False), "stade": ("stade_all", True),
           "stade_nocomp": ("stade_all_nocomp", False), "stade_star": ("stade_star", False)}


@dataclass
class Row:
    """One synthetic output row and its input distribution."""

    w: np.ndarray       # [d]
    mu: np.ndarray      # [d]
    sigma: np.ndarray   # [d, d] covariance
    tail_dof: float | None = None  # Student-t degrees of freedom (None = Gaussian)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        d = len(self.w)
        z = rng.standard_normal((n, d))
        if self.tail_dof is not None:  # multivariate t with the same covariance
            chi = rng.chisquare(self.tail_dof, size=(n, 1)) / self.tail_dof
            z = z / np.sqrt(chi) * np.sqrt((self.tail_dof - 2) / self.tail_dof)
        return self.mu + z @ np.linalg.cholesky(self.sigma).T


def make_row(rng: np.random.Generator, d: int = 12, mean_scale: float = 0.0, correlation: float = 0.0,
             equal_second_moment: bool = False, tail_dof: float | None = None) -> Row:
    """Weights ~ N(0,1); per-input std ~ U(0.2, 2); means ~ mean_scale * N(0,1); correlation mixes a random
    low-rank factor into the covariance (0 = independent inputs)."""
    w = rng.standard_normal(d)
    std = rng.uniform(0.2, 2.0, d)
    mu = mean_scale * rng.standard_normal(d)
    if equal_second_moment:  # E[x_j^2] = 1 for all j, zero mean
        std, mu = np.ones(d), np.zeros(d)
    sigma = np.diag(std**2)
    if correlation:
        f = rng.standard_normal((d, 2))
        cov = f @ f.T
        scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
        sigma = (1 - correlation) * sigma + correlation * (cov / scale) * np.outer(std, std)
    return Row(w, mu, sigma, tail_dof)


def mask_errors(row: Row, masks: np.ndarray, compensated: bool) -> np.ndarray:
    """Closed-form E[e^2] for each boolean mask in masks [n, d] (True = pruned)."""
    wm = masks * row.w  # [n, d]
    var = np.einsum("nd,de,ne->n", wm, row.sigma, wm)
    return var if compensated else var + (wm @ row.mu) ** 2


def all_masks(d: int, k: int) -> np.ndarray:
    """Every mask pruning exactly k of d inputs, [C(d,k), d]."""
    combos = np.array(list(itertools.combinations(range(d), k)))
    masks = np.zeros((len(combos), d), dtype=bool)
    masks[np.arange(len(combos))[:, None], combos] = True
    return masks


def population_stats(row: Row, count: int = 10**9) -> LayerStats:
    """LayerStats holding the exact moments of the distribution (so masks reflect the theory, not noise)."""
    stats = LayerStats(len(row.w))
    stats.count = count
    stats.mean = torch.tensor(row.mu, dtype=torch.float64)
    stats.m2 = torch.tensor(np.diag(row.sigma) * (count - 1), dtype=torch.float64)
    return stats


def sampled_stats(row: Row, n: int, rng: np.random.Generator) -> LayerStats:
    stats = LayerStats(len(row.w))
    stats.update(torch.tensor(row.sample(n, rng), dtype=torch.float64))
    return stats


def metric_mask(metric: str, row: Row, stats: LayerStats, k: int) -> np.ndarray:
    """The mask the registered method picks for this row (pruning k of d)."""
    method = METHODS[METRICS[metric][0]]
    weight = torch.tensor(row.w[None, :], dtype=torch.float64)
    score = method.score(weight, stats)
    return row_mask(score, k / len(row.w)).numpy()[0]


def monte_carlo(row: Row, mask: np.ndarray, compensated: bool, n: int, rng: np.random.Generator,
                chunk: int = 100_000) -> tuple[float, float]:
    """Empirical E[e^2] (after the bias update if compensated) and its standard error."""
    values = []
    for start in range(0, n, chunk):
        x = row.sample(min(chunk, n - start), rng)
        e = x[:, mask] @ row.w[mask]
        if compensated:
            e = e - row.w[mask] @ row.mu[mask]
        values.append(e**2)
    v = np.concatenate(values)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))


def evaluate_trial(row: Row, k: int, stats: LayerStats | None = None) -> dict:
    """Exhaustive optimum under both objectives and each metric's excess error under its own rule."""
    masks = all_masks(len(row.w), k)
    optimum = {comp: float(mask_errors(row, masks, comp).min()) for comp in (False, True)}
    stats = stats or population_stats(row)
    out = {"opt_comp": optimum[True], "opt_nocomp": optimum[False], "metrics": {}}
    best = {comp: masks[int(np.argmin(mask_errors(row, masks, comp)))] for comp in (False, True)}
    for metric, (_, comp) in METRICS.items():
        mask = metric_mask(metric, row, stats, k)
        err = float(mask_errors(row, mask[None], comp)[0])
        # the theory's decomposition: a metric that minimises the diagonal part loses at most the cross-term gap
        gap = float(cross_terms(row, mask[None], comp)[0] - cross_terms(row, best[comp][None], comp)[0])
        out["metrics"][metric] = {"error": err, "optimal": bool(err <= optimum[comp] * (1 + 1e-9) + 1e-15),
                                  "excess_own": err / optimum[comp] - 1,
                                  "excess_vs_best": err / optimum[True] - 1,
                                  "within_cross_term_bound": bool(err - optimum[comp] <= gap + 1e-9 * optimum[comp])}
    return out


def summarise(trials: list[dict]) -> dict:
    """Share of trials in which each metric is optimal under its own rule, and its mean excess errors."""
    summary = {}
    for metric in METRICS:
        vals = [t["metrics"][metric] for t in trials]
        summary[metric] = {"optimal_share": float(np.mean([v["optimal"] for v in vals])),
                           "cross_term_bound_share": float(np.mean([v["within_cross_term_bound"] for v in vals])),
                           "mean_excess_own": float(np.mean([v["excess_own"] for v in vals])),
                           "mean_excess_vs_best": float(np.mean([v["excess_vs_best"] for v in vals]))}
    return summary


def write_result(name: str, rows: list[dict], out_dir: Path | None = None) -> Path:
    """Replace results/theory_<name>.jsonl with these rows (theory checks are cheap and deterministic)."""
    path = (out_dir or results_root()) / f"theory_{name}.jsonl"
    if path.exists():
        path.unlink()
    meta = provenance()
    append_rows(path, [{**r, "check": name, "provenance": meta} for r in rows])
    return path


def print_verdicts(title: str, scenarios: dict[str, dict]) -> None:
    print(f"\n{title}")
    print(f"{'scenario':32s} " + " ".join(f"{m:>14s}" for m in METRICS))
    for name, summary in scenarios.items():
        cells = [f"{summary[m]['optimal_share']:>8.0%} ({summary[m]['mean_excess_own']:.2f})" for m in METRICS]
        print(f"{name:32s} " + " ".join(f"{c:>14s}" for c in cells))
    print("cells: share of trials whose mask is the exhaustive optimum under the metric's own bias rule "
          "(mean relative excess error)")


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)


def cross_terms(row: Row, masks: np.ndarray, compensated: bool) -> np.ndarray:
    """The part of E[e^2] a per-weight score cannot see: the off-diagonal terms sum_{i != j in P} w_i w_j M_ij, with
    M = Sigma (compensated) or Sigma + mu mu^T (no bias update). E[e^2] = diagonal part + this."""
    M = row.sigma if compensated else row.sigma + np.outer(row.mu, row.mu)
    off = M - np.diag(np.diag(M))
    wm = masks * row.w
    return np.einsum("nd,de,ne->n", wm, off, wm)


def run_scenarios(check: str, scenarios: dict[str, dict], trials: int, d: int, seed: int,
                  out_dir: Path | None = None, n_samples: int | None = None,
                  k: int | None = None) -> dict[str, dict]:
    """Run `trials` random rows per scenario (make_row kwargs), k (default half) of the inputs pruned; write and print
    verdicts. n_samples: estimate the statistics from that many samples instead of using the exact moments."""
    summaries, rows = {}, []
    for name, kwargs in scenarios.items():
        rng = np.random.default_rng(seed)
        results = []
        for _ in range(trials):
            row = make_row(rng, d=d, **kwargs)
            stats = sampled_stats(row, n_samples, rng) if n_samples else None
            results.append(evaluate_trial(row, k or d // 2, stats))
        summaries[name] = summarise(results)
        rows.append({"scenario": name, "params": kwargs, "trials": trials, "d": d, "seed": seed, "k": k or d // 2,
                     "n_samples": n_samples, "summary": summaries[name]})
    write_result(check, rows, out_dir)
    print_verdicts(check, summaries)
    return summaries


class ScaledParser(argparse.ArgumentParser):
    """A theory check's command line with --scale: the options left unset are filled from the scale's preset
    (explicit options win). Every preset's out_dir is None (results/) except tiny's (results/tiny)."""

    def __init__(self, description: str, presets: dict[str, dict]):
        super().__init__(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
        self.presets = presets
        self.add_argument("--scale", choices=sorted(presets), default="default",
                          help="tiny: the smallest check, into results/tiny (run_all.sh --scale tiny); "
                               "paper = default")
        self.add_argument("--out-dir", type=Path, default=None,
                          help="where theory_<name>.jsonl goes (default results/)")

    def parse_args(self, *args, **kwargs):
        ns = super().parse_args(*args, **kwargs)
        for name, value in self.presets[ns.scale].items():
            if getattr(ns, name) is None:
                setattr(ns, name, value)
        if ns.scale == "tiny" and ns.out_dir is None:
            ns.out_dir = results_root() / "tiny"
        return ns


SCALE_PRESETS = {"tiny": dict(trials=10, d=10), "default": dict(trials=200, d=12), "paper": dict(trials=200, d=12)}


def cli(description: str) -> argparse.ArgumentParser:
    p = ScaledParser(description, SCALE_PRESETS)
    p.add_argument("--trials", type=int, default=None, help="random rows per scenario (default 200; tiny 10)")
    p.add_argument("--d", type=int, default=None, help="inputs per row (exhaustive search over C(d, d/2) masks; "
                                                       "default 12, tiny 10)")
    p.add_argument("--seed", type=int, default=0)
    return p
