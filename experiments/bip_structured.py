"""Structured pruning (LLM-BIP, Wu 2024): BIP vs Wanda-sp vs FLAP vs magnitude-sp, no fine-tuning.

Removes whole head groups and MLP channels (methods/structured.py, methods/bip.py) at 20% and 50% of the
attention + MLP parameters and evaluates the smaller model: perplexity with 128-token windows (the LLM-Pruner /
FLAP protocol the BIP paper's baselines use) and zero-shot accuracy. `bip_noprop` is BIP without its propagation
term, the ablation that isolates what the Lipschitz bound adds over a Wanda-sp-like channel score.
LoRA recovery (which the paper reports for some settings) is out of scope offline.
  scientific: method, ratio.   nuisance: calibration draw (seed 0).   fixed: calibration set, evaluation windows.
  default scale: SmolLM2-135M (9 heads in 3 key/value groups: a group is a third of a block's attention, so the
                 uniform rule removes 1 group at 20% and 2 at 50%, and fills the rest of the budget with channels),
                 16 x 256 calibration tokens, the scale's 16 windows of 512 tokens of wiki_vital, no zero-shot.
  full scale:    32 x 512 calibration tokens, 320 windows of 128 tokens of wiki_vital, the offline zero-shot suite.
  paper scale:   LLaMA-7B / Vicuna-7B / LLaMA-13B, WikiText-2 + PTB, 1024 x 128 WikiText-2 calibration (FLAP's),
                 the seven lm-eval tasks.
  python experiments/bip_structured.py --scale default
"""
from __future__ import annotations

from common import model_bases, parser, run_grid, with_method

NAME = "bip_structured"
METHODS = {"tiny": ["wanda_sp", "bip"],
           "full": ["magnitude_sp", "wanda_sp", "flap", "bip", "bip_uniform", "bip_noprop"]}
METHODS["default"] = METHODS["paper"] = METHODS["full"]
RATIOS = {"tiny": [0.2], "default": [0.2, 0.5], "full": [0.2, 0.5], "paper": [0.2, 0.5]}
# default: the scale's perplexity windows, no zero-shot (the full scale adds the paper's 128-token windows and it)
EVAL = {"tiny": dict(eval_seqlen=128, eval_windows=8), "default": {},
        "full": dict(eval_seqlen=128, eval_windows=320, zero_shot="offline"),
        "paper": dict(eval=("wikitext2", "ptb"), eval_seqlen=128, eval_windows=None, calib="wikitext2", nsamples=1024,
                      seqlen=128, zero_shot="paper")}
PAPER_MODELS = ["huggyllama/llama-7b", "lmsys/vicuna-7b-v1.3", "huggyllama/llama-13b"]


def grid(args):
    configs = []
    overrides = {k: v for k, v in EVAL[args.scale].items() if not (k == "zero_shot" and args.zero_shot)}
    for base in model_bases(args, PAPER_MODELS, **overrides):
        configs.append(with_method(base, "dense"))
        for ratio in RATIOS[args.scale]:
            configs += [with_method(base, m, sparsity=ratio) for m in METHODS[args.scale]]
    return configs


def main(argv=None):
    args = parser(__doc__).parse_args(argv)
    rows = run_grid(NAME, args, grid(args))
    for r in rows:
        ppl = ", ".join(f"{k}={v:.2f}" for k, v in r["ppl"].items())
        size = r.get("structured", {}).get("params_after")
        print(f"{r['method']:12s} ratio={r['sparsity_target']:.2f} achieved={r['sparsity_achieved']:.3f} {ppl}"
              + (f" params={size}" if size else ""))


if __name__ == "__main__":
    main()
