"""STADE (Mecke et al. 2025): prune by the standard deviation of the input, with bias compensation.

For a row y_i = sum_j W_ij x_j + b_i, removing the set P changes the output by e_i = sum_{j in P} W_ij x_j.
E[e_i^2] = Var(e_i) + E[e_i]^2. Adding E[e_i] = sum_{j in P} W_ij mu_j to the bias removes the second term, and
for uncorrelated inputs Var(e_i) = sum_{j in P} W_ij^2 Var(x_j); so the optimal mask keeps the largest
  S_ij = W_ij^2 * Var(X_j)                                   (STADE's metric, ranked like |W_ij| * std(X_j))
and the bias update is
  b_i <- b_i + sum_{j pruned} mu_j W_ij                       (computed from the weights before zeroing).
When the inputs are centred (mu = 0) this equals Wanda's metric; that is the paper's "Wanda is optimal" case.

Variants (all one registry line each):
- stade        the first official release: STADE + compensation on layers whose input is NOT the output of a
               normalisation layer (attention output projection, MLP output projection), Wanda elsewhere.
- stade_all    STADE + compensation on every linear layer.
- stade_nocomp the `stade` layer split without the bias compensation (measures what compensation buys).
- stade_all_nocomp  W^2 Var on every layer, no compensation: what the later official release computes, because
               it updates the bias after the weights were zeroed (so the update adds nothing).
- stade_star   W^2 (Var + mu^2) on every layer, no compensation (the appendix ablation); it ranks like Wanda up to
               the N/(N-1) factor of the unbiased variance.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import LayerInfo, Method, register
from .stats import LayerStats
from .wanda import WANDA


def stade_score(weight: torch.Tensor, stats: LayerStats) -> torch.Tensor:
    return weight.double() ** 2 * stats.var[None, :]


def stade_star_score(weight: torch.Tensor, stats: LayerStats) -> torch.Tensor:
    return weight.double() ** 2 * (stats.var + stats.mean**2)[None, :]


@torch.no_grad()
def compensate_bias(layer: nn.Linear, mask: torch.Tensor, stats: LayerStats) -> None:
    """b_i += sum_j mask_ij W_ij mu_j: the expected output of the weights about to be removed.

    Creates the bias (zeros) when the layer has none, as the official code does for Llama's o_proj/down_proj.
    """
    if not bool(mask.any()):  # nothing removed (a layer --layers leaves alone): no bias to add, or to save
        return
    weight = layer.weight
    delta = (weight.double() * mask) @ stats.mean.to(weight.device)
    if layer.bias is None:
        layer.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device),
                                  requires_grad=False)
    layer.bias.add_(delta.to(layer.bias.dtype))


_COMPENSATION = "b_i += Σ_{j pruned} μ_j W_ij, from the weights before zeroing"
STADE_ALL = register(Method("stade_all", "W_ij^2 Var(X_j) + bias compensation, every layer",
                            score=stade_score, update=compensate_bias, adds_bias=True,
                            rule="W_ij²·Var(X_j) on every layer", update_rule=_COMPENSATION,
                            source="Mecke et al. 2025 (STADE), later release's metric with the compensation done right"))
STADE_ALL_NOCOMP = register(Method("stade_all_nocomp", "W_ij^2 Var(X_j), every layer, no compensation "
                                   "(the later official release as shipped)", score=stade_score,
                                   rule="W_ij²·Var(X_j) on every layer, no compensation: what the later official "
                                        "release computes (its bias update runs after the weights are zeroed)",
                                   source="Mecke et al. 2025 (STADE), later release"))
STADE_STAR = register(Method("stade_star", "W_ij^2 (Var(X_j) + mu_j^2), every layer, no compensation",
                             score=stade_star_score,
                             rule="W_ij²·(Var(X_j) + μ_j²) on every layer (ranks like Wanda up to N/(N−1))",
                             source="Mecke et al. 2025 (STADE), appendix ablation STADE*"))


def _split(on_unnormalized: Method):
    """STADE's layer split: the given metric where the input is not a norm output, Wanda where it is."""
    def route(info: LayerInfo) -> Method:
        return WANDA if info.normalized_input else on_unnormalized
    return route


STADE = register(Method("stade", "STADE (+compensation) on o_proj/down_proj-like layers, Wanda on the rest",
                        route=_split(STADE_ALL),
                        rule="W_ij²·Var(X_j) on layers whose input is **not** a norm output (attention output and MLP "
                             "output projections), Wanda elsewhere: the first official release (\"STADE-W\")",
                        update_rule=_COMPENSATION, source="Mecke et al. 2025 (STADE), first release"))
STADE_NOCOMP = register(Method("stade_nocomp", "the `stade` split without bias compensation",
                               route=_split(STADE_ALL_NOCOMP), rule="the `stade` split without compensation",
                               source="ablation"))
