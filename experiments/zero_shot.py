"""Zero-shot accuracy beside perplexity (experiments/specs.py: ZERO_SHOT), with every item's result kept so that two
models are compared item by item.

Reproduces the shape of the Wanda paper's Table 2 (dense, magnitude, SparseGPT, Wanda at 50% unstructured, 7 lm-eval
tasks), STADE's zero-shot table and NeuroAL's zero-shot comparison (full scale).
  default scale: the offline suite (methods/tasks.py: stade_lastword, stade_nextsent), its first 100 items per task
                 (the time budget; the claims table shows how wide that leaves a paired difference).
  full scale:    every item of the suite (~1,600); + STADE, RIA, 2:4, the allocators at 70%.
  paper scale:   the seven tasks from lm-eval's registry (BoolQ, RTE, HellaSwag, WinoGrande, ARC-e/c, OBQA; Hub).
  python experiments/zero_shot.py --scale default
"""
from __future__ import annotations

from common import BY_NAME, parse_args, parser, run_grid


def main(argv=None):
    spec = BY_NAME["zero_shot"]
    args = parse_args(parser(__doc__), argv)
    for r in run_grid(spec, args):
        accs = " ".join(f"{t}={m['acc']:.3f}" for t, m in r["zero_shot"]["tasks"].items())
        print(f"{r['method']}+{r['allocator']} {r['pattern']} s={r['sparsity_target']}: {accs} "
              f"ppl={next(iter(r['ppl'].values())):.2f} ({r['zero_shot']['seconds']:.0f}s zero-shot)")


if __name__ == "__main__":
    main()
