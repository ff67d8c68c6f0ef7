"""Where the theory's assumptions fail, no per-weight metric is guaranteed optimal, but the theory still bounds the
loss. With correlated inputs E[e^2] = (diagonal part) + (cross terms w_i w_j M_ij); STADE's (Wanda's) score minimises
the diagonal part under compensation (without it), so its excess over the exhaustive optimum can be at most the
difference of the cross terms between its mask and the optimal one. Prediction (exact, 100% of rows): that bound
holds for both; a metric that did not minimise the diagonal part, or a wrong decomposition, breaks it. Also:
statistics estimated from few calibration samples (16 vs 4096 tokens) instead of the exact moments (reported)."""
from __future__ import annotations

from synthetic import cli, run_scenarios

CORRELATED = {"correlated_zero_mean": dict(mean_scale=0.0, correlation=0.6),
              "correlated_nonzero_mean": dict(mean_scale=1.0, correlation=0.6)}
SAMPLED = {"independent_nonzero_mean": dict(mean_scale=1.0)}


def run(trials: int = 200, d: int = 12, seed: int = 0, out_dir=None) -> dict:
    out = run_scenarios("correlated", CORRELATED, trials, d, seed, out_dir)
    for n in (16, 4096):
        summary = run_scenarios(f"sampled_{n}", SAMPLED, trials, d, seed, out_dir, n_samples=n)
        out.update({f"{k}_{n}_samples": v for k, v in summary.items()})
    return out


if __name__ == "__main__":
    args = cli(__doc__).parse_args()
    run(args.trials, args.d, args.seed, args.out_dir)
