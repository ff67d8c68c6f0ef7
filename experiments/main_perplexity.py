"""Perplexity of every method at 50% unstructured, 4:8 and 2:4 sparsity.

Reproduces the shape of the STADE paper's main perplexity table (Table 2: LLaMA-7B at 50%, 4:8, 2:4; Wanda,
magnitude, STADE, STADE-W) and the Wanda paper's Table 3 (dense, magnitude, SparseGPT, Wanda at the same patterns),
with the STADE ablations beside them (compensation on/off, every layer vs the layer split, STADE*).
  scientific: method, pattern.   nuisance: calibration draw (seed 0).   fixed: calibration source and size,
  evaluation corpus and window length (see experiments/common.py for each scale).
  python experiments/main_perplexity.py --scale default      # embedded SmolLM2, ~1 h on 2 CPU cores
  python experiments/main_perplexity.py --scale paper --online --model huggyllama/llama-7b
"""
from __future__ import annotations

from common import base_config, models_for, parser, print_table, run_grid, with_method

NAME = "main_perplexity"
METHODS = {
    "tiny": ["dense", "magnitude", "wanda", "stade", "sparsegpt"],
    "full": ["dense", "magnitude", "wanda", "sparsegpt", "stade", "stade_nocomp", "stade_all", "stade_all_nocomp",
             "stade_star"],
}
METHODS["default"] = METHODS["paper"] = METHODS["full"]
# 4:8 sits between unstructured and 2:4 in every table; the default scale leaves it to the full scale
PATTERNS = {"tiny": ["unstructured"], "default": ["unstructured", "2:4"], "full": ["unstructured", "2:4", "4:8"],
            "paper": ["unstructured", "2:4", "4:8"]}
PAPER_MODELS = ["huggyllama/llama-7b", "meta-llama/Llama-2-7b-hf", "facebook/opt-125m", "Qwen/Qwen3-1.7B"]


def grid(args):
    """Pattern-major order, so an interrupted run has every method at 50% before any N:M row."""
    configs = []
    for model in models_for(args, PAPER_MODELS):
        base = base_config(args, model=model, paper_zero_shot=True)
        configs.append(with_method(base, "dense"))
        for pattern in PATTERNS[args.scale]:
            configs += [with_method(base, m, pattern) for m in METHODS[args.scale] if m != "dense"]
    return configs


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args))
    if rows:
        columns = ["dense"] + [("50%" if p == "unstructured" else p) for p in PATTERNS[args.scale]]
        print_table(rows, columns)


if __name__ == "__main__":
    main()
