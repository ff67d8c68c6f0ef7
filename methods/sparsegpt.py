"""SparseGPT (Frantar & Alistarh 2023, Alg. 1): mask selection and optimal-brain-surgeon weight update.

With H = 2 X^T X / N (+ percdamp = 1% of its mean diagonal as damping) and U the upper Cholesky factor of H^-1,
columns are processed left to right in blocks of B = 128. At the start of a block the mask is chosen from the
current (already updated) weights by the OBS saliency w^2 / U_jj^2 over the whole rows x B block of each layer
(adaptive mask selection; for N:M, per group of M columns of each row, chosen when the sweep reaches the group).
Each column j is then set to its masked value q_j and the error (w_j - q_j) / U_jj is propagated to the remaining
columns of the row with row j of U (Eq. 5-6), lazily across blocks. The per-block mask prunes exactly
floor(rows * B * s) weights (the official code thresholds at that rank, which can prune a few more on ties).

How it is computed here (same algorithm, faster): every row's sweep depends only on that row and H, so the layers
that read one input (q/k/v; gate/up) are stacked and swept together with one Cholesky factor; the sweep runs on the
transposed weights so each column update is one fused rank-1 update of contiguous memory; the factor U comes from
one recursive block factorisation (matrix products) instead of the reference's three cubic LAPACK steps. On CPU the
Hessian (its accumulation, damping, Cholesky factors) and the sweep are float64, which makes the result independent of
BLAS blocking and thread count to far below any mask decision; on accelerators the papers' float32.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Method, register
from .masks import Pattern, lowest_k
from .stats import LayerStats


def inverse_hessian_factor(stats: LayerStats, WT: torch.Tensor, percdamp: float = 0.01) -> torch.Tensor:
    """Upper Cholesky factor of (H + damp I)^-1, H = 2 X^T X / N, in the Gram matrix's precision. Dead inputs
    (H_jj = 0) get H_jj = 1 and their weights (rows of the transposed weights WT) are zeroed in place, as in the
    reference algorithm. H is a scaled copy (the statistics keep theirs), factorised in place."""
    if stats.gram is None:
        raise ValueError("SparseGPT needs the Gram matrix X^T X of the layer's inputs")
    H = stats.gram.mul(2.0 / stats.count)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    WT[dead] = 0.0
    H.diagonal().add_(percdamp * torch.mean(torch.diag(H)))
    return upper_cholesky_of_inverse(H, overwrite_input=True)


def upper_cholesky_of_inverse(H: torch.Tensor, overwrite_input: bool = False, base: int = 192) -> torch.Tensor:
    """U upper triangular with a positive diagonal and H^-1 = U^T U (the reference computes chol(H), then H^-1,
    then chol(H^-1): three cubic LAPACK steps). Here U = V^-1 for the "upper-lower" factor H = V V^T (V upper),
    computed recursively on a 2 x 2 block split so that almost all the work is matrix products:
        H22 = V22 V22^T, U22 = V22^-1            (recursion)
        V12 = H12 V22^-T = H12 U22^T
        H11 - V12 V12^T = V11 V11^T, U11 = V11^-1 (recursion on the Schur complement)
        U12 = -U11 V12 U22
    Blocks of at most `base` columns use LAPACK: with J the reversal, J H J = L L^T gives U = J L^-1 J.
    overwrite_input: H's upper-left blocks are reused for the Schur complements (no n x n copy)."""
    n = H.shape[0]
    if n <= base:
        L = torch.linalg.cholesky(H.flip(0, 1))
        return torch.linalg.solve_triangular(L, torch.eye(n, dtype=H.dtype, device=H.device), upper=False).flip(0, 1)
    h = n - n // 2
    U = torch.zeros_like(H)
    U[h:, h:] = upper_cholesky_of_inverse(H[h:, h:], overwrite_input, base)
    V12 = H[:h, h:] @ U[h:, h:].t()
    schur = H[:h, :h] if overwrite_input else H[:h, :h].clone()
    schur.addmm_(V12, V12.t(), alpha=-1.0)
    U[:h, :h] = upper_cholesky_of_inverse(schur, True, base)
    U[:h, h:] = (U[:h, :h] @ V12).mm(U[h:, h:]).neg_()
    return U


def _block_mask(saliency_t: torch.Tensor, segments: list[tuple[int, int]], sparsities: list[float]) -> torch.Tensor:
    """Unstructured mask of one column block: per layer segment, the floor(rows * B * s) lowest saliencies of its
    rows x B block, ties to the lower row-major index (as the reference's stable sort). saliency_t is B x rows."""
    cols = saliency_t.shape[0]
    mask = torch.zeros_like(saliency_t, dtype=torch.bool)
    for (r0, r1), s in zip(segments, sparsities):
        block = saliency_t[:, r0:r1].t().reshape(1, -1)  # row-major over (rows, B)
        k = int(block.shape[1] * s)
        mask[:, r0:r1] = lowest_k(block, k).reshape(r1 - r0, cols).t()
    return mask


