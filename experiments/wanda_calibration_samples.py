"""Robustness to the number of calibration sequences (the Wanda paper, Sec. 5; experiments/specs.py: SAMPLES).

Wanda needs only per-channel norms, SparseGPT a full d x d Hessian per layer; the paper's finding is that Wanda is
robust down to a handful of sequences while SparseGPT degrades. Small counts are repeated over calibration draws
(seeds), since at one sequence the draw dominates.
  python experiments/wanda_calibration_samples.py --scale default
"""
from __future__ import annotations

from common import BY_NAME, parse_args, parser, run_grid


def main(argv=None):
    args = parse_args(parser(__doc__), argv)
    by_cell: dict[tuple[str, int], list[float]] = {}
    for r in run_grid(BY_NAME["wanda_calibration_samples"], args):
        if r["method"] != "dense":
            by_cell.setdefault((r["method"], r["calibration"]["nsamples"]), []).append(next(iter(r["ppl"].values())))
    for (method, n), values in sorted(by_cell.items()):
        print(f"{method:10s} n={n:4d}: " + ", ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
