"""DSnoT, Dynamic Sparse No Training (Zhang et al., ICLR 2024): training-free refinement of another method's mask.

For output row i of y = Wx, the expected error of the pruned weights P is
    e_i = sum_{j in P} W_ij * mu_j          (mu = the inputs' mean; the official code keeps L * mu_j, L = 2048)
which is exactly what STADE adds to the bias. DSnoT drives it toward zero by swapping, never changing a weight:
each cycle, in every row whose |e_i| is still above the update threshold (0.1, in the official units), one pruned
weight is regrown and one kept weight is pruned:
  regrow: the pruned weight with the largest W_ij mu_j / Var(x_j)^p (p = 1) of the sign that reduces e_i
          (two pointers into that order, one from each end);
  prune:  unstructured, the kept weight with the smallest Wanda score among those whose W_ij mu_j has the sign
          that moves e_i toward 0; N:M, the kept weight with the smallest initial score in the regrown weight's
          group of M (so every group keeps N zeros), and only while the swap keeps the sign of e_i;
for at most 50 cycles. The official defaults also skip the MLP layers (`--skip_layer mlp`); here `skip`
(mlp | attention | none) finds the MLP by execution order, not by name.
Registered on Wanda's mask (`dsnot`, the official default initial method) and on the STADE split (`dsnot_stade`:
the refinement runs before STADE's compensation, which then removes what is left of e_i), so the two ways of
handling the same quantity can be compared directly.
Deviations, for exactness: a row stops when the next regrow candidate is not pruned any more or the next prune
candidate is not kept (the official pointers can run into the other class and change the row's sparsity), and kept
weights with W_ij mu_j = 0 are prune candidates after both signs (the official reordering maps them all to one
index).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from .base import LayerInfo, Method, register
from .masks import Pattern
from .stade import STADE
from .stats import LayerStats
from .wanda import WANDA, wanda_score

PARAMS = {"max_cycles": 50, "update_threshold": 0.1, "var_power": 1.0, "skip": "mlp", "tokens": 2048}


def _regrow_order(metric: torch.Tensor, mask: torch.Tensor, var: torch.Tensor, var_power: float) -> torch.Tensor:
    """Columns of every row sorted by W mu / Var^p over the pruned weights (kept ones count as 0, in the middle)."""
    regrow = torch.where(mask, metric, torch.zeros_like(metric))
    if var_power:
        regrow = regrow / var.clamp_min(1e-30)[None, :] ** var_power
    return torch.sort(regrow, dim=1, stable=True).indices


def _prune_order(metric: torch.Tensor, wanda: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Kept columns of every row: negative W mu by increasing Wanda score, then W mu = 0, then positive W mu by
    decreasing Wanda score (so the last one is the positive candidate with the smallest score); pruned columns are
    never reached (rows stop before)."""
    rank = torch.sort(torch.where(mask, torch.full_like(wanda, float("inf")), wanda), dim=1, stable=True).indices
    m = torch.gather(metric, 1, rank)
    kept = ~torch.gather(mask, 1, rank)
    n = metric.shape[1]
    pos = torch.arange(n, device=metric.device, dtype=torch.float64).expand_as(m)
    key = torch.where(m < 0, pos, torch.where(m == 0, n + pos, 3 * n - pos))  # negatives, zeros, positives reversed
    key = torch.where(kept, key, 4 * n + pos)  # pruned columns at the very end
    return torch.gather(rank, 1, torch.sort(key, dim=1, stable=True).indices)


@torch.no_grad()
def _refine_unstructured(mask, metric, wanda, var, max_cycles, threshold, var_power) -> torch.Tensor:
    rows, cols = mask.shape
    regrow_idx = _regrow_order(metric, mask, var, var_power)
    kept_count = int((~mask[0]).sum()) if rows else 0
    prune_idx = _prune_order(metric, wanda, mask)
    e = torch.where(mask, metric, torch.zeros_like(metric)).sum(dim=1)
    r = torch.arange(rows, device=mask.device)
    regrow_ptr = torch.stack([torch.zeros(rows, dtype=torch.long, device=mask.device),
                              torch.full((rows,), cols - 1, dtype=torch.long, device=mask.device)], dim=1)
    prune_ptr = torch.stack([torch.zeros(rows, dtype=torch.long, device=mask.device),
                             (~mask).sum(dim=1) - 1], dim=1)
    active = torch.ones(rows, dtype=torch.bool, device=mask.device)
    for _ in range(max_cycles):
        active &= e.abs() > threshold
        if not bool(active.any()) or kept_count == 0:
            break
        side_g = (e > 0).long()  # e > 0: regrow a positive one (from the top); else a negative one (bottom)
        side_p = (e < 0).long()  # e < 0: prune a positive one (the end of the prune order); else a negative one
        ptr_g, ptr_p = regrow_ptr[r, side_g], prune_ptr[r, side_p]
        valid = (ptr_g >= 0) & (ptr_g < cols) & (ptr_p >= 0) & (ptr_p < cols)
        j_g = regrow_idx[r, ptr_g.clamp(0, cols - 1)]
        j_p = prune_idx[r, ptr_p.clamp(0, cols - 1)]
        active &= valid & mask[r, j_g] & ~mask[r, j_p]
        mask[r[active], j_g[active]] = False
        mask[r[active], j_p[active]] = True
        e = e + torch.where(active, metric[r, j_p] - metric[r, j_g], torch.zeros_like(e))
        regrow_ptr[r, side_g] += torch.where(side_g == 1, -1, 1)
        prune_ptr[r, side_p] += torch.where(side_p == 1, -1, 1)
    return mask


