"""P2-P5: which metric's mask is the exhaustive optimum (over all C(d, k) masks of a row), under its own bias rule,
in the settings where the theory says it should be. Each statement is a prediction a wrong theory or a wrong
implementation would miss:
  P2 stade (W^2 Var + compensation) is optimal for independent inputs, whatever their means (100% of rows);
  P3 Wanda is the single-weight optimum without compensation: pruning one weight per row (k = 1), its choice is the
     exhaustive optimum in 100% of rows even with non-zero means (for k = d/2 the cross terms make it optimal only
     sometimes: that share is reported, it is not a prediction);
  P4 with zero-mean independent inputs Wanda (no compensation) is optimal, and STADE's mask equals it (100%);
  P5 with zero-mean inputs of equal second moment magnitude is optimal (100%).
Heavy tails do not matter (the error depends on the first two moments only)."""
from __future__ import annotations

from synthetic import cli, run_scenarios

SCENARIOS = {
    "independent_zero_mean": dict(mean_scale=0.0),
    "independent_nonzero_mean": dict(mean_scale=1.0),
    "independent_zero_mean_heavy_tail": dict(mean_scale=0.0, tail_dof=9.0),
    "independent_nonzero_mean_heavy_tail": dict(mean_scale=1.0, tail_dof=9.0),
    "equal_second_moment": dict(equal_second_moment=True),
}
SINGLE_WEIGHT = {"single_weight_nonzero_mean": dict(mean_scale=1.0)}


def run(trials: int = 200, d: int = 12, seed: int = 0, out_dir=None) -> dict:
    summaries = run_scenarios("optimality", SCENARIOS, trials, d, seed, out_dir)
    summaries.update(run_scenarios("optimality_single", SINGLE_WEIGHT, trials, d, seed, out_dir, k=1))
    return summaries


if __name__ == "__main__":
    args = cli(__doc__).parse_args()
    run(args.trials, args.d, args.seed, args.out_dir)
