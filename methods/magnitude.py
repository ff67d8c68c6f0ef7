"""Magnitude pruning: S_ij = |W_ij|, compared within each output row (the baseline of Sun et al. 2023, Table 3,
with Wanda's per-output comparison group). Uses no calibration data.

`magnitude_layer` compares over the whole matrix, as the official code's magnitude baseline does, and
`magnitude_column` within each input column: the comparison-group ablation of Sun et al. 2023, Sec. 5."""
from __future__ import annotations

import torch

from .base import Method, register
from .stats import LayerStats


def magnitude_score(weight: torch.Tensor, stats: LayerStats | None = None) -> torch.Tensor:
    return weight.abs()


MAGNITUDE = register(Method("magnitude", "|W_ij| per output row", score=magnitude_score, needs_data=False,
                            rule="\\|W_ij\\|", source="Sun et al. 2023, Table 3 baseline (per output row)"))
MAGNITUDE_LAYER = register(MAGNITUDE.compared_per("layer"))
MAGNITUDE_COLUMN = register(MAGNITUDE.compared_per("column"))