@torch.no_grad()
def _sweep(WT: torch.Tensor, U: torch.Tensor, segments: list[tuple[int, int]], sparsities: list[float],
           pattern: Pattern, blocksize: int) -> torch.Tensor:
    """The OBS sweep over the transposed, stacked weights WT (cols x rows), in place; returns the mask (cols x rows).
    Two levels of lazy updates: within a sub-block of SUB columns each column updates the rest of the sub-block
    (rank 1), and each finished sub-block updates the rest of its 128-column block with one matrix product, so the
    memory traffic per column is SUB rows instead of up to 128 (the arithmetic is the reference's, reordered)."""
    cols, rows = WT.shape
    sub = pattern.m * max(1, SUB // pattern.m) if pattern.is_nm else SUB  # N:M groups never straddle sub-blocks
    mask = torch.zeros_like(WT, dtype=torch.bool)
    diag = torch.diag(U)
    group_starts = pattern.is_nm
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1, U1, d = WT[i1:i2], U[i1:i2, i1:i2], diag[i1:i2]
        n = i2 - i1
        m1 = (torch.zeros_like(W1, dtype=torch.bool) if pattern.is_nm
              else _block_mask(W1**2 / d[:, None] ** 2, segments, sparsities))
        scale = m1 / d[:, None]  # (w - q) / U_jj = w * scale: w where pruned, 0 where kept
        err = torch.empty_like(W1)
        w_col, scale_col, err_col = W1.unbind(0), scale.unbind(0), err.unbind(0)  # views made once, not per column
        for j1 in range(0, n, sub):
            j2 = min(j1 + sub, n)
            for i in range(j1, j2):
                if group_starts and i % pattern.m == 0:
                    saliency = W1[i:i + pattern.m] ** 2 / d[i:i + pattern.m, None] ** 2
                    chosen = torch.sort(saliency, dim=0, stable=True).indices[: pattern.n]
                    m1[i:i + pattern.m].scatter_(0, chosen, True)
                    scale[i:i + pattern.m] = m1[i:i + pattern.m] / d[i:i + pattern.m, None]
                torch.mul(w_col[i], scale_col[i], out=err_col[i])
                if i + 1 < j2:
                    W1[i + 1:j2].addr_(U1[i, i + 1:j2], err_col[i], alpha=-1.0)
            if j2 < n:
                W1[j2:].addmm_(U1[j1:j2, j2:].t(), err[j1:j2], alpha=-1.0)
        W1.masked_fill_(m1, 0.0)
        mask[i1:i2] = m1
        if i2 < cols:
            WT[i2:].addmm_(U[i1:i2, i2:].t(), err, alpha=-1.0)
    return mask


SUB = 16  # columns per inner lazy-update block


@torch.no_grad()
def sparsegpt_solve(layers: list[nn.Linear], stats: LayerStats, sparsities: list, pattern: Pattern,
                    blocksize: int = 128, percdamp: float = 0.01) -> list[torch.Tensor]:
    """Prune `layers` (which read one input, so share H) in place with SparseGPT; returns their pruned masks."""
    if any(isinstance(s, torch.Tensor) for s in sparsities):
        raise NotImplementedError("SparseGPT selects its mask per column block; per-row sparsities are not defined")
    if blocksize < 1 or not 0.0 <= percdamp:
        raise ValueError(f"SparseGPT needs blocksize >= 1 and percdamp >= 0, got {blocksize}, {percdamp}")
    device = layers[0].weight.device
    dtype = stats.gram.dtype
    bounds, start = [], 0
    for layer in layers:
        bounds.append((start, start + layer.out_features))
        start += layer.out_features
    WT = torch.empty(layers[0].in_features, start, dtype=dtype, device=device)  # one copy: no list, no cat
    for layer, (r0, r1) in zip(layers, bounds):
        WT[:, r0:r1].copy_(layer.weight.data.t())
    U = inverse_hessian_factor(stats, WT, percdamp).to(device)
    maskT = _sweep(WT, U, bounds, [float(s) for s in sparsities], pattern, blocksize)
    masks = []
    for layer, (r0, r1) in zip(layers, bounds):
        layer.weight.data.copy_(WT[:, r0:r1].t())  # in place: no second copy of the weights stays resident
        masks.append(maskT[:, r0:r1].t().contiguous())
    return masks


def obs_flops(width: int, rows: int) -> float:
    """Least arithmetic of one SparseGPT solve on `rows` stacked rows reading `width` inputs: w^3/3 for the
    Cholesky factor, w^3/3 for its triangular inverse, and r w^2 for the OBS updates (each of the w^2/2 pairs of
    columns i < j updates every row once: a multiply and an add). The pruning-cost benchmark's floor."""
    return 2 * width**3 / 3 + rows * width**2


SPARSEGPT = register(Method(
    "sparsegpt", "OBS mask + weight update (H = 2XX^T, 1% damping, 128-column blocks)", solve=sparsegpt_solve,
    needs={"gram"}, params={"blocksize": 128, "percdamp": 0.01}, group="layer",  # exact per 128-column block
    rule="OBS saliency w²/[U]_jj² (U = chol(H⁻¹)ᵀ, H = 2XᵀX/N + 1% mean-diagonal damping), adaptive mask per "
         "128-column block", update_rule="OBS update of the remaining weights",
    source="Frantar & Alistarh 2023, Alg. 1", solve_flops=obs_flops))
