"""The cross-over: as the input means grow relative to their spread (|mu|/sigma from 0 to 3), the excess error
of each metric over the best achievable error (the compensated optimum). Wanda is optimal at 0 and degrades;
STADE with compensation stays optimal. Writes the curve for analysis/ to plot."""
from __future__ import annotations

import numpy as np

from synthetic import METRICS, cli, evaluate_trial, make_row, write_result

MEAN_SCALES = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]


def run(trials: int = 100, d: int = 12, seed: int = 0, out_dir=None) -> list[dict]:
    rows = []
    for scale in MEAN_SCALES:
        rng = np.random.default_rng(seed)
        results = [evaluate_trial(make_row(rng, d=d, mean_scale=scale), d // 2) for _ in range(trials)]
        row = {"mean_scale": scale, "trials": trials, "d": d, "seed": seed}
        for m in METRICS:
            row[m] = {"mean_excess_vs_best": float(np.mean([r["metrics"][m]["excess_vs_best"] for r in results])),
                      "optimal_share": float(np.mean([r["metrics"][m]["optimal"] for r in results]))}
        rows.append(row)
        print(f"|mu|/sigma scale {scale:4.2f}: " + ", ".join(
            f"{m} +{row[m]['mean_excess_vs_best']:.1%}" for m in METRICS))
    write_result("crossover", rows, out_dir)
    return rows


if __name__ == "__main__":
    args = cli(__doc__).parse_args()
    run(min(args.trials, 100), args.d, args.seed, args.out_dir)
