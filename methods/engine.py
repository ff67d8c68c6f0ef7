"""The one layer-wise calibration engine every method runs in (the Wanda/SparseGPT sequential protocol).

  capture: run the model up to decoder block 0 once per calibration batch; keep block 0's hidden states and
           whatever keyword arguments the model passes its blocks (attention mask, position ids, rotary
           embeddings, ...), whatever the architecture.
  per block b:
    collect:   one dense pass of block b over the calibration set, forward hooks feed LayerStats of every
               nn.Linear in it (layers reading the same input tensor share one LayerStats);
    solve:     every linear: score -> mask -> update (bias/weights) -> zero the pruned weights;
    recompute: run the pruned block again; its outputs are block b+1's inputs ("pruned" propagation).
               With propagate="dense" the dense outputs of the collect pass are used instead (ablation).
Only one block's calibration activations (inputs and outputs) are alive at a time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import torch
from torch import nn
from tqdm.auto import tqdm

from .base import LayerInfo, Method
from .masks import Pattern, check_sparsity, select
from .models import find_blocks, find_linears, is_norm
from .stats import LayerStats

# Sparsity of one layer: a float, or a tensor with one value per output row.
LayerSparsity = Union[float, torch.Tensor]
# Maps "block_index.layer_name" -> sparsity; missing layers use the target.
SparsityPlan = Callable[[str], LayerSparsity]


class _StopForward(Exception):
    pass


@dataclass
class EngineReport:
    """What the engine measured: seconds per phase, per-layer achieved sparsity, and the layer routing."""

    seconds: dict[str, float] = field(default_factory=lambda: {"capture": 0.0, "collect": 0.0, "solve": 0.0,
                                                                "recompute": 0.0})
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    forward_passes: int = 0

    def add(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[phase] += now - since
        return now


@torch.no_grad()
def capture_block_inputs(model: nn.Module, blocks: nn.ModuleList, batches: Iterable[torch.Tensor],
                         device: torch.device) -> tuple[list[torch.Tensor], list[dict]]:
    """Run the model up to block 0 for each batch of token ids; return block 0's hidden states and kwargs."""
    hidden, kwargs_list = [], []

    def grab(module, args, kwargs):
        hidden.append(args[0] if args else kwargs.pop("hidden_states"))
        kwargs_list.append(dict(kwargs))
        raise _StopForward

    handle = blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        for ids in batches:
            try:
                model(input_ids=ids.to(device), use_cache=False)
            except _StopForward:
                pass
    finally:
        handle.remove()
    return hidden, kwargs_list


