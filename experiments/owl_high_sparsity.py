"""OWL's headline table: perplexity at 60/70/80% unstructured sparsity, uniform vs OWL layer-wise sparsity.

Reproduces the shape of OWL (Yin et al. 2024) Table 3 (WikiText-2 perplexity of magnitude, Wanda and SparseGPT,
each uniform vs OWL, LLaMA-7B..65B and OPT-6.7B at 70%; the OWL README's table) and adds what no seed repo runs:
STADE uniform vs STADE + OWL.
  scientific: scorer x allocator (uniform | owl), sparsity.   nuisance: calibration draw (seed 0).
  fixed: OWL M = 5, lambda = 0.08 (the README's commands), calibration and evaluation as in experiments/common.py.
Grid order is sparsity-major with 70% first, so an interrupted run has the headline column first.
  python experiments/owl_high_sparsity.py --scale default     # ~1.5 h on 2 CPU cores
  python experiments/owl_high_sparsity.py --scale paper --online --model huggyllama/llama-7b
"""
from __future__ import annotations

from common import allocator_grid, parser, print_table, run_grid

NAME = "owl_high_sparsity"
SCORERS = {"tiny": ["wanda", "stade"], "full": ["wanda", "stade", "sparsegpt", "magnitude"]}
SCORERS["default"] = SCORERS["paper"] = SCORERS["full"]
SPARSITIES = {"tiny": [0.7], "default": [0.7], "full": [0.7, 0.6, 0.8], "paper": [0.7, 0.6, 0.8]}
ALLOCATORS = ["uniform", "owl"]
PAPER_MODELS = ["huggyllama/llama-7b", "huggyllama/llama-13b", "facebook/opt-6.7b"]


def grid(args, allocators=ALLOCATORS):
    return allocator_grid(args, PAPER_MODELS, SCORERS[args.scale], SPARSITIES[args.scale], allocators)


def label(row: dict) -> str:
    return row["method"] if row["method"] == "dense" else f"{row['method']} + {row['allocator']}"


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args), reuse_from=["main_perplexity", "neuroal_topup"])
    if rows:
        print_table(rows, ["dense"] + [f"{s:.0%}" for s in sorted(SPARSITIES[args.scale])], label)


if __name__ == "__main__":
    main()
