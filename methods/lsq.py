"""Least-squares update of the kept weights after a mask is chosen (the Wanda paper's weight-update ablation,
Sun et al. 2023, Sec. 5: does a reconstruction step add much on top of the Wanda mask?).

For output row i with kept inputs K and pruned inputs P, the surviving weights are re-fitted to the dense output
on the calibration inputs X (tokens x d_in):

    v_K = argmin_v || X_K v - X w_i ||^2   =>   (H_KK + delta I) (v_K - w_K) = H_KP w_P,     H = X^T X / N

delta = percdamp * mean(diag H) (SparseGPT's damping, percdamp = 0.01), which keeps H_KK invertible when inputs
are dead or collinear. Written as a correction of w_K, a row that prunes nothing is left unchanged. This is the
exact per-row optimum for a fixed mask; SparseGPT's OBS sweep reaches an approximation of it while it also picks
the mask, which is what the ablation compares.

Rows are solved in batches of rows that keep the same number of weights (every row, for the per-row comparison
group), by a batched Cholesky solve of the gathered H_KK blocks (SPD by the damping). Not batched LU: with more than
one thread, MKL's batched getrf in torch 2.13 reports "Parameter 6 was incorrect on entry to SLASWP" and hangs on an
Intel Xeon (measured: 16 x 768 x 768 already); a block Cholesky rejects falls back to one-thread LU.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Method, register
from .magnitude import magnitude_score
from .stats import LayerStats
from .wanda import wanda_score

_CHUNK_ELEMENTS = 2**25  # rows x k x k floats per batched solve (128 MiB in float32)


@torch.no_grad()
def least_squares_update(layer: nn.Linear, mask: torch.Tensor, stats: LayerStats, percdamp: float = 0.01) -> None:
    """Re-fit the kept weights of every row of `layer` (mask True = pruned) to the dense output, in place."""
    W = layer.weight.data
    H = stats.gram.to(W.device, torch.float32) / stats.count  # the solve runs in float32 (batched LU)
    H = H + percdamp * torch.diag(H).mean() * torch.eye(H.shape[0], device=H.device)
    mask = mask.to(W.device)
    pruned_part = W.float() * mask  # w_P in place, zeros on K
    target = pruned_part @ H  # row i: (H w_P)_j for every input j (H symmetric)
    kept_counts = (~mask).sum(dim=1)
    for k in kept_counts.unique().tolist():
        rows = torch.nonzero((kept_counts == k) & (kept_counts < W.shape[1]), as_tuple=True)[0]
        if k == 0 or rows.numel() == 0:
            continue
        for chunk in rows.split(max(1, _CHUNK_ELEMENTS // (k * k))):
            kept = torch.sort((~mask[chunk]).float(), dim=1, descending=True, stable=True).indices[:, :k]
            rhs = torch.gather(target[chunk], 1, kept)[:, :, None]
            W[chunk[:, None], kept] += _spd_solve(_kept_blocks(H, kept), rhs)[:, :, 0].to(W.dtype)


def _kept_blocks(H: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """H_KK of every row (kept: rows x k input indices) as one rows x k x k tensor. One row at a time, so each
    copy reads k rows of H that stay in cache: about 10x faster than one batched gather through a rows x k x d
    intermediate and 2x faster than advanced indexing (measured at d = 576, k = 288); the same values."""
    out = torch.empty(kept.shape[0], kept.shape[1], kept.shape[1], dtype=H.dtype, device=H.device)
    for i, index in enumerate(kept):
        torch.index_select(H.index_select(0, index), 1, index, out=out[i])
    return out


def _spd_solve(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve the batched SPD systems A x = b; a matrix that is not numerically SPD is solved by LU, one thread.
    With A = L L^T: two triangular solves (the arithmetic of cholesky_solve, whose batched form is ~5x slower for
    one right-hand side here)."""
    L, info = torch.linalg.cholesky_ex(A)
    x = torch.linalg.solve_triangular(L.mT, torch.linalg.solve_triangular(L, b, upper=False), upper=True)
    bad = torch.nonzero(info).flatten()
    if bad.numel():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # see the module docstring: MKL's multi-threaded batched LU is not safe here
        try:
            x[bad] = torch.linalg.solve(A[bad], b[bad])
        finally:
            torch.set_num_threads(threads)
    return x


_LSQ_RULE = ("kept weights of every row re-fitted by least squares on the calibration inputs, "
             "(H_KK + δI)(v_K − w_K) = H_KP w_P, H = XᵀX/N")
WANDA_LSQ = register(Method("wanda_lsq", "Wanda's mask, then a least-squares re-fit of the kept weights",
                            score=wanda_score, update=least_squares_update, needs={"gram"},
                            params={"percdamp": 0.01}, rule="Wanda's mask", update_rule=_LSQ_RULE,
                            source="Sun et al. 2023, Sec. 5 (weight-update ablation)"))
MAGNITUDE_LSQ = register(Method("magnitude_lsq", "magnitude's mask, then a least-squares re-fit of the kept weights",
                                score=magnitude_score, update=least_squares_update, needs={"gram"},
                                params={"percdamp": 0.01}, rule="magnitude's mask", update_rule=_LSQ_RULE,
                                source="Sun et al. 2023, Sec. 5 (weight-update ablation)"))
