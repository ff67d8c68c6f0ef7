"""What a pruning method is, and the registry of methods.

A method is a small value object plugged into the shared engine (`methods.engine`):
  score(W, stats)            -> importance of every weight, higher = keep (the paper's metric)
  update(layer, mask, stats) -> optional change of the surviving weights/bias, called BEFORE the pruned weights
                                are zeroed (so it can still read them; STADE's bias compensation needs that)
  solve(layer, stats, sparsity, pattern) -> optional replacement of score+mask+update for methods whose mask
                                depends on weights they update along the way (SparseGPT's OBS sweep)
  route(info)                -> optional per-layer choice of another method (STADE's split by layer input)
  group                      -> where scores are compared: per output row (default), per input column, per layer
Adding a method = one module that builds a `Method` and calls `register`, plus its import in `methods/__init__`.

An allocator decides how much to prune where (OWL, NeuroAL): given the model, the scorer and the calibration data
it returns an `Allocation`, the sparsity of every prunable layer ("block.name" -> float, or one value per output
row), whose mean over parameters is the target. The engine takes it as its per-layer plan, so every allocator
composes with every scorer.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from .registry import Registry
from .stats import LayerStats


@dataclass(frozen=True)
class LayerInfo:
    """Where a linear layer sits: its name inside the decoder block, the block index, and whether its input
    is the output of a normalisation module (LayerNorm/RMSNorm), found by tensor identity in a forward pass."""

    name: str
    block: int
    normalized_input: bool


ScoreFn = Callable[[torch.Tensor, Optional[LayerStats]], torch.Tensor]
UpdateFn = Callable[[nn.Linear, torch.Tensor, LayerStats], None]
SolveFn = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    score: Optional[ScoreFn] = None
    update: Optional[UpdateFn] = None
    solve: Optional[SolveFn] = None
    route: Optional[Callable[[LayerInfo], "Method"]] = None
    needs_data: bool = True
    needs_gram: bool = False
    group: str = "row"  # comparison group of the mask: "row" (per output), "column" (per input) or "layer"

    def compared_per(self, group: str) -> "Method":
        """The same scorer with another comparison group, named `<name>_<group>` (the Wanda paper's ablation)."""
        summary = f"{self.summary.replace(' per output row', '')}, compared per {'input column' if group == 'column' else group}"
        return replace(self, name=f"{self.name}_{group}", summary=summary, group=group)

    def for_layer(self, info: LayerInfo) -> "Method":
        return self.route(info) if self.route else self

    def variants(self) -> list["Method"]:
        """The methods this one runs on some layer (both branches of a routed method)."""
        if self.route is None:
            return [self]
        return [self.route(LayerInfo("", 0, normalized_input=flag)) for flag in (False, True)]

    @property
    def uses_data(self) -> bool:
        return any(m.needs_data for m in self.variants())

    @property
    def uses_gram(self) -> bool:
        return any(m.needs_gram for m in self.variants())


METHODS: Registry[Method] = Registry("method")


def register(method: Method) -> Method:
    return METHODS.add(method.name, method)


LayerSparsity = Union[float, torch.Tensor]


@dataclass
class AllocationContext:
    """What an allocator may look at. `calib_ids` are the run's calibration samples; an allocator must leave
    `model` exactly as it found it (NeuroAL prunes trial copies of each block and restores them)."""

    model: nn.Module
    method: Method
    calib_ids: Optional[torch.Tensor]
    sparsity: float
    batch_size: int
    device: torch.device
    args: dict[str, Any]
    progress: bool = True


@dataclass
class Allocation:
    """Per-layer (or per-row) sparsities plus what the allocator measured (ratios, chosen lambdas, passes)."""

    sparsities: dict[str, LayerSparsity]
    info: dict[str, Any]

    def __call__(self, key: str) -> LayerSparsity:
        if key not in self.sparsities:
            raise KeyError(f"the allocation has no sparsity for layer {key!r}")
        return self.sparsities[key]


@dataclass(frozen=True)
class Allocator:
    """allocate(context) -> Allocation; None for "uniform" (the target on every layer).
    `defaults` lists every hyper-parameter the allocator accepts (see --allocator_args)."""

    name: str
    summary: str
    allocate: Optional[Callable[[AllocationContext], Allocation]] = None
    defaults: Optional[dict[str, Any]] = None
    needs_data: bool = True

    def resolve_args(self, given: Optional[dict[str, Any]]) -> dict[str, Any]:
        """The allocator's defaults overridden by `given`; unknown names are an error."""
        defaults = dict(self.defaults or {})
        unknown = sorted(set(given or {}) - set(defaults))
        if unknown:
            known = ", ".join(sorted(defaults)) or "none"
            raise ValueError(f"allocator {self.name!r} has no argument(s) {unknown}; it accepts: {known}")
        for key, value in (given or {}).items():
            defaults[key] = type(defaults[key])(value) if defaults[key] is not None else value
        return defaults


ALLOCATORS: Registry[Allocator] = Registry("allocator")
UNIFORM = ALLOCATORS.add("uniform", Allocator("uniform", "the target sparsity on every layer (the papers' default)",
                                              needs_data=False))


def register_allocator(allocator: Allocator) -> Allocator:
    return ALLOCATORS.add(allocator.name, allocator)
