"""NeuroAL's headline comparison: uniform vs OWL vs NeuroAL sparsity on top of each scorer, at 60/70/80%.

Reproduces the shape of NeuroAL (Cunegatti et al. 2024) Tables 1-3 (perplexity of magnitude, Wanda, SparseGPT with
the uniform, OWL and NeuroAL top-ups on LLaMA-1/2, Mistral, Phi-2; WikiText-2, C4, PTB) and adds STADE as a base
scorer. Each row also records NeuroAL's chosen lambdas, the alignment passes it spent and its search time
(row["allocation"], row["seconds"]["allocate"]).
  scientific: scorer x allocator, sparsity.   nuisance: calibration draw (seed 0).
  fixed: OWL M = 5, lambda = 0.08; NeuroAL's lambda grids (methods/neuroal.py) and search set (2 x 256 tokens at
  default scale, 4 x 512 at full scale, the official 8 x 2048 at paper scale; experiments/common.py).
Uniform and OWL rows already measured by owl_high_sparsity.py are reused, not rerun.
  python experiments/neuroal_topup.py --scale default          # ~10 min per NeuroAL row on 2 CPU cores
  python experiments/neuroal_topup.py --scale paper --online --model meta-llama/Llama-2-7b-hf
"""
from __future__ import annotations

from common import allocator_grid, parser, print_table, run_grid

NAME = "neuroal_topup"
SCORERS = {"tiny": ["wanda", "sparsegpt"], "default": ["wanda", "stade"],
           "full": ["wanda", "stade", "sparsegpt", "magnitude"]}
SCORERS["paper"] = SCORERS["full"]
SPARSITIES = {"tiny": [0.7], "default": [0.7], "full": [0.7, 0.6, 0.8], "paper": [0.7, 0.6, 0.8]}
ALLOCATORS = ["uniform", "owl", "neuroal"]
PAPER_MODELS = ["huggyllama/llama-7b", "meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1", "microsoft/phi-2"]
PAPER_EVAL = ("wikitext2", "c4", "ptb")


def grid(args):
    if args.scale == "paper" and not args.eval:
        args.eval = ",".join(PAPER_EVAL)
    return allocator_grid(args, PAPER_MODELS, SCORERS[args.scale], SPARSITIES[args.scale], ALLOCATORS)


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args), reuse_from=["owl_high_sparsity", "main_perplexity"])
    if rows:
        print_table(rows, ["dense"] + [f"{s:.0%}" for s in sorted(SPARSITIES[args.scale])],
                    lambda r: r["method"] if r["method"] == "dense" else f"{r['method']} + {r['allocator']}")
        for r in rows:
            info = r.get("allocation") or {}
            if r["allocator"] == "neuroal":
                print(f"{r['method']} s={r['sparsity_target']}: lambda_block={info.get('block_lambda')} "
                      f"lambda_row={info.get('row_lambda')} passes={info.get('alignment_passes')} "
                      f"search {r['seconds'].get('allocate', 0):.0f}s")


if __name__ == "__main__":
    main()
