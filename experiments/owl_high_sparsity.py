"""OWL's headline table (experiments/specs.py: OWL): perplexity at 70% (and 60/80% at full scale), uniform vs OWL vs
AlphaPruning layer-wise sparsity, per scorer.

Reproduces the shape of OWL (Yin et al. 2024) Table 3 (magnitude, Wanda and SparseGPT, each uniform vs OWL; the OWL
README's LLaMA-7B table) and adds what no seed repo runs: STADE + OWL, and the AlphaPruning allocator beside OWL.
  scientific: scorer x allocator, sparsity.   nuisance: the calibration draw (seeds for the claim's cells).
  fixed: OWL M = 5, lambda = 0.08 (the README's commands); AlphaPruning epsilon = 0.3, block-wise (its defaults).
  python experiments/owl_high_sparsity.py --scale default
"""
from __future__ import annotations

from common import main_for


def main(argv=None):
    return main_for("owl_high_sparsity", argv,
                    lambda r: r["method"] if r["method"] == "dense" else f"{r['method']} + {r['allocator']}")


if __name__ == "__main__":
    main()
