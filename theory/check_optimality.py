"""P2-P5: which metric's mask is the exhaustive optimum (over all C(d, d/2) masks of a row), under its own bias
rule, in the settings where the theory says it should be:
  P2 stade (W^2 Var + compensation) is optimal for independent inputs, whatever their means;
  P3 without compensation the optimum is not Wanda's mask in general once the means are non-zero;
  P4 with zero-mean independent inputs Wanda (no compensation) is optimal, and STADE's mask equals it;
  P5 with zero-mean inputs of equal second moment magnitude is optimal.
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


def run(trials: int = 200, d: int = 12, seed: int = 0, out_dir=None) -> dict:
    return run_scenarios("optimality", SCENARIOS, trials, d, seed, out_dir)


if __name__ == "__main__":
    args = cli(__doc__).parse_args()
    run(args.trials, args.d, args.seed, args.out_dir)
