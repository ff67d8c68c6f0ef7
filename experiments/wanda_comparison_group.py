"""The Wanda paper's comparison-group ablation (Sun et al. 2023, Sec. 5; experiments/specs.py: GROUP): where are scores
compared? Magnitude, Wanda and RIA at 50% unstructured, per output row, per input column and per whole layer (RIA's
official default is the layer, `ria`; `ria_row` is its per-output option). Within one input column Wanda's factor
||X_j||_2 is a constant, so `wanda_column` masks exactly like `magnitude_column`. The per-output rows are
main_perplexity's (reused, not rerun).
  python experiments/wanda_comparison_group.py --scale default
"""
from __future__ import annotations

from common import main_for


def main(argv=None):
    return main_for("wanda_comparison_group", argv)


if __name__ == "__main__":
    main()
