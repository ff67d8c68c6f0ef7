"""Wanda (Sun et al. 2023, Eq. 1): S_ij = |W_ij| * ||X_j||_2, compared within each output row.

||X_j||_2 is the L2 norm of input channel j over all calibration tokens. The official code keeps
(1/n_seq) * ||X_j||^2 instead; the constant factor never changes a per-row ranking.
`wanda_layer` and `wanda_column` compare the same score over the whole matrix / within each input column
(the comparison-group ablation of Sun et al. 2023, Sec. 5).
"""
from __future__ import annotations

import torch

from .base import Method, register
from .stats import LayerStats


def wanda_score(weight: torch.Tensor, stats: LayerStats) -> torch.Tensor:
    return weight.abs().double() * stats.norm[None, :]


WANDA = register(Method("wanda", "|W_ij| * ||X_j||_2 per output row", score=wanda_score,
                        rule="\\|W_ij\\|·‖X_j‖₂", source="Sun et al. 2023, Eq. 1"))
WANDA_LAYER = register(WANDA.compared_per("layer"))
WANDA_COLUMN = register(WANDA.compared_per("column"))
