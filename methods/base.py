"""What a pruning method is, and the registry of methods.

A method is a small value object plugged into the shared engine (`methods.engine`):
  score(W, stats)            -> importance of every weight, higher = keep (the paper's metric)
  update(layer, mask, stats) -> optional change of the surviving weights/bias, called BEFORE the pruned weights
                                are zeroed (so it can still read them; STADE's bias compensation needs that)
  solve(layer, stats, sparsity, pattern) -> optional replacement of score+mask+update for methods whose mask
                                depends on weights they update along the way (SparseGPT's OBS sweep)
  route(info)                -> optional per-layer choice of another method (STADE's split by layer input)
Adding a method = one module that builds a `Method` and calls `register`, plus its import in `methods/__init__`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

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
