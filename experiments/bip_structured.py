"""Structured pruning (LLM-BIP, Wu 2024; experiments/specs.py: BIP): BIP vs Wanda-sp vs FLAP vs magnitude-sp, no
fine-tuning. Whole head groups and MLP channels are removed (methods/structured/) at 20% (and 50% at full scale) of
the attention + MLP parameters; the smaller model is evaluated (perplexity; at full scale in the LLM-Pruner/FLAP
protocol's 128-token windows, plus the offline zero-shot suite). `bip_noprop` and `bip_uniform` are BIP's ablations.
Each row says how many head groups and channels every block lost.
  python experiments/bip_structured.py --scale default
"""
from __future__ import annotations

from common import BY_NAME, parse_args, parser, run_grid


def main(argv=None):
    args = parse_args(parser(__doc__), argv)
    for r in run_grid(BY_NAME["bip_structured"], args):
        ppl = ", ".join(f"{k}={v:.2f}" for k, v in r["ppl"].items())
        s = r.get("structured") or {}
        print(f"{r['method']:12s} ratio={r['sparsity_target']:.2f} achieved={r['sparsity_achieved']:.3f} {ppl}"
              + (f" params={s['params_after']} groups-={s['head_groups_removed']} channels-={s['channels_removed']}"
                 if s else ""))


if __name__ == "__main__":
    main()
