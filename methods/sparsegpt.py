"""SparseGPT (Frantar & Alistarh 2023, Alg. 1): mask selection and optimal-brain-surgeon weight update.

With H = 2 X^T X / N (+ 1% of its mean diagonal as damping) and U the upper Cholesky factor of H^-1, columns are
processed left to right in blocks of B = 128. At the start of a block the mask is chosen from the current
(already updated) weights by the OBS saliency w^2 / U_jj^2 over the whole rows x B block (adaptive mask selection;
for N:M, per group of M columns of each row). Each column j is then quantised to its masked value q_j and the
error (w_j - q_j) / U_jj is propagated to the remaining columns of the row with row j of U (Eq. 5-6), lazily
across blocks. The per-block mask prunes exactly floor(rows * B * s) weights (the official code thresholds at
that rank, which can prune a few more on ties).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Method, register
from .masks import Pattern
from .stats import LayerStats


def inverse_hessian_factor(stats: LayerStats, weight: torch.Tensor, percdamp: float = 0.01) -> torch.Tensor:
    """Upper Cholesky factor of (H + damp I)^-1, H = 2 X^T X / N. Dead inputs (H_jj = 0) get H_jj = 1 and
    their weights are zeroed in place, as in the reference algorithm."""
    H = stats.gram.to(weight.device, torch.float32) * (2.0 / stats.count)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    weight[:, dead] = 0.0
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(H.shape[0], device=H.device)
    L = torch.linalg.cholesky(H)
    return torch.linalg.cholesky(torch.cholesky_inverse(L), upper=True)


def _lowest(saliency: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of the k lowest entries of a tensor (stable order, so ties go to the lower flat index)."""
    mask = torch.zeros(saliency.numel(), dtype=torch.bool, device=saliency.device)
    if k:
        mask[torch.sort(saliency.flatten(), stable=True).indices[:k]] = True
    return mask.reshape(saliency.shape)


@torch.no_grad()
def sparsegpt_solve(layer: nn.Linear, stats: LayerStats, sparsity: float, pattern: Pattern,
                    blocksize: int = 128, percdamp: float = 0.01) -> torch.Tensor:
    """Prune `layer` in place with SparseGPT; returns the pruned mask."""
    if isinstance(sparsity, torch.Tensor):
        raise NotImplementedError("SparseGPT selects its mask per column block; per-row sparsities are not defined")
    W = layer.weight.data.clone().float()
    rows, cols = W.shape
    pattern.check_width(cols)
    U = inverse_hessian_factor(stats, W, percdamp)
    mask = torch.zeros_like(W, dtype=torch.bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1, U1 = W[:, i1:i2].clone(), U[i1:i2, i1:i2]
        Err1 = torch.zeros_like(W1)
        d = torch.diag(U1)
        mask1 = (torch.zeros_like(W1, dtype=torch.bool) if pattern.is_nm
                 else _lowest(W1**2 / d[None, :] ** 2, int(W1.numel() * sparsity)))
        for i in range(i2 - i1):
            if pattern.is_nm and i % pattern.m == 0:
                sal = W1[:, i:i + pattern.m] ** 2 / d[None, i:i + pattern.m] ** 2
                order = torch.sort(sal, dim=1, stable=True).indices[:, : pattern.n]
                mask1[:, i:i + pattern.m].scatter_(1, order, True)
            w = W1[:, i]
            q = torch.where(mask1[:, i], torch.zeros_like(w), w)
            err = (w - q) / d[i]
            W1[:, i:] -= err[:, None] * U1[i, i:][None, :]
            W1[:, i] = q
            Err1[:, i] = err
        W[:, i1:i2] = W1
        mask[:, i1:i2] = mask1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    layer.weight.data = W.to(layer.weight.dtype)
    return mask


SPARSEGPT = register(Method("sparsegpt", "OBS mask + weight update (H = 2XX^T, 1% damping, 128-column blocks)",
                            solve=sparsegpt_solve, needs_gram=True))
