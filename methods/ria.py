"""RIA, Relative Importance and Activations (Zhang et al., ICLR 2024, "Plug-and-Play: An Efficient Post-training
Pruning Method for Large Language Models", Eq. 3 with the activation term):

    S_ij = ( |W_ij| / sum_i' |W_i'j|  +  |W_ij| / sum_j' |W_ij'| ) * ||X_j||_2^a,      a = 0.5

the weight's share of its input column plus its share of its output row, times the input channel's L2 norm to the
power a. The official code compares the scores over the whole layer by default (`ria`: its threshold is the
k-th smallest score of the flattened matrix) and within each output row with --per_outneuron (`ria_row`); N:M masks
are chosen directly within each group of M inputs (the optional channel reallocation and linear-sum-assignment of the
official code are not reproduced). A constant factor of the norms (the official keeps ||X_j||^2 / N) does not change
any ranking within a layer.
"""
from __future__ import annotations

import torch

from .base import Method, register
from .stats import LayerStats


def ria_score(weight: torch.Tensor, stats: LayerStats, a: float = 0.5) -> torch.Tensor:
    W = weight.abs().double()
    relative = W / W.sum(dim=0, keepdim=True).clamp_min(1e-30) + W / W.sum(dim=1, keepdim=True).clamp_min(1e-30)
    return relative * stats.norm[None, :] ** a


_RULE = "(\\|W_ij\\|/Σ_i'\\|W_i'j\\| + \\|W_ij\\|/Σ_j'\\|W_ij'\\|)·‖X_j‖₂^a, a = 0.5"
_SOURCE = "Zhang et al., ICLR 2024 (RIA), official default comparison group"
RIA = register(Method("ria", "relative importance (row + column share of |W|) x ||X_j||^a, compared per layer",
                      score=ria_score, group="layer", params={"a": 0.5}, rule=_RULE + ", compared over the whole layer",
                      source=_SOURCE))
RIA_ROW = register(Method("ria_row", "RIA's score compared within each output row (--per_outneuron)",
                          score=ria_score, params={"a": 0.5}, rule=_RULE + ", compared per output row",
                          source="Zhang et al., ICLR 2024 (RIA), --per_outneuron"))