def _block_output(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


class _Collector:
    """Forward hooks on one block: input statistics per linear, shared inputs, and which inputs are norm outputs."""

    def __init__(self, block: nn.Module, gram: bool, device: torch.device) -> None:
        self.linears = find_linears(block)
        self.stats = {n: LayerStats(m.in_features, gram=gram, device=device) for n, m in self.linears.items()}
        self.leader = {n: n for n in self.linears}
        self.normalized = {n: False for n in self.linears}
        self._first_inputs: dict[str, torch.Tensor] = {}
        self._norm_outputs: list[torch.Tensor] = []
        self._first = True
        self.order: list[str] = []  # linears in the order they ran (first batch)
        self._handles = [m.register_forward_hook(self._linear_hook(n)) for n, m in self.linears.items()]
        self._handles += [m.register_forward_hook(self._norm_hook) for m in block.modules() if is_norm(m)]

    def _linear_hook(self, name: str):
        def hook(module, args, out):
            x = args[0]
            if self._first and name not in self._first_inputs:
                self._first_inputs[name] = x
                self.order.append(name)
            if self.leader[name] == name:
                self.stats[name].update(x)
        return hook

    def _norm_hook(self, module, args, out):
        if self._first:
            self._norm_outputs.append(_block_output(out))

    def end_first_batch(self) -> None:
        """Group layers that read the very same tensor (q/k/v, gate/up) and mark norm-fed layers."""
        if not self._first:
            return
        self._first = False
        idle = [n for n in self.linears if n not in self.order]
        if idle:
            raise ValueError(f"linear layers {idle} did not run in their block's forward pass; no calibration "
                             "statistics can be collected for them")
        names = self.order
        for i, name in enumerate(names):
            x = self._first_inputs[name]
            self.normalized[name] = any(x is o for o in self._norm_outputs)
            for prev in names[:i]:
                if self._first_inputs[prev] is x:
                    self.leader[name] = self.leader[prev]
                    self.stats[name] = self.stats[self.leader[prev]]
                    break
        self._first_inputs.clear()
        self._norm_outputs.clear()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


@torch.no_grad()
def prune_layer(layer: nn.Linear, method: Method, stats: Optional[LayerStats], sparsity: LayerSparsity,
                pattern: Pattern, name: str = "layer") -> torch.Tensor:
    """Score, mask, update and zero one linear layer in place; returns the bool mask of pruned weights."""
    pattern.check_width(layer.in_features, name)
    if method.solve is not None:
        return method.solve(layer, stats, sparsity, pattern)
    if method.score is None:  # the dense reference: nothing to prune
        return torch.zeros_like(layer.weight, dtype=torch.bool)
    score = method.score(layer.weight.data, stats)
    mask = select(score, sparsity, pattern, method.group)
    if method.update is not None:
        method.update(layer, mask, stats)
    layer.weight.data.masked_fill_(mask, 0.0)
    return mask


def _sparsity_of(plan: Optional[SparsityPlan], key: str, target: float) -> LayerSparsity:
    if plan is None:
        return target
    value = plan(key)
    if not isinstance(value, torch.Tensor):
        check_sparsity(value)
    return value


class BlockRunner:
    """The calibration stream of the sequential protocol: block inputs of every calibration batch, one block at
    a time. `run` feeds the current inputs through a block (optionally with statistics hooks and keeping the
    outputs); `advance` makes given outputs the next block's inputs. The engine and the allocators that need
    their own sequential passes (NeuroAL) walk the model with it."""

    def __init__(self, model: nn.Module, calib_ids: torch.Tensor, batch_size: int, device: torch.device) -> None:
        if calib_ids is None or calib_ids.numel() == 0:
            raise ValueError("the sequential calibration pass needs calibration data")
        _, self.blocks = find_blocks(model)
        self.device = device
        self.inputs, self.kwargs = capture_block_inputs(model, self.blocks, calib_ids.split(batch_size), device)

    @torch.no_grad()
    def run(self, block: nn.Module, *, collect: bool = False, gram: bool = False,
            keep: bool = False) -> tuple[Optional[_Collector], Optional[list[torch.Tensor]]]:
        """One pass of `block` over the current inputs; returns (statistics or None, outputs or None)."""
        collector = _Collector(block, gram, self.device) if collect else None
        outs = [] if keep else None
        try:
            for x, kw in zip(self.inputs, self.kwargs):
                out = _block_output(block(x, **kw))
                if collector is not None:
                    collector.end_first_batch()
                if keep:
                    outs.append(out)
        finally:
            if collector is not None:
                collector.remove()
        return collector, outs

    def advance(self, outputs: list[torch.Tensor]) -> None:
        self.inputs = outputs


def dense_statistics(model: nn.Module, calib_ids: torch.Tensor, batch_size: int, device: torch.device | str,
                     progress: bool = False, desc: str = "input statistics") -> Iterator[tuple[int, nn.Module, _Collector]]:
    """(block index, block, its input statistics) for every block on the dense model's own stream: nothing is
    pruned, each block's outputs feed the next. For measurements (input centring, outlier features)."""
    runner = BlockRunner(model, calib_ids, batch_size, torch.device(device))
    for b, block in enumerate(tqdm(runner.blocks, desc=desc, disable=not progress)):
        collector, outs = runner.run(block, collect=True, keep=True)
        yield b, block, collector
        runner.advance(outs)


def prune_block(b: int, collector: _Collector, method: Method, plan: Optional[SparsityPlan], target: float,
                pattern: Pattern) -> dict[str, dict[str, Any]]:
    """Prune every linear of block `b` in place from the statistics its dense pass collected."""
    layers = {}
    for name, layer in collector.linears.items():
        key = f"{b}.{name}"
        info = LayerInfo(name, b, collector.normalized[name])
        chosen = method.for_layer(info)
        mask = prune_layer(layer, chosen, collector.stats[name], _sparsity_of(plan, key, target), pattern, key)
        layers[key] = {"method": chosen.name, "normalized_input": info.normalized_input,
                       "pruned": int(mask.sum()), "numel": mask.numel()}
    return layers


@torch.no_grad()
def prune_model(model: nn.Module, method: Method, calib_ids: Optional[torch.Tensor], sparsity: float,
                pattern: Pattern = Pattern(), *, batch_size: int = 8, device: torch.device | str = "cpu",
                propagate: str = "pruned", plan: Optional[SparsityPlan] = None,
                progress: bool = True) -> EngineReport:
    """Prune every nn.Linear inside the decoder blocks of `model` (embeddings and lm_head stay dense).

    calib_ids: [nsamples, seqlen] token ids (None is allowed only for data-free methods).
    sparsity: the target; `plan` may override it per layer (allocators) with a float or a per-row tensor.
    """
    if propagate not in ("pruned", "dense"):
        raise ValueError(f"propagate must be 'pruned' or 'dense', got {propagate!r}")
    target = pattern.sparsity if pattern.is_nm else check_sparsity(sparsity)
    device = torch.device(device)
    _, blocks = find_blocks(model)
    report = EngineReport()
    desc = f"pruning ({method.name})"
    if not method.uses_data:
        t = time.perf_counter()
        for b, block in enumerate(tqdm(blocks, desc=desc, disable=not progress)):
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
    runner = BlockRunner(model, calib_ids, batch_size, device)
    t = report.add("capture", t)
    for b, block in enumerate(tqdm(runner.blocks, desc=desc, disable=not progress)):
        collector, outs = runner.run(block, collect=True, gram=method.uses_gram, keep=propagate == "dense")
        t = report.add("collect", t)
        report.layers.update(prune_block(b, collector, method, plan, target, pattern))
        del collector
        t = report.add("solve", t)
        if propagate == "pruned":
            _, outs = runner.run(block, keep=True)
            t = report.add("recompute", t)
        runner.advance(outs)
    report.forward_passes = 2 if propagate == "pruned" else 1  # full-model passes over the calibration set
    return report
