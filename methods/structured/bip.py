"""LLM-BIP (Wu 2024, arXiv 2412.06419): structured importance from each unit's effect on its block's output,
propagated forward inside the block with a Lipschitz bound.

Block (column vectors, one token): A = W_O x_H, H = X + A, x_U = MLP-in(H), Y = H + W_D x_U.
- MLP channel j: removing it changes the block output by dY = -W_D[:, j] x_U,j exactly, so
      s_F(j) = mean_t |x_U,tj| * ||W_D[:, j]||_1          (= mean_t ||dY_t||_1, no bound needed)
- attention channel j (o_proj input): dH = -W_O[:, j] x_H,j, and the MLP branch moves by at most
  |W_D| |W_U| |dH| if the MLP is 1-Lipschitz up to its weights, so
      s_H(j) = mean_t |x_H,tj| * 1^T (I + |W_D| |W_U|) |W_O[:, j]|     (an upper bound of mean_t ||dY_t||_1)
  a head group's score is the sum over its channels (removing a group moves Y by at most the sum).
The bound never passes through softmax attention: removing a head only changes its own output, and only the
MLP after it is bounded, so no Lipschitz assumption on self-attention is needed (the paper's point).

What the paper text available offline does not fix, and what we chose (all recorded in the docstring so the
ablation is easy): the token reduction |x_j| = mean absolute value; 1^T (sum over output dims, NISP-style) to
turn the bound into a scalar; |W_U| for a gated MLP = the element-wise max of |W_gate| and |W_up| (the paper's
formula has one input matrix); the RMSNorm gain and 1/rms factor are left out as in the paper's formula, so on a
real block the "bound" is a Lipschitz *estimate*: tests/test_structured.py measures how often it holds and its rank
correlation with the brute-force change; statistics come from the dense model (one forward pass). Allocation:
since s_H and s_F bound the same quantity, a block's head groups and channels are ranked together by score per
parameter, with p of every block's parameters removed (`block` in methods/structured/allocation.py); `bip_uniform` uses
Wanda-sp's fixed split instead. `bip_noprop` drops the propagation term (the ablation the method hinges on).
"""
from __future__ import annotations

import torch

from ..base import Method, register
from .scores import StructuredRule, consumer_weight


def _mlp_input_abs(block, units) -> torch.Tensor:
    """|W_U|: the MLP's input weights (d_ff x d), element-wise max over its producers (gate and up)."""
    weights = [units.linear(block, n).weight.detach().double().abs() for n in units.mlp_producers]
    return torch.stack(weights).amax(dim=0)


def bip_score(block, units, kind, stats) -> torch.Tensor:
    W = consumer_weight(block, units, kind).abs()  # d x width
    if kind == "mlp":
        return stats.abs_mean * W.sum(dim=0)
    W_D = consumer_weight(block, units, "mlp").abs()  # d x d_ff
    propagate = W_D.sum(dim=0) @ _mlp_input_abs(block, units)  # 1^T |W_D| |W_U|, a d-vector
    return stats.abs_mean * ((1.0 + propagate) @ W)


def bip_noprop_score(block, units, kind, stats) -> torch.Tensor:
    return stats.abs_mean * consumer_weight(block, units, kind).abs().sum(dim=0)


_SOURCE = "Wu 2024, LLM-BIP (arXiv 2412.06419)"
_NEEDS = frozenset({"abs_mean"})
BIP = register(Method(
    "bip", "LLM-BIP: mean|x_j| * 1^T (I + |W_D||W_U|) |W_O[:, j]| (heads), mean|x_j| * ||W_D[:, j]||_1 (channels); "
    "heads and channels ranked together", kind="structured", nm=False, needs=_NEEDS,
    structured=StructuredRule(bip_score, allocation="block", propagate="dense", needs=_NEEDS),
    rule="channels: mean\\|x_j\\|·‖W_D[:, j]‖₁ (the exact mean ‖ΔY‖₁); heads: mean\\|x_j\\|·1ᵀ(I + \\|W_D\\|\\|W_U\\|)"
         "\\|W_O[:, j]\\| (LLM-BIP's Lipschitz bound of the block-output change); per block, heads and channels "
         "ranked together by score per parameter", source=_SOURCE))
BIP_UNIFORM = register(Method(
    "bip_uniform", "LLM-BIP scores with Wanda-sp's fixed head/channel split", kind="structured", nm=False,
    needs=_NEEDS, structured=StructuredRule(bip_score, allocation="uniform", propagate="dense", needs=_NEEDS),
    rule="BIP with Wanda-sp's fixed split (ablation)", source=_SOURCE))
BIP_NOPROP = register(Method(
    "bip_noprop", "LLM-BIP without the propagation term (ablation)", kind="structured", nm=False, needs=_NEEDS,
    structured=StructuredRule(bip_noprop_score, allocation="block", propagate="dense", needs=_NEEDS),
    rule="BIP without the propagation term (ablation)", source=_SOURCE))
