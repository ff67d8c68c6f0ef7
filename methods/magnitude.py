"""Magnitude pruning: S_ij = |W_ij|, compared within each output row (the baseline of Sun et al. 2023, Table 3,
with Wanda's per-output comparison group). Uses no calibration data."""
from __future__ import annotations

import torch

from .base import Method, register
from .stats import LayerStats


def magnitude_score(weight: torch.Tensor, stats: LayerStats | None = None) -> torch.Tensor:
    return weight.abs()


MAGNITUDE = register(Method("magnitude", "|W_ij| per output row", score=magnitude_score, needs_data=False))
