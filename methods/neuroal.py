"""NeuroAL / NeuronAl (Cunegatti et al. 2024, arXiv 2411.07066): choose block- and row-wise sparsities that keep
the pruned model's neuron activations aligned with the dense model's. No retraining, no gradients.

Alignment of one candidate allocation (a sequential pass over a few calibration samples):
  for each block l, on the stream h already pruned by blocks < l:
    a_d = per-input-channel activation norm of every linear of block l, dense block on h
    prune block l with the chosen scorer at the candidate sparsities (statistics from the dense pass)
    a_s = the same norms with the pruned block on h; restore the dense weights; h <- pruned block(h)
  F = sum over blocks and linears of || a_d / sum(a_d) - a_s / sum(a_s) ||_2 / n_in
Layers whose inputs do not depend on the block's pruning (q/k/v, gate/up's shared input in the next block...)
contribute 0, as in the official code.

Step 1 (block): a linear depth schedule s_i = S - lambda + 2 lambda i / (L - 1) (sparsity grows with depth, mean
  S), for lambda in {0.01..0.10, 0.12, 0.15, 0.20, 0.25} (0.25 dropped when S >= 0.8); keep argmin_lambda F (first
  on ties) and the winner's signed differences a_d - a_s.
Step 2 (row; skipped for solvers such as SparseGPT whose masks are not per-row): the rows of a layer are
  re-weighted by the input difference of the layer that consumes its output (q/k/v -> o_proj, o_proj -> gate/up,
  gate/up -> down_proj; found by execution order and width, no layer names): x = that difference,
  r = 2 lambda * min-max(x), row sparsity = s_layer - (r - mean r) (larger drop -> fewer pruned),
  lambda in {0, 0.01..0.10, 0.12, 0.15, 0.20, 0.25}, argmin F. Layers without a consumer in their block, layers
  whose consumer difference is all zero, and every layer of the last block keep the block's sparsity (official).
Deviations from the official code, for exactness: sparsities are clipped to [0.01, 0.99] as there, but the excess
is then spread over the unclipped entries so that every mean (global, per layer) stays the target.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .base import Allocation, AllocationContext, Allocator, LayerSparsity, Method, register_allocator
from .engine import prune_block
from .stream import BlockRunner
from .offload import onloaded
from .gradients import gradient_square_sums
from .stats import NEEDS
from .masks import Pattern
from .owl import block_layers, block_params

BLOCK_GRID = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.12, 0.15, 0.20, 0.25)
ROW_GRID = (0.0,) + BLOCK_GRID
CLIP = (0.01, 0.99)


def clip_keep_mean(values: torch.Tensor, weights: Optional[torch.Tensor] = None, lo: float = CLIP[0],
                   hi: float = CLIP[1]) -> torch.Tensor:
    """Clip to [lo, hi] and shift the unclipped entries so that the weighted mean is unchanged."""
    v = values.double().clone()
    w = torch.ones_like(v) if weights is None else weights.double()
    target = float((v * w).sum() / w.sum())
    if not lo <= target <= hi:
        raise ValueError(f"mean sparsity {target:.4f} is outside [{lo}, {hi}]")
    for _ in range(len(v) + 1):
        v = v.clamp(lo, hi)
        excess = float((v * w).sum() / w.sum()) - target
        free = (v > lo) & (v < hi) if excess else torch.zeros_like(v, dtype=torch.bool)
        if abs(excess) < 1e-12 or not free.any():
            break
        v[free] -= excess * w.sum() / w[free].sum()
    return v


def depth_schedule(n_blocks: int, sizes: Sequence[int], target: float, lam: float) -> list[float]:
    """s_i = S - lambda + 2 lambda i / (L - 1), centred on S (parameter-weighted), then clipped keeping the mean."""
    i = torch.arange(n_blocks, dtype=torch.float64)
    slope = 2 * lam * i / max(n_blocks - 1, 1)
    w = torch.tensor(sizes, dtype=torch.float64)
    s = target + slope - (slope * w).sum() / w.sum()
    return clip_keep_mean(s, w).tolist()


def exact_row_counts(fractions: torch.Tensor, width: int, total: int) -> torch.Tensor:
    """Integer pruned counts per row, close to width * fractions, summing to `total` (largest remainder), each
    in [0, width - 1]."""
    ideal = fractions.double() * width
    counts = ideal.floor().long().clamp(0, width - 1)
    remainder = ideal - counts
    while (missing := total - int(counts.sum())) != 0:
        room = counts < width - 1 if missing > 0 else counts > 0
        order = torch.argsort(torch.where(room, remainder if missing > 0 else -remainder,
                                          torch.tensor(float("-inf"), dtype=torch.float64)), descending=True)
        take = order[: min(abs(missing), int(room.sum()))]
        if take.numel() == 0:
            raise ValueError(f"cannot prune {total} weights from {len(counts)} rows of width {width}")
        counts[take] += 1 if missing > 0 else -1
        remainder[take] = 0.0
    return counts


def row_sparsities(diff: torch.Tensor, layer_sparsity: float, lam: float, width: int) -> torch.Tensor:
    """One sparsity per output row: s - (r - mean r), r = 2 lambda min-max(diff), as whole weights per row so
    that the layer prunes exactly as many weights as the uniform per-row rule (rows * floor(width * s))."""
    x = diff.double()
    spread = x.max() - x.min()
    r = (x - x.min()) / spread * 2 * lam if spread > 0 else torch.zeros_like(x)
    fractions = clip_keep_mean(layer_sparsity - (r - r.mean()))
    counts = exact_row_counts(fractions, width, len(x) * int(width * layer_sparsity))
    return counts.double() / width


def _snapshot(linears: dict[str, nn.Linear]) -> dict[str, tuple[torch.Tensor, Optional[torch.Tensor]]]:
    return {n: (m.weight.data.clone(), None if m.bias is None else m.bias.data.clone()) for n, m in linears.items()}


def _restore(linears: dict[str, nn.Linear], saved: dict) -> None:
    for name, layer in linears.items():
        weight, bias = saved[name]
        layer.weight.data.copy_(weight)
        if bias is None:
            layer.register_parameter("bias", None)  # drop a bias a scorer's update created (STADE)
        else:
            layer.bias.data.copy_(bias)


def _activation(stats) -> torch.Tensor:
    """Per-input-channel RMS activation, sqrt(sum_t x_tj^2 / N) (Wanda's statistic, scaled)."""
    return (stats.sq_norm / stats.count).sqrt()


def misalignment(dense: torch.Tensor, sparse: torch.Tensor) -> float:
    """|| a_d / sum(a_d) - a_s / sum(a_s) ||_2 / n  (0 when either vector is all zero)."""
    sd, ss = dense.sum(), sparse.sum()
    if sd <= 0 or ss <= 0:
        return 0.0
    return float(torch.linalg.vector_norm(dense / sd - sparse / ss) / dense.numel())


@torch.no_grad()
def alignment_pass(model: nn.Module, method: Method, calib_ids: torch.Tensor, plan, target: float,
                   batch_size: int, device: torch.device,
                   grads: Optional[dict] = None) -> tuple[float, dict[str, torch.Tensor], dict]:
    """Measure F for one candidate plan; returns (F, signed differences a_d - a_s per layer, consumers).
    The model is left unchanged."""
    runner = BlockRunner(model, calib_ids, batch_size, device)
    total, diffs, consumers = 0.0, {}, {}
    for b, block in enumerate(runner.blocks):
        with onloaded(block):
            dense, _ = runner.run(block, collect=True, needs=method.all_needs & set(NEEDS))
            saved = _snapshot(dense.linears)
            try:
                prune_block(b, dense, method, plan, target, Pattern(), grads)
                sparse, outs = runner.run(block, collect=True, keep=True)
            finally:
                _restore(dense.linears, saved)
        for name in dense.linears:
            a_d, a_s = _activation(dense.stats[name]), _activation(sparse.stats[name])
            total += misalignment(a_d, a_s)
            diffs[f"{b}.{name}"] = (a_d - a_s).cpu()
        consumers.update({f"{b}.{k}": f"{b}.{v}" for k, v in _consumers(dense).items()})
        runner.advance(outs)
    return total, diffs, consumers


def _consumers(collector) -> dict[str, str]:
    """For each linear, the first later linear of the block (in execution order) that reads a different tensor
    of width equal to this layer's output width: q/k/v -> o_proj, o_proj -> gate, gate/up -> down_proj."""
    order, out = collector.order, {}
    for i, name in enumerate(order):
        width = collector.linears[name].out_features
        for later in order[i + 1:]:
            if collector.leader[later] != collector.leader[name] and collector.linears[later].in_features == width:
                out[name] = later
                break
    return out


def _search(label: str, grid: Sequence[float], make_plan, ctx: AllocationContext,
            calib: torch.Tensor, grads: Optional[dict] = None) -> tuple[int, list[float], tuple]:
    """Evaluate F for every lambda of the grid; returns (index of the minimum, F per lambda, the minimum's
    (plan, differences, consumers)). Ties go to the first lambda, as in the official code."""
    objective, best = [], None
    for lam in tqdm(grid, desc=f"NeuroAL {label} search", disable=not ctx.progress):
        plan = make_plan(lam)
        F, diffs, consumers = alignment_pass(ctx.model, ctx.method, calib, plan.__getitem__, ctx.sparsity,
                                             ctx.batch_size, ctx.device, grads)
        if not objective or F < min(objective):
            best = (plan, diffs, consumers)
        objective.append(F)
    return objective.index(min(objective)), objective, best


def allocate_neuroal(ctx: AllocationContext) -> Allocation:
    steps = {s.strip() for s in str(ctx.args["steps"]).split("+") if s.strip()}
    if not steps or steps - {"block", "row"}:
        raise ValueError(f"NeuroAL steps must be 'block', 'row' or 'block+row', got {ctx.args['steps']!r}")
    n_search = int(ctx.args["search_samples"])
    if n_search <= 0:
        raise ValueError(f"NeuroAL search_samples must be positive, got {n_search}")
    calib = ctx.calib_ids[:n_search]
    layers = block_layers(ctx.model)
    widths = {f"{b}.{n}": layer.in_features for b, names in enumerate(layers) for n, layer in names.items()}
    sizes = block_params(ctx.model)
    S = ctx.sparsity
    t0 = time.perf_counter()

    def block_plan(lam: float) -> dict[str, LayerSparsity]:
        s = depth_schedule(len(layers), sizes, S, lam)
        return {f"{b}.{n}": s[b] for b, names in enumerate(layers) for n in names}

    info: dict = {"search_samples": int(calib.shape[0]), "alignment_passes": 0}
    block_grid = [lam for lam in BLOCK_GRID if S < 0.8 or lam < 0.25] if "block" in steps else [0.0]
    grads = (gradient_square_sums(ctx.model, calib, ctx.device, ctx.progress) if "grad" in ctx.method.all_needs
             else None)  # Pruner-Zero's gradients, of the dense model, once
    best, objective, (plan, diffs, consumers) = _search("block", block_grid, block_plan, ctx, calib, grads)
    info.update(block_lambda=block_grid[best], block_grid=block_grid, block_objective=objective,
                alignment_passes=len(block_grid))
    rows_ok = all(m.score is not None and m.solve is None and m.group == "row" for m in ctx.method.variants())
    if "row" in steps and rows_ok:
        last = len(layers) - 1

        def row_plan(lam: float) -> dict[str, LayerSparsity]:
            out = dict(plan)
            for key, consumer in consumers.items():
                if int(key.split(".", 1)[0]) == last or lam == 0:
                    continue
                x = diffs[consumer]
                if x.abs().sum() > 0:
                    out[key] = row_sparsities(x, float(plan[key]), lam, widths[key])
            return out

        best_r, objective_r, (plan, _, _) = _search("row", ROW_GRID, row_plan, ctx, calib, grads)
        info.update(row_lambda=ROW_GRID[best_r], row_grid=list(ROW_GRID), row_objective=objective_r,
                    alignment_passes=info["alignment_passes"] + len(ROW_GRID))
    elif "row" in steps:
        info["row_step"] = f"skipped: {ctx.method.name} does not select per-row masks (official: SparseGPT is block-only)"
    info["block_sparsity"] = depth_schedule(len(layers), sizes, S, info["block_lambda"])
    # each alignment pass runs every block twice over the search samples
    info["forward_passes"] = info["alignment_passes"] * 2 * calib.shape[0] / ctx.calib_ids.shape[0]
    info["search_seconds"] = time.perf_counter() - t0
    return Allocation(plan, info)


NEUROAL = register_allocator(Allocator(
    "neuroal", "block then row sparsities that minimise dense-vs-pruned neuron misalignment (lambda grid search)",
    allocate=allocate_neuroal, defaults={"search_samples": 8, "steps": "block+row"}))
