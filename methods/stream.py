"""The calibration stream of the sequential protocol: how the engine feeds one decoder block at a time.

  capture: run the model once per calibration batch with every decoder block replaced by a stub that records the
           arguments the model passes that block (attention mask, position ids, rotary embeddings, cache position,
           ...: whatever the architecture computes, per block, so Gemma-3's sliding and full-attention layers each
           get their own) and hands its input on unchanged; block 0's inputs are the stream's start.
  verify:  a short probe checks that the replayed dense stream equals the model's own forward
           (output_hidden_states), so an architecture the engine cannot drive fails loudly, not silently.
  collect: pre-hooks on a block's linears feed one LayerStats per distinct input tensor (_Collector).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional

import torch
from torch import nn
from tqdm.auto import tqdm

from .base import LayerInfo
from .blocks import UnsupportedArchitecture, find_blocks, find_linears, is_norm
from .stats import LayerStats

class _StopForward(Exception):
    pass


@dataclass(frozen=True)
class BlockCall:
    """How the model calls one block for one batch: the positional arguments after the hidden states, and the
    keyword arguments."""

    args: tuple
    kwargs: dict


def _output_like(template: Any, hidden: torch.Tensor) -> Any:
    """`hidden` in the container a block returns (a tensor, or a tuple whose first entry is the hidden states)."""
    if isinstance(template, torch.Tensor):
        return hidden
    if isinstance(template, (tuple, list)):
        return type(template)([hidden, *template[1:]])
    raise UnsupportedArchitecture(f"decoder blocks return {type(template).__name__}; the engine expects a tensor or "
                                  "a tuple starting with the hidden states")


def _block_output(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


@torch.no_grad()
def capture_block_inputs(model: nn.Module, blocks: nn.ModuleList, batches: Iterable[torch.Tensor],
                         device: torch.device) -> tuple[list[torch.Tensor], list[list[BlockCall]]]:
    """Block 0's hidden states per batch, and the call of every block per batch (calls[block][batch])."""
    hidden: list[torch.Tensor] = []
    calls: list[list[BlockCall]] = [[] for _ in blocks]
    learned: dict[str, Any] = {}
    saved = [block.__dict__.get("forward") for block in blocks]  # an instance-level forward (accelerate hooks)

    def stub(i: int, original: Callable):
        def forward(*args, **kwargs):
            if args:
                x, rest = args[0], tuple(args[1:])
            else:
                x, rest = kwargs.pop("hidden_states"), ()
            if i == 0:
                hidden.append(x)
            calls[i].append(BlockCall(rest, dict(kwargs)))
            if i == len(blocks) - 1:
                raise _StopForward  # nothing after the last block is needed
            if "template" not in learned:  # what a block returns, learned from one real call
                learned["template"] = original(x, *rest, **kwargs)
            return _output_like(learned["template"], x)
        return forward

    for i, block in enumerate(blocks):
        block.forward = stub(i, block.forward)
    try:
        for ids in batches:
            try:
                model(input_ids=ids.to(device), use_cache=False)
            except _StopForward:
                pass
    finally:
        for block, forward in zip(blocks, saved):
            del block.forward
            if forward is not None:
                block.forward = forward
    if len(hidden) != len(calls[-1]):
        raise UnsupportedArchitecture(f"{type(model).__name__}: the model did not call every decoder block once per "
                                      "forward pass; the engine cannot replay its blocks")
    return hidden, calls


def _run_block(block: nn.Module, x: torch.Tensor, call: BlockCall) -> torch.Tensor:
    return _block_output(block(x, *call.args, **call.kwargs))


_VERIFIED: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()


