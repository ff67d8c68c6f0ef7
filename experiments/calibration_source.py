"""Calibration source vs pruning method (Ji et al. 2024, main table; experiments/specs.py: SOURCE).

Each method with each calibration source: the embedded corpora (paper scale: C4, WikiText-2), the model's own
generations (`synthetic`: 2-token Wikipedia prefixes, sampled, top-20%-perplexity filtered; methods/synthesis.py)
and uniform random tokens (`random`, a floor). The paper's findings: the source can matter more than the method at
high sparsity; self-generated data beats the usual corpora. The default scale runs 70% (the claim's "high
sparsity") with one draw; the full scale adds 50%, Wanda+OWL and five seeds per source (the synthetic set is
generated per seed).
  python experiments/calibration_source.py --scale default
"""
from __future__ import annotations

from common import BY_NAME, parse_args, parser, run_grid


def main(argv=None):
    args = parse_args(parser(__doc__), argv)
    for r in run_grid(BY_NAME["calibration_source"], args):
        if r["method"] != "dense":
            gen = (r["calibration"] or {}).get("generated") or {}
            extra = f" (generation {gen['generation_s']:.0f}s)" if "generation_s" in gen else ""
            print(f"{r['calibration']['source']:15s} {r['method']}+{r['allocator']} s={r['sparsity_target']} "
                  f"seed={r['calibration']['seed']}: {next(iter(r['ppl'].values())):.2f}{extra}")


if __name__ == "__main__":
    main()