@torch.no_grad()
def _refine_nm(mask, metric, initial, var, pattern: Pattern, max_cycles, threshold, var_power) -> torch.Tensor:
    rows, cols = mask.shape
    regrow_idx = _regrow_order(metric, mask, var, var_power)
    e = torch.where(mask, metric, torch.zeros_like(metric)).sum(dim=1)
    sign0 = torch.sign(e)
    score = torch.where(mask, torch.full_like(initial, float("inf")), initial.clone())
    ceiling = float(score[torch.isfinite(score)].max()) + 1 if bool(torch.isfinite(score).any()) else 1.0
    r = torch.arange(rows, device=mask.device)
    regrow_ptr = torch.stack([torch.zeros(rows, dtype=torch.long, device=mask.device),
                              torch.full((rows,), cols - 1, dtype=torch.long, device=mask.device)], dim=1)
    offsets = torch.arange(pattern.m, device=mask.device)
    active = torch.ones(rows, dtype=torch.bool, device=mask.device)
    for _ in range(max_cycles):
        side_g = (e > 0).long()
        ptr_g = regrow_ptr[r, side_g]
        j_g = regrow_idx[r, ptr_g.clamp(0, cols - 1)]
        start = j_g - j_g % pattern.m
        group = start[:, None] + offsets[None, :]
        j_p = torch.gather(group, 1, torch.gather(score, 1, group).argmin(dim=1, keepdim=True))[:, 0]
        e_after = e + metric[r, j_p] - metric[r, j_g]
        active &= (sign0 == torch.sign(e_after)) & (e.abs() > threshold)
        active &= (ptr_g >= 0) & (ptr_g < cols) & mask[r, j_g] & ~mask[r, j_p]
        if not bool(active.any()):
            break
        score[r, j_p] = ceiling  # as the official code: the candidate is used up in every row
        mask[r[active], j_g[active]] = False
        mask[r[active], j_p[active]] = True
        e = torch.where(active, e_after, e)
        regrow_ptr[r, side_g] += torch.where(side_g == 1, -1, 1)
    return mask


@torch.no_grad()
def dsnot_refine(weight: torch.Tensor, mask: torch.Tensor, stats: LayerStats, info: LayerInfo, pattern: Pattern,
                 max_cycles: int = 50, update_threshold: float = 0.1, var_power: float = 1.0, skip: str = "mlp",
                 tokens: int = 2048) -> torch.Tensor:
    """The refined mask (True = pruned) of one layer; weights are not touched."""
    if skip not in ("mlp", "attention", "none"):
        raise ValueError(f"DSnoT skip must be mlp, attention or none, got {skip!r}")
    if info.part == skip or max_cycles <= 0:
        return mask
    W = weight.double()
    metric = W * (stats.mean.to(W.device) * tokens)[None, :]
    initial = wanda_score(weight, stats).to(W.device)
    var = stats.var.to(W.device)
    mask = mask.clone()
    if pattern.is_nm:
        return _refine_nm(mask, metric, initial, var, pattern, max_cycles, update_threshold, var_power)
    return _refine_unstructured(mask, metric, initial, var, max_cycles, update_threshold, var_power)


def with_dsnot(base: Method, name: str, summary: str) -> Method:
    """`base` (or every branch of a routed base) with DSnoT's refinement between its mask and its update."""
    if base.route is not None:
        branches = {flag: with_dsnot(base.route(LayerInfo("", 0, flag)), f"{name}_{'wanda' if flag else 'stade'}",
                                     summary) for flag in (False, True)}
        return replace(base, name=name, summary=summary, route=lambda info: branches[info.normalized_input],
                       params=PARAMS, args=PARAMS, rule=f"{base.rule}; mask refined by DSnoT")
    return replace(base, name=name, summary=summary, refine=dsnot_refine, params={**base.params, **PARAMS},
                   args={**base.params, **PARAMS}, rule=f"{base.rule}; mask refined by DSnoT swaps")


_RULE = ("e_i = Σ_{j pruned} W_ij μ_j driven to 0 by swapping: regrow the pruned weight with the largest "
         "W_ij μ_j / Var(x_j) of the sign that reduces e_i, prune the kept one with the smallest Wanda score of the "
         "opposite sign; ≤ 50 cycles, threshold 0.1; weights unchanged (MLP layers skipped, as the official default)")
DSNOT = register(replace(with_dsnot(WANDA, "dsnot", "DSnoT swaps on Wanda's mask (no weight update)"),
                         rule="Wanda's mask, then " + _RULE, source="Zhang et al., ICLR 2024 (DSnoT)"))
DSNOT_STADE = register(replace(with_dsnot(STADE, "dsnot_stade", "DSnoT swaps on the STADE split's mask, then "
                                          "STADE's compensation"),
                               rule="the `stade` split's mask, then " + _RULE + "; then STADE's compensation",
                               update_rule="STADE's bias compensation on o_proj/down_proj-like layers",
                               source="DSnoT (Zhang et al. 2024) on STADE's mask (ours)"))
