"""The Wanda paper's weight-update ablation (Sun et al. 2023, Sec. 5): does re-fitting the kept weights add much?

For magnitude's and Wanda's masks, perplexity without and with a least-squares update of the kept weights
(`*_lsq`: per output row, v_K = argmin ||X_K v - X w||², methods/lsq.py), beside SparseGPT, whose OBS sweep
updates weights while it chooses the mask. At 50% unstructured, 4:8 and 2:4.
The paper's finding: the update helps magnitude's mask a lot and Wanda's mask little (Wanda's mask already
captures most of what a reconstruction recovers), most visibly under N:M.
  scientific: metric, weight update, pattern.   nuisance: calibration draw (seed 0).
Rows without update are main_perplexity's (reused, not rerun).
  python experiments/wanda_weight_update.py --scale default      # 6 new runs, ~25 min on 2 CPU cores
"""
from __future__ import annotations

from common import model_bases, parser, print_table, run_grid, with_method

NAME = "wanda_weight_update"
METHODS = {"tiny": ["wanda", "wanda_lsq", "sparsegpt"],
           "full": ["magnitude", "magnitude_lsq", "wanda", "wanda_lsq", "sparsegpt"]}
METHODS["default"] = METHODS["paper"] = METHODS["full"]
PATTERNS = {"tiny": ["unstructured"], "default": ["unstructured"], "full": ["unstructured", "4:8", "2:4"]}
PATTERNS["paper"] = PATTERNS["full"]
PAPER_MODELS = ["huggyllama/llama-7b"]


def grid(args):
    configs = []
    for base in model_bases(args, PAPER_MODELS):
        configs.append(with_method(base, "dense"))
        for pattern in PATTERNS[args.scale]:
            configs += [with_method(base, m, pattern) for m in METHODS[args.scale]]
    return configs


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args), reuse_from=["main_perplexity"])
    if rows:
        print_table(rows, ["dense"] + [("50%" if p == "unstructured" else p) for p in PATTERNS[args.scale]])


if __name__ == "__main__":
    main()
