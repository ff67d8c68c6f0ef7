"""Calibration source vs pruning method (Ji et al. 2024, "Beware of Calibration Data for Pruning LLMs", main table).

For Wanda, SparseGPT and STADE (ours to add) at 50/60/70% unstructured and Wanda+OWL at 70%, perplexity with each
calibration source: the embedded corpora (paper scale: C4, WikiText-2), the model's own generations (`synthetic`:
2-token Wikipedia prefixes, sampled, top-20%-perplexity filtered; methods/synthesis.py) and uniform random tokens
(`random`, a floor). The paper's findings: the source can matter more than the method, more so at high sparsity;
data like the pre-training data is better; self-generated data beats the usual corpora.
The analysis reports the effect size as the paper frames it: at each sparsity, the spread of perplexity across
sources (per method) against the spread across methods (per source).
  scientific: calibration source, method, sparsity.   nuisance: calibration draw (seed; several at paper scale).
  fixed: number and length of calibration sequences, evaluation windows.
  default scale: SmolLM2-135M, 16 x 256 calibration tokens, the scale's 16 evaluation windows; Wanda and SparseGPT
                 at 50% and 70% (+ Wanda with OWL at 70%); one seed.
  full scale:    32 x 512 calibration tokens; perplexity on 40 windows of 512 tokens of wiki_vital (half the main
                 table's 80); + STADE and 60%. `wiki_vital` calibration is drawn from its train split, the
                 evaluation from its test split (same distribution: in-domain).
  paper scale:   128 x 2048 tokens, seeds 0, 5, 10, 15, 20 (the official scripts' seed*5), LLaMA-2-7B.
  python experiments/calibration_source.py --scale default
"""
from __future__ import annotations

from dataclasses import replace

from common import allocator_args_for, model_bases, parser, run_grid, with_method

NAME = "calibration_source"
SOURCES = {"tiny": ["synthetic", "random"], "default": ["enwiki_excerpt", "wiki_vital", "synthetic", "random"],
           "full": ["enwiki_excerpt", "wiki_vital", "synthetic", "random"],
           "paper": ["c4", "wikitext2", "synthetic", "random"]}
# where synthesis takes its prompt prefixes
PROMPTS = {"tiny": "wiki_vital", "default": "wiki_vital", "full": "wiki_vital", "paper": "wikitext2"}
METHODS = {"tiny": ["wanda"], "default": ["wanda", "sparsegpt"], "full": ["wanda", "sparsegpt", "stade"]}
METHODS["paper"] = METHODS["full"]
SPARSITIES = {"tiny": [0.5], "default": [0.5, 0.7], "full": [0.5, 0.6, 0.7], "paper": [0.5, 0.6, 0.7]}
OWL_AT = 0.7  # Wanda+OWL, the paper's third method, at the sparsity OWL is made for
SEEDS = {"tiny": [0], "default": [0], "full": [0], "paper": [0, 5, 10, 15, 20]}
EVAL_WINDOWS = {"full": 40}
PAPER_MODELS = ["meta-llama/Llama-2-7b-hf"]


def sources_for(args) -> list[str]:
    """The scale's sources; at tiny scale (tests) the --calib corpus stands in for the real corpora."""
    corpora = [args.calib] if args.calib else []
    return corpora + SOURCES[args.scale] if args.scale == "tiny" else SOURCES[args.scale]


def with_source(config, source: str, prompt_source: str):
    if source == "synthetic":
        return replace(config, calib=source, calib_args={"prompt_source": prompt_source})
    return replace(config, calib=source, calib_args=None)


def grid(args):
    """Sparsity-major, then seed: every source and method at 50% before 60%."""
    prompt = args.calib if args.scale == "tiny" and args.calib else PROMPTS[args.scale]
    configs = []
    for base in model_bases(args, PAPER_MODELS, eval_windows=EVAL_WINDOWS.get(args.scale)):
        configs.append(with_method(base, "dense"))
        for sparsity in SPARSITIES[args.scale]:
            for seed in SEEDS[args.scale]:
                for source in sources_for(args):
                    cell = with_source(replace(base, seed=seed), source, prompt)
                    configs += [with_method(cell, m, sparsity=sparsity) for m in METHODS[args.scale]]
                    if sparsity == OWL_AT:
                        configs.append(with_method(cell, "wanda", sparsity=sparsity, allocator="owl",
                                                   allocator_args=allocator_args_for("owl", args.scale)))
    return configs


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    # the dense row and the 50% enwiki_excerpt rows at seed 0 are the calibration-sample study's 32-sequence rows
    rows = run_grid(NAME, args, grid(args), reuse_from=["wanda_calibration_samples"])
    for r in rows:
        if r["method"] != "dense":
            gen = (r["calibration"] or {}).get("generated") or {}
            extra = f" (generation {gen['generation_s']:.0f}s)" if "generation_s" in gen else ""
            print(f"{r['calibration']['source']:15s} {r['method']}+{r['allocator']} s={r['sparsity_target']}: "
                  f"{next(iter(r['ppl'].values())):.2f}{extra}")


if __name__ == "__main__":
    main()
