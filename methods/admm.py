"""ADMM weight update for a pruned layer (Boža 2024, "Fast and Effective Weight Update for Pruned Large Language
Models", arXiv 2401.02938; official code fmfi-compbio/admm-pruning, lib/admm.py):

    min_W' || X W'^T - X W^T ||^2   subject to   W' = 0 where the mask prunes,

solved by ADMM in the basis normalised by the inputs' norms (n_j = sqrt(H_jj), H = X^T X; W~ = W diag(n),
H~ = diag(n)^-1 H diag(n)^-1, so diag(H~) = 1): with damping delta = 0.1 * mean diag(H~) and rho = 1,
    W  <- (H~ + delta I + rho I)^-1 (H~ W0 + rho (Z - U)),   Z <- (W + U) * keep,   U <- U + W - Z
for 20 iterations; the pruned layer is Z diag(n)^-1.
- `wanda_admm`, `magnitude_admm`: Wanda's / magnitude's mask, then the update (beside `*_lsq`, the exact per-row
  least-squares re-fit of the same masks);
- `admm`: the official method, whose mask is re-chosen during the first 15 iterations from |W + U| in the
  normalised basis (a Wanda-like metric) over the whole layer; for N:M the pruned share follows the cubic schedule
  s_t = s (1 - (1 - (t+1)/15)^3) among the weights the N:M rule allows, as the official code does (its unstructured
  branch prunes the final share from the first iteration, which we follow: it produced the published numbers).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Method, register
from .magnitude import magnitude_score
from .masks import Pattern, lowest_k, nm_mask
from .stats import LayerStats
from .wanda import wanda_score

PARAMS = {"iters": 20, "rho": 1.0, "percdamp": 0.1}


def _normalised(stats: LayerStats, weight: torch.Tensor, percdamp: float, rho: float):
    """(normalising norms n, W~^T (cols x rows), H~ W0~^T, the inverse of H~ + (delta + rho) I)."""
    H = stats.gram.to(weight.device, torch.float64)
    norm = torch.diag(H).sqrt() + 1e-8
    Hn = H / norm[:, None] / norm[None, :]
    W = (weight.double() * norm[None, :]).t()
    Hn.diagonal().add_(percdamp * torch.diag(Hn).mean())
    XY = Hn @ W
    Hn.diagonal().add_(rho)
    return norm, W, XY, torch.linalg.inv(Hn)


def _admm(W: torch.Tensor, XY: torch.Tensor, inverse: torch.Tensor, keep_of, iters: int, rho: float) -> torch.Tensor:
    """The ADMM iterations; keep_of(t, W + U) -> the bool keep mask (cols x rows) to use at iteration t."""
    U = torch.zeros_like(W)
    keep = None
    for t in range(iters):
        keep = keep_of(t, W + U, keep)
        Z = (W + U) * keep
        U += W - Z
        W = inverse @ (XY + rho * (Z - U))
    keep = keep_of(iters, W + U, keep) if keep is None else keep
    return (W + U) * keep, keep


@torch.no_grad()
def admm_update(layer: nn.Linear, mask: torch.Tensor, stats: LayerStats, iters: int = 20, rho: float = 1.0,
                percdamp: float = 0.1) -> None:
    """Re-fit the kept weights of `layer` (mask True = pruned) to the dense output by ADMM, in place."""
    norm, W, XY, inverse = _normalised(stats, layer.weight.data, percdamp, rho)
    keep = ~mask.t().to(W.device)
    Z, _ = _admm(W, XY, inverse, lambda t, v, k: keep, iters, rho)
    layer.weight.data.copy_((Z.t() / norm[None, :]).to(layer.weight.dtype))


def _gradual_keep(sparsity: float, pattern: Pattern, gradual_iters: int):
    def keep_of(t: int, V: torch.Tensor, previous):
        if previous is not None and t >= gradual_iters:
            return previous
        score = V.abs().t()  # rows x cols, the normalised (Wanda-like) magnitude
        if not pattern.is_nm:
            return ~lowest_k(score.reshape(1, -1), int(score.numel() * sparsity)).reshape(score.shape).t()
        allowed = nm_mask(score, pattern)  # the weights N:M would prune
        share = pattern.sparsity * (1 - (1 - (t + 1) / gradual_iters) ** 3) if t < gradual_iters else pattern.sparsity
        candidates = torch.where(allowed, score, torch.full_like(score, float("inf")))
        pruned = lowest_k(candidates.reshape(1, -1), int(score.numel() * share)).reshape(score.shape)
        return ~pruned.t()
    return keep_of


@torch.no_grad()
def admm_solve(layers: list[nn.Linear], stats: LayerStats, sparsities: list, pattern: Pattern, iters: int = 20,
               rho: float = 1.0, percdamp: float = 0.1, gradual_iters: int = 15) -> list[torch.Tensor]:
    """The official ADMM pruner: mask re-chosen from |W + U| during the first `gradual_iters` iterations."""
    if any(isinstance(s, torch.Tensor) for s in sparsities):
        raise NotImplementedError("ADMM's mask is chosen over the whole layer; per-row sparsities are not defined")
    masks = []
    for layer, sparsity in zip(layers, sparsities):
        norm, W, XY, inverse = _normalised(stats, layer.weight.data, percdamp, rho)
        Z, keep = _admm(W, XY, inverse, _gradual_keep(float(sparsity), pattern, gradual_iters), iters, rho)
        layer.weight.data.copy_((Z.t() / norm[None, :]).to(layer.weight.dtype))
        masks.append(~keep.t())
    return masks


_UPDATE = ("ADMM: min ‖XW'ᵀ − XWᵀ‖² with W' zero on the mask, 20 iterations, ρ = 1 on the diagonally normalised H, "
           "damping 0.1·mean diag")
_SOURCE = "Boža 2024 (arXiv 2401.02938)"
WANDA_ADMM = register(Method("wanda_admm", "Wanda's mask, then the ADMM re-fit of the kept weights",
                             score=wanda_score, update=admm_update, needs={"gram"}, params=PARAMS,
                             rule="Wanda's mask", update_rule=_UPDATE, source=_SOURCE))
MAGNITUDE_ADMM = register(Method("magnitude_admm", "magnitude's mask, then the ADMM re-fit of the kept weights",
                                 score=magnitude_score, update=admm_update, needs={"gram"}, params=PARAMS,
                                 rule="magnitude's mask", update_rule=_UPDATE, source=_SOURCE))
ADMM = register(Method("admm", "ADMM with its gradual mask (official: re-chosen from |W+U| in 15 of 20 iterations)",
                       solve=admm_solve, needs={"gram"}, params={**PARAMS, "gradual_iters": 15}, group="layer",
                       rule="mask re-chosen from \\|W + U\\| (normalised basis, whole layer) in the first 15 iterations "
                            "(N:M: cubic schedule)", update_rule=_UPDATE, source=_SOURCE + ", official default"))
