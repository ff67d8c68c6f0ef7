"""Robustness to the number of calibration samples (the Wanda paper, Sec. 5): perplexity vs calibration sequences.

Wanda needs only per-channel norms, SparseGPT a full d x d Hessian per layer; the paper's finding is that Wanda is
robust down to a handful of sequences (even one) while SparseGPT degrades with very few. STADE (ours to add) needs
per-channel variances, as cheap as Wanda's norms. Small counts are repeated over several calibration draws
(seeds) so the figure can show the spread.
  scientific: method, number of calibration sequences.   nuisance: the calibration draw (seeds).
  fixed: 50% unstructured, sequence length, evaluation windows.
  default scale: 1, 4, 16, 32 sequences of 256 tokens, one seed, Wanda and SparseGPT; the scale's 16 windows.
  full scale:    1..64 sequences of 512 tokens, seeds 0-2 for 1, 2 and 4 sequences, + STADE; perplexity on 40
                 windows of 512 tokens (half of the other tables' 80; this table's numbers compare with each
                 other, not with main_perplexity's).
  paper scale:   1..128 sequences of 2048 C4 tokens (LLaMA-7B), seeds 0-2 up to 8 sequences.
  python experiments/wanda_calibration_samples.py --scale default
"""
from __future__ import annotations

from dataclasses import replace

from common import model_bases, parser, run_grid, with_method

NAME = "wanda_calibration_samples"
METHODS = {"tiny": ["wanda", "sparsegpt"], "default": ["wanda", "sparsegpt"], "full": ["wanda", "sparsegpt", "stade"]}
METHODS["paper"] = METHODS["full"]
COUNTS = {"tiny": [1, 2, 8], "default": [1, 4, 16, 32], "full": [1, 2, 4, 8, 16, 32, 64],
          "paper": [1, 2, 4, 8, 16, 32, 64, 128]}
SEEDS = (0, 1, 2)
REPEAT_UP_TO = {"tiny": 1, "default": 1, "full": 4, "paper": 8}  # counts at most this get every seed, larger seed 0
EVAL_WINDOWS = {"full": 40}
PAPER_MODELS = ["huggyllama/llama-7b"]


def grid(args):
    """Seed-major: the whole seed-0 curve comes first, so an interrupted run already has a full figure."""
    configs = []
    for base in model_bases(args, PAPER_MODELS, eval_windows=EVAL_WINDOWS.get(args.scale)):
        configs.append(with_method(base, "dense"))
        for seed in SEEDS:
            for n in COUNTS[args.scale]:
                if seed and n > REPEAT_UP_TO[args.scale]:
                    continue
                configs += [replace(with_method(base, m), nsamples=n, seed=seed) for m in METHODS[args.scale]]
    return configs


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args))
    by_cell: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        if r["method"] != "dense":
            by_cell.setdefault((r["method"], r["calibration"]["nsamples"]), []).append(next(iter(r["ppl"].values())))
    for (method, n), values in sorted(by_cell.items()):
        print(f"{method:10s} n={n:4d}: " + ", ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
