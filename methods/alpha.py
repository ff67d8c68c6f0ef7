"""AlphaPruning (Lu et al., NeurIPS 2024, "Using Heavy-Tailed Self Regularization Theory for Improved Layer-wise
Pruning of Large Language Models"; official code haiquanlu/AlphaPruning, lib/esd_utils.py and lib/prune.py):
layers whose weight spectrum is more heavy-tailed (smaller power-law exponent alpha: better trained) are pruned less.

Per linear layer, on the dense weights (no data):
  eigenvalues lambda = squared singular values of W (its empirical spectral density), ascending;
  alpha = the Hill estimate 1 + n / (sum_{k>=i} log lambda_k - n log lambda_i) at the xmin = lambda_i whose power-law
          fit has the smallest Kolmogorov-Smirnov distance, xmin restricted to at most 1.5 x the peak of the log10
          histogram (100 bins) ("alpha_peak", the official default; its lower bound compares a log with a linear
          value and so never binds, which we keep: it produced the published numbers).
Mapping (block_wise, the official default): a block's metric is the mean alpha of its linears; the metrics are
mapped linearly onto [1 - epsilon, 1 + epsilon] (epsilon = 0.3, the official default) and scaled so that the
parameter-weighted mean sparsity is the target: S_l = r_l * S * sum p / sum (p r).
"""
from __future__ import annotations

import math

import torch

from .base import Allocation, AllocationContext, Allocator, register_allocator
from .blocks import find_blocks, find_linears
from .offload import onloaded


@torch.no_grad()
def alpha_peak(weight: torch.Tensor, bins: int = 100) -> float:
    """The ESD power-law exponent of one weight matrix, as the official `net_esd_estimator(fix_fingers='xmin_peak')`."""
    eigs = torch.sort(torch.linalg.svdvals(weight.detach().float().cpu()) ** 2).values.double()
    n_all = len(eigs)
    logs = torch.log(eigs)
    log10 = torch.log10(eigs)
    counts = torch.histc(log10, bins, min=float(log10.min()), max=float(log10.max()))
    edges = torch.linspace(float(log10.min()), float(log10.max()), bins + 1)
    peak = 10 ** float(edges[int(torch.argmax(counts))])
    lower, upper = math.log10(0.95 * peak), 1.5 * peak
    best_alpha, best_d = 0.0, float("inf")
    for i in range(n_all - 1):
        xmin = float(eigs[i])
        if xmin < lower:
            continue
        if xmin > upper:
            break
        n = n_all - i
        alpha = 1 + n / float(logs[i:].sum() - n * logs[i])
        if alpha <= 1:
            continue
        seq = torch.arange(n, dtype=torch.float64)
        d = float(torch.max(torch.abs(1 - (eigs[i:] / xmin) ** (-alpha + 1) - seq / n)))
        if d < best_d:
            best_alpha, best_d = alpha, d
    return best_alpha


def allocate_alpha(ctx: AllocationContext) -> Allocation:
    epsilon, mapping = float(ctx.args["epsilon"]), str(ctx.args["mapping"])
    if not 0 <= epsilon < 1:
        raise ValueError(f"AlphaPruning epsilon must be in [0, 1), got {epsilon}")
    if mapping not in ("block_wise", "layer_wise"):
        raise ValueError(f"AlphaPruning mapping must be block_wise or layer_wise, got {mapping!r}")
    _, blocks = find_blocks(ctx.model)
    keys, sizes, alphas = [], [], []
    for b, block in enumerate(blocks):
        with onloaded(block):
            for name, layer in find_linears(block).items():
                keys.append(f"{b}.{name}")
                sizes.append(layer.weight.numel())
                alphas.append(alpha_peak(layer.weight))
    metric = torch.tensor(alphas, dtype=torch.float64)
    if mapping == "block_wise":
        block_of = torch.tensor([int(k.split(".", 1)[0]) for k in keys])
        means = torch.stack([metric[block_of == b].mean() for b in range(len(blocks))])
        metric = means[block_of]
    p = torch.tensor(sizes, dtype=torch.float64)
    spread = metric.max() - metric.min()
    ratios = ((metric - metric.min()) / spread * 2 * epsilon + 1 - epsilon) if spread > 0 else torch.ones_like(metric)
    sparsity = ratios * ctx.sparsity * p.sum() / (p * ratios).sum()
    if sparsity.min() < 0 or sparsity.max() >= 1:
        raise ValueError(f"AlphaPruning with epsilon={epsilon} at sparsity {ctx.sparsity} gives layer sparsities in "
                         f"[{float(sparsity.min()):.3f}, {float(sparsity.max()):.3f}], outside [0, 1); use a smaller "
                         "epsilon")
    return Allocation(dict(zip(keys, sparsity.tolist())),
                      {"alpha": alphas, "metric": metric.tolist(), "block_sparsity":
                       [float(sparsity[[int(k.split(".")[0]) == b for k in keys]].mean()) for b in range(len(blocks))],
                       "forward_passes": 0})


ALPHA = register_allocator(Allocator(
    "alpha", "AlphaPruning: heavier-tailed weight spectra (smaller ESD alpha) pruned less", allocate=allocate_alpha,
    defaults={"epsilon": 0.3, "mapping": "block_wise"}, needs_data=False,
    rule="ESD power-law exponent α of each layer's WᵀW (Hill estimate, xmin near the histogram peak); block mean "
         "of α mapped linearly onto [1−ε, 1+ε]·S, rescaled to the target (ε = 0.3)",
    source="Lu et al., NeurIPS 2024 (AlphaPruning), official defaults alpha_peak, block_wise"))