@torch.no_grad()
def block_input_errors(model: nn.Module, blocks: nn.ModuleList, ids: torch.Tensor, device: torch.device,
                       metric: str = "max", replay_block0_args: bool = False) -> list[float]:
    """Relative error of the engine's dense stream against the model's own block inputs (output_hidden_states),
    per block: max |x - ref| / max |ref| ("max") or ||x - ref|| / ||ref|| ("l2"). `replay_block0_args` replays
    block 0's captured arguments for every block (what the engine once did; the drift tests show why not)."""
    ids = ids.to(device)
    reference = model(input_ids=ids, use_cache=False, output_hidden_states=True).hidden_states
    if reference is None or len(reference) < len(blocks):
        raise UnsupportedArchitecture(f"{type(model).__name__} does not report the hidden states of every block "
                                      "(output_hidden_states), so the engine's stream cannot be checked")
    hidden, calls = capture_block_inputs(model, blocks, [ids], device)
    x, errors = hidden[0], []
    for b, block in enumerate(blocks):
        ref = reference[b].to(x.dtype)
        if metric == "max":
            errors.append(float((x - ref).abs().max()) / max(float(ref.abs().max()), 1e-12))
        else:
            errors.append(float((x - ref).norm()) / max(float(ref.norm()), 1e-12))
        x = _run_block(block, x, calls[0 if replay_block0_args else b][0])
    return errors


def verify_stream(model: nn.Module, blocks: nn.ModuleList, probe: torch.Tensor, device: torch.device,
                  rtol: float = 1e-3) -> None:
    """The engine's dense stream must equal the inputs the model's own forward gives every block
    (output_hidden_states) on a short probe; otherwise the architecture computes something between blocks that
    the engine does not replay, and an UnsupportedArchitecture error names the first block that differs."""
    if model in _VERIFIED:
        return
    for b, error in enumerate(block_input_errors(model, blocks, probe, device)):
        if error > rtol:
            raise UnsupportedArchitecture(
                f"{type(model).__name__}: the engine's input to decoder block {b} differs from the model's own forward "
                f"by {error:.2%} (relative max error): the model passes its blocks something the engine does not "
                "replay. Pruning would calibrate on a wrong stream, so it is refused.")
    _VERIFIED.add(model)


class _Collector:
    """Pre-hooks on one block: input statistics per linear, shared inputs, and which inputs are norm outputs.

    The first batch runs the whole block, to learn the execution order, which linears read the very same tensor
    and which read a normalisation output. Later batches stop at the last linear's input when `stop_early`
    (nothing the statistics need comes after it), unless some linear ran more than once per pass."""

    def __init__(self, block: nn.Module, needs: Iterable[str], device: torch.device, stop_early: bool,
                 gram_dtype: Optional[torch.dtype] = None) -> None:
        self.linears = find_linears(block)
        self.needs = set(needs)
        self.stats = {n: LayerStats(m.in_features, device=device, needs=self.needs, gram_dtype=gram_dtype)
                      for n, m in self.linears.items()}
        self.leader = {n: n for n in self.linears}
        self.normalized = {n: False for n in self.linears}
        self.order: list[str] = []  # linears in the order they ran (first batch)
        self._first_inputs: dict[str, torch.Tensor] = {}
        self._norm_outputs: list[torch.Tensor] = []
        self._first = True
        self._stop_early = stop_early
        self._calls = 0
        self._seen: set[str] = set()
        self._handles = [m.register_forward_pre_hook(self._linear_hook(n)) for n, m in self.linears.items()]
        self._handles += [m.register_forward_hook(self._norm_hook) for m in block.modules() if is_norm(m)]

    def _linear_hook(self, name: str):
        def hook(module, args):
            x = args[0]
            self._calls += 1
            if self._first and name not in self._first_inputs:
                self._share_if_seen(name, x)
                self._first_inputs[name] = x
                self.order.append(name)
            if self.leader[name] == name:
                self.stats[name].update(x)
            self._seen.add(name)
            if self._stop_early and not self._first and len(self._seen) == len(self.linears):
                raise _StopForward
        return hook

    def _share_if_seen(self, name: str, x: torch.Tensor) -> None:
        """A linear that reads the very tensor an earlier one read shares that one's statistics from the first batch
        on, so that no statistic (a Gram matrix above all) is computed twice for one input."""
        for prev, seen in self._first_inputs.items():
            if seen is x:
                self.leader[name] = self.leader[prev]
                self.stats[name] = self.stats[self.leader[prev]]
                return

    def _norm_hook(self, module, args, out):
        if self._first:
            self._norm_outputs.append(_block_output(out))

    def start_batch(self) -> None:
        self._seen.clear()

    def end_first_batch(self) -> None:
        """Check that every linear ran and mark the norm-fed ones (shared inputs were grouped as they ran)."""
        if not self._first:
            return
        self._first = False
        idle = [n for n in self.linears if n not in self.order]
        if idle:
            raise ValueError(f"linear layers {idle} did not run in their block's forward pass; no calibration "
                             "statistics can be collected for them")
        if self._calls != len(self.linears):  # a linear called twice: its later calls come after the last one
            self._stop_early = False
        for name in self.order:  # shared inputs were grouped as they ran (_share_if_seen)
            self.normalized[name] = any(self._first_inputs[name] is o for o in self._norm_outputs)
        self._first_inputs.clear()
        self._norm_outputs.clear()

    def layer_infos(self, block: int) -> dict[str, LayerInfo]:
        """Each linear's place: norm-fed or not, and attention (up to and including the first linear that reads a
        non-normalised input, the attention output projection) or MLP (the rest), by execution order."""
        infos, part = {}, "attention"
        for name in self.order:
            infos[name] = LayerInfo(name, block, self.normalized[name], part)
            if not self.normalized[name]:
                part = "mlp"
        return infos

    def check_finite(self, block: int) -> None:
        for name in self.order:
            if self.leader[name] == name:
                self.stats[name].check_finite(f"block {block}, input of {name}")

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


