"""Perplexity of every method at 50% unstructured, 2:4 and 4:8 (experiments/specs.py: MAIN).

Reproduces the shape of the STADE paper's main table (Table 2: LLaMA-7B at 50%, 4:8, 2:4; Wanda, magnitude, STADE,
STADE-W) and the Wanda paper's Table 3 (dense, magnitude, SparseGPT, Wanda), with the STADE ablations (compensation
on/off, every layer vs the layer split, STADE*) and the newer baselines (RIA, DSnoT, Pruner-Zero) beside them.
  scientific: method, pattern.   nuisance: the calibration draw (3 seeds at default, 5 at full, for the close cells).
  fixed: calibration source and size, evaluation corpus and windows (experiments/common.py for each scale).
The default scale adds one smoke cell (dense, Wanda 50%) per other family; the full scale runs the core cells on
Gemma-3-270M and Qwen2.5-0.5B too.
  python experiments/main_perplexity.py --scale default
  python experiments/main_perplexity.py --scale paper --online --model huggyllama/llama-7b
"""
from __future__ import annotations

from common import main_for


def main(argv=None):
    return main_for("main_perplexity", argv, lambda r: f"{r['model']['model']} {r['method']}")


if __name__ == "__main__":
    main()
