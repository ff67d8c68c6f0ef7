"""The one layer-wise calibration engine every method runs in (the Wanda/SparseGPT sequential protocol).

The stream (methods/stream.py) captures block 0's inputs and every block's own call arguments, checked against the
model's own forward. Then per block b:
    collect:   one dense pass of block b over the calibration set; pre-hooks feed the LayerStats of every
               nn.Linear in it (layers reading the same input tensor share one LayerStats). When the outputs are not
               needed, the pass stops at the last linear's input (its product would be thrown away);
    solve:     every linear: score -> mask -> update (bias/weights) -> zero the pruned weights; a solver gets all
               layers that share an input at once (SparseGPT: one Hessian, one sweep over q/k/v stacked);
    recompute: run the pruned block again; its outputs are block b+1's inputs ("pruned" propagation).
               With propagate="dense" the dense outputs of the collect pass are used instead (ablation).
Only one block's calibration activations (inputs and outputs) are alive at a time; with --offload only one block's
weights too (methods/offload.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import torch
from torch import nn
from tqdm.auto import tqdm

from .base import LayerInfo, Method
from .blocks import find_blocks, find_linears
from .gradients import gradient_square_sums
from .mapped import trim_heap
from .masks import Pattern, check_sparsity, select
from .offload import check_finite as check_finite_offloaded, is_offloaded, onloaded
from .stats import NEEDS, LayerStats, NonFiniteError
from .stream import BlockRunner, _Collector

# Sparsity of one layer: a float, or a tensor with one value per output row.
LayerSparsity = Union[float, torch.Tensor]
# Maps "block_index.layer_name" -> sparsity; missing layers use the target.
SparsityPlan = Callable[[str], LayerSparsity]


@dataclass
class EngineReport:
    """What the engine measured: seconds per phase, per-layer achieved sparsity, and the layer routing."""

    seconds: dict[str, float] = field(default_factory=lambda: {"capture": 0.0, "collect": 0.0, "solve": 0.0,
                                                                "recompute": 0.0})
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    forward_passes: int = 0

    def add(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - since
        return now


@torch.no_grad()
def prune_layer(layer: nn.Linear, method: Method, stats: Optional[LayerStats], sparsity: LayerSparsity,
                pattern: Pattern, name: str = "layer", info: Optional[LayerInfo] = None) -> torch.Tensor:
    """Score, mask, update and zero one linear layer in place; returns the bool mask of pruned weights."""
    info = info or LayerInfo(name, 0, normalized_input=False)
    return prune_layers([layer], method, stats, [sparsity], pattern, [name], [info])[0]


@torch.no_grad()
def prune_layers(layers: list[nn.Linear], method: Method, stats: Optional[LayerStats], sparsities: list,
                 pattern: Pattern, names: list[str], infos: list[LayerInfo],
                 grads: Optional[list[torch.Tensor]] = None) -> list[torch.Tensor]:
    """Prune layers that read one input (and so share `stats`) in place; returns their masks (True = pruned).
    score -> mask -> refine (the mask may change; no weight has moved) -> update (weights/bias) -> zero."""
    for layer, name in zip(layers, names):
        pattern.check_width(layer.in_features, name)
    if method.solve is not None:
        return method.call_solve(layers, stats, sparsities, pattern)
    masks = []
    for i, (layer, sparsity, info) in enumerate(zip(layers, sparsities, infos)):
        if method.score is None:  # the dense reference: nothing to prune
            masks.append(torch.zeros_like(layer.weight, dtype=torch.bool))
            continue
        layer_stats = stats.with_grad(grads[i]) if grads is not None else stats
        mask = select(method.call_score(layer.weight.data, layer_stats), sparsity, pattern, method.group)
        if method.refine is not None:
            mask = method.call_refine(layer.weight.data, mask, layer_stats, info, pattern)
        if method.update is not None:
            method.call_update(layer, mask, layer_stats)
        layer.weight.data.masked_fill_(mask, 0.0)
        masks.append(mask)
    return masks


def _sparsity_of(plan: Optional[SparsityPlan], key: str, target: float) -> LayerSparsity:
    if plan is None:
        return target
    value = plan(key)
    if not isinstance(value, torch.Tensor):
        check_sparsity(value)
    return value


def prune_block(b: int, collector: _Collector, method: Method, plan: Optional[SparsityPlan], target: float,
                pattern: Pattern, grads: Optional[dict[str, torch.Tensor]] = None) -> dict[str, dict[str, Any]]:
    """Prune every linear of block `b` in place from the statistics its dense pass collected; the layers that read
    one input go to their method together, and a Gram matrix is freed as soon as its readers are solved.
    `grads`: per-layer squared-gradient sums ("block.name" -> tensor) for methods that need them."""
    groups: dict[tuple[str, str], list[str]] = {}
    chosen: dict[str, Method] = {}
    infos = collector.layer_infos(b)
    for name in collector.order:
        chosen[name] = method.for_layer(infos[name])
        groups.setdefault((collector.leader[name], chosen[name].name), []).append(name)
    layers = {}
    for (leader, _), names in groups.items():
        keys = [f"{b}.{n}" for n in names]
        masks = prune_layers([collector.linears[n] for n in names], chosen[names[0]], collector.stats[leader],
                             [_sparsity_of(plan, k, target) for k in keys], pattern, keys, [infos[n] for n in names],
                             [grads[k] for k in keys] if grads is not None else None)
        for name, key, mask in zip(names, keys, masks):
            layers[key] = {"method": chosen[name].name, "normalized_input": collector.normalized[name],
                           "pruned": int(mask.sum()), "numel": mask.numel()}
        if all(collector.leader[n] != leader or f"{b}.{n}" in layers for n in collector.order):
            collector.stats[leader].release_gram()
    if any(m.solve is not None for m in chosen.values()):  # the solvers' float64 buffers are free: pages back
        trim_heap()  # once per block: the block's groups reuse each other's pages (refaulting costs time)
    order = list(collector.linears)
    return {key: layers[key] for key in sorted(layers, key=lambda k: order.index(k.split(".", 1)[1]))}


def check_finite_weights(model: nn.Module) -> None:
    """NonFiniteError naming the first parameter with a NaN or inf value (before any calibration pass)."""
    if is_offloaded(model):
        return check_finite_offloaded(model)
    for name, param in model.named_parameters():
        if param.numel() and not all(map(torch.isfinite, torch.aminmax(param.detach()))):  # NaN/inf reach the extremes
            raise NonFiniteError(f"the model's weights are not finite: {name} holds NaN or inf values (a corrupt "
                                 "checkpoint or a diverged training run); --allow-nonfinite skips this check")


@torch.no_grad()
def prune_model(model: nn.Module, method: Method, calib_ids: Optional[torch.Tensor], sparsity: float,
                pattern: Pattern = Pattern(), *, batch_size: int = 8, device: torch.device | str = "cpu",
                propagate: str = "pruned", plan: Optional[SparsityPlan] = None, progress: bool = True,
                allow_nonfinite: bool = False, check_weights: bool = True,
                gram_dtype: Optional[torch.dtype] = None) -> EngineReport:
    """Prune every nn.Linear inside the decoder blocks of `model` (embeddings and lm_head stay dense).

    calib_ids: [nsamples, seqlen] token ids (None is allowed only for data-free methods).
    sparsity: the target; `plan` may override it per layer (allocators) with a float or a per-row tensor.
    gram_dtype: precision of the Gram matrices solvers read (None: float64 on CPU, float32 on accelerators).
    """
    if propagate not in ("pruned", "dense"):
        raise ValueError(f"propagate must be 'pruned' or 'dense', got {propagate!r}")
    target = pattern.sparsity if pattern.is_nm else check_sparsity(sparsity)
    device = torch.device(device)
    if check_weights and not allow_nonfinite:
        check_finite_weights(model)
    _, blocks = find_blocks(model)
    report = EngineReport()
    desc = f"pruning ({method.name})"
    if not method.uses_data:
        t = time.perf_counter()
        for b, block in enumerate(tqdm(blocks, desc=desc, disable=not progress)):
            with onloaded(block):
                for name, layer in find_linears(block).items():
                    key = f"{b}.{name}"
                    chosen = method.for_layer(LayerInfo(name, b, normalized_input=False))
                    mask = prune_layer(layer, chosen, None, _sparsity_of(plan, key, target), pattern, key)
                    report.layers[key] = {"method": chosen.name, "pruned": int(mask.sum()), "numel": mask.numel()}
        report.add("solve", t)
        return report
    if calib_ids is None or calib_ids.numel() == 0:
        raise ValueError(f"method {method.name!r} needs calibration data")
    t = time.perf_counter()
    grads = None
    if "grad" in method.all_needs:  # Pruner-Zero: LM-loss gradients of the dense model, one backward per sample
        grads = gradient_square_sums(model, calib_ids, device, progress=progress)
        t = report.add("gradients", t)
    runner = BlockRunner(model, calib_ids, batch_size, device)
    offloaded = is_offloaded(model)
    t = report.add("capture", t)
    needs = method.all_needs & set(NEEDS)
    for b, block in enumerate(tqdm(runner.blocks, desc=desc, disable=not progress)):
        with onloaded(block):  # --offload: the block's weights come in once for its three phases
            collector, outs = runner.run(block, collect=True, needs=needs, keep=propagate == "dense",
                                         gram_dtype=gram_dtype)
            if not allow_nonfinite:
                collector.check_finite(b)
            t = report.add("collect", t)
            report.layers.update(prune_block(b, collector, method, plan, target, pattern, grads))
            del collector
            t = report.add("solve", t)
            if propagate == "pruned":
                _, outs = runner.run(block, keep=True)
                t = report.add("recompute", t)
        runner.advance(outs)
        if offloaded:  # the block's weights went back to their store: their freed pages go back to the OS
            trim_heap()
    report.forward_passes = 2 if propagate == "pruned" else 1  # full-model passes over the calibration set
    return report