class BlockRunner:
    """The calibration stream of the sequential protocol: block inputs of every calibration batch, one block at
    a time. `run` feeds the current inputs through a block (optionally with statistics hooks and keeping the
    outputs); `advance` makes given outputs the next block's inputs. The engine and the allocators that need
    their own sequential passes (NeuroAL) walk the model with it."""

    def __init__(self, model: nn.Module, calib_ids: torch.Tensor, batch_size: int, device: torch.device,
                 verify: bool = True) -> None:
        if calib_ids is None or calib_ids.numel() == 0:
            raise ValueError("the sequential calibration pass needs calibration data")
        _, self.blocks = find_blocks(model)
        self.device = device
        if verify:
            verify_stream(model, self.blocks, calib_ids[:1, :64], device)
        self.inputs, self.calls = capture_block_inputs(model, self.blocks, calib_ids.split(batch_size), device)
        self.position = 0  # the block whose inputs `inputs` holds

    @torch.no_grad()
    def run(self, block: nn.Module, *, collect: bool = False, needs: Iterable[str] = (), keep: bool = False,
            gram_dtype: Optional[torch.dtype] = None) -> tuple[Optional[_Collector], Optional[list[torch.Tensor]]]:
        """One pass of `block` over the current inputs; returns (statistics or None, outputs or None).
        gram_dtype: the Gram matrix's precision (None: float64 on CPU, float32 on accelerators)."""
        collector = (_Collector(block, needs, self.device, stop_early=not keep, gram_dtype=gram_dtype)
                     if collect else None)
        outs = [] if keep else None
        try:
            for x, call in zip(self.inputs, self.calls[self.position]):
                if collector is not None:
                    collector.start_batch()
                try:
                    out = _run_block(block, x, call)
                except _StopForward:
                    out = None
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
        self.position += 1


def dense_statistics(model: nn.Module, calib_ids: torch.Tensor, batch_size: int, device: torch.device | str,
                     progress: bool = False, desc: str = "input statistics",
                     needs: Iterable[str] = ()) -> Iterator[tuple[int, nn.Module, _Collector]]:
    """(block index, block, its input statistics) for every block on the dense model's own stream: nothing is
    pruned, each block's outputs feed the next. For measurements (input centring, outlier features)."""
    runner = BlockRunner(model, calib_ids, batch_size, torch.device(device))
    for b, block in enumerate(tqdm(runner.blocks, desc=desc, disable=not progress)):
        collector, outs = runner.run(block, collect=True, keep=True, needs=needs)
        yield b, block, collector
        runner.advance(outs)
