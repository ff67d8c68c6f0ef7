"""The Wanda paper's comparison-group ablation (Sun et al. 2023, Sec. 5): where are scores compared?

Magnitude |W| and Wanda's |W|·||X||_2 at 50% unstructured, each with three comparison groups: per output row
(Wanda's choice; `magnitude`, `wanda`), per input column (`*_column`) and per whole layer (`*_layer`, the official
magnitude baseline). The paper's finding: for LLMs the per-output group is better, for both metrics.
Every variant prunes exactly floor(s * group size) weights in each of its groups (tests/test_masks.py).
Within one input column Wanda's factor ||X_j||_2 is a constant, so `wanda_column` ranks, masks and scores exactly
like `magnitude_column`: the activation term can only matter when different inputs are compared.
  scientific: metric, comparison group.   nuisance: calibration draw (seed 0).   fixed: 50% unstructured.
The per-output rows are the ones of main_perplexity (reused, not rerun).
  python experiments/wanda_comparison_group.py --scale default      # 4 new runs, ~15 min on 2 CPU cores
"""
from __future__ import annotations

from common import model_bases, parser, run_grid, with_method

NAME = "wanda_comparison_group"
METRICS = ("magnitude", "wanda")
GROUPS = {"row": "", "column": "_column", "layer": "_layer"}  # group -> method-name suffix
PAPER_MODELS = ["huggyllama/llama-7b"]


def grid(args):
    configs = []
    for base in model_bases(args, PAPER_MODELS):
        configs.append(with_method(base, "dense"))
        configs += [with_method(base, metric + suffix) for metric in METRICS for suffix in GROUPS.values()]
    return configs


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args), reuse_from=["main_perplexity"])
    if rows:
        ppl = {r["method"]: next(iter(r["ppl"].values())) for r in rows}
        print("| metric | " + " | ".join(f"per {g}" for g in GROUPS) + " |\n|---|---|---|---|")
        for metric in METRICS:
            print(f"| {metric} | " + " | ".join(f"{ppl.get(metric + s, float('nan')):.2f}" for s in GROUPS.values())
                  + " |")


if __name__ == "__main__":
    main()
