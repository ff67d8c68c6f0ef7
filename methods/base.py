"""What a pruning method is, and the one registry of methods (weights, structured, the dense reference).

A method is a small value object plugged into the shared engine (`methods.engine`):
  score(W, stats, **args)      -> importance of every weight, higher = keep (the paper's metric)
  refine(W, mask, stats, info, **args) -> optional change of the mask before any weight moves (DSnoT's swaps)
  update(layer, mask, stats, **args)   -> optional change of the surviving weights/bias, called BEFORE the pruned
                                  weights are zeroed (so it can still read them; STADE's bias compensation needs that)
  solve(layers, stats, sparsities, pattern, **args) -> optional replacement of score+mask+update for methods whose
                                  mask depends on weights they update along the way (SparseGPT's OBS sweep); it gets
                                  every layer that reads one input at once (they share the statistics)
  route(info)                  -> optional per-layer choice of another method (STADE's split by layer input)
  group                        -> where scores are compared: per output row (default), per input column, per layer
  params                       -> the method's hyper-parameters and their defaults (`--method-args a=0.5`)
  needs                        -> extra statistics: "gram" (X^T X), "abs_mean", "grad" (squared LM-loss gradients)
Structured methods (`kind="structured"`) remove whole heads and channels (methods/structured/); the dense
reference (`kind="dense"`) prunes nothing. Adding a method = one module that builds a `Method` and calls
`register`, plus its import in `methods/__init__`; it then appears in `python -m methods list`, the README's method
table and every experiment that takes `--add-method`.

An allocator decides how much to prune where (OWL, NeuroAL, AlphaPruning): given the model, the scorer and the
calibration data it returns an `Allocation`, the sparsity of every prunable layer ("block.name" -> float, or one
value per output row), whose mean over parameters is the target. The engine takes it as its per-layer plan, so
every allocator composes with every scorer.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional, Union

import torch
from torch import nn

from .registry import Registry
from .stats import LayerStats

KINDS = ("weights", "structured", "dense")


@dataclass(frozen=True)
class LayerInfo:
    """Where a linear layer sits: its name inside the decoder block, the block index, whether its input is the output
    of a normalisation module (LayerNorm/RMSNorm), found by tensor identity in a forward pass, and whether it belongs
    to the block's attention (up to and including the attention output projection) or to its MLP."""

    name: str
    block: int
    normalized_input: bool
    part: str = "attention"


def resolve_args(owner: str, defaults: Optional[Mapping[str, Any]], given: Optional[Mapping[str, Any]]) -> dict:
    """`defaults` overridden by `given` (strings from the command line converted to the default's type); an unknown
    name or a value that does not convert is an error naming what is accepted."""
    defaults = dict(defaults or {})
    unknown = sorted(set(given or {}) - set(defaults))
    if unknown:
        known = ", ".join(f"{k}={v}" for k, v in sorted(defaults.items())) or "none"
        raise ValueError(f"{owner} has no argument(s) {unknown}; it accepts: {known}")
    for key, value in (given or {}).items():
        defaults[key] = _convert(owner, key, value, defaults[key])
    return defaults


def _convert(owner: str, key: str, value: Any, default: Any) -> Any:
    if default is None or (type(value) is type(default)):
        return value
    try:
        if isinstance(default, bool):
            text = str(value).strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text in ("true", "1", "yes")
        if isinstance(value, bool):
            raise ValueError
        return type(default)(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: argument {key}={value!r} is not a {type(default).__name__}") from None


@functools.lru_cache(maxsize=None)
def _keywords(fn: Callable) -> Optional[frozenset]:
    """The keyword parameters `fn` accepts (None: it takes **kwargs, so every argument)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params)


def _call(fn: Callable, args: Mapping[str, Any], *positional):
    """fn(*positional, **the method arguments fn declares): score, refine and update of one method each take the
    hyper-parameters they use."""
    accepted = _keywords(fn)
    return fn(*positional, **{k: v for k, v in args.items() if accepted is None or k in accepted})


ScoreFn = Callable[..., torch.Tensor]
UpdateFn = Callable[..., None]
RefineFn = Callable[..., torch.Tensor]
SolveFn = Callable[..., list]


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    score: Optional[ScoreFn] = None
    update: Optional[UpdateFn] = None
    refine: Optional[RefineFn] = None
    solve: Optional[SolveFn] = None
    route: Optional[Callable[[LayerInfo], "Method"]] = None
    needs_data: bool = True
    needs: frozenset = frozenset()
    group: str = "row"  # comparison group of the mask: "row" (per output), "column" (per input) or "layer"
    kind: str = "weights"
    params: Mapping[str, Any] = field(default_factory=dict)
    args: Mapping[str, Any] = field(default_factory=dict)  # the bound values of `params` (defaults unless given)
    adds_bias: bool = False  # its update creates biases (STADE's compensation): saving must be able to keep them
    nm: bool = True  # supports N:M patterns
    structured: Any = None  # the structured rule (methods/structured/), for kind == "structured"
    rule: str = ""  # the README table's "score / rule" cell
    update_rule: str = ""  # the README table's "update" cell
    source: str = ""  # the paper (and equation) it implements
    solve_flops: Optional[Callable[[int, int], float]] = None  # least arithmetic of one solve (width, stacked rows)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"method {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "args", MappingProxyType(dict(self.args or self.params)))
        object.__setattr__(self, "needs", frozenset(self.needs))

    def with_args(self, given: Optional[Mapping[str, Any]]) -> "Method":
        """This method with its parameters bound (`--method-args`); routed branches get the same arguments where
        they declare them."""
        return replace(self, args=resolve_args(f"method {self.name!r}", self.params, given))

    def compared_per(self, group: str) -> "Method":
        """The same scorer with another comparison group, named `<name>_<group>` (the Wanda paper's ablation)."""
        summary = f"{self.summary.replace(' per output row', '')}, compared per {'input column' if group == 'column' else group}"
        return replace(self, name=f"{self.name}_{group}", summary=summary, group=group, nm=False,
                       rule=f"{self.rule}, compared per {'input column' if group == 'column' else group}")

    def for_layer(self, info: LayerInfo) -> "Method":
        if self.route is None:
            return self
        chosen = self.route(info)
        shared = {k: v for k, v in self.args.items() if k in chosen.params}
        return chosen.with_args(shared) if shared else chosen

    def variants(self) -> list["Method"]:
        """The methods this one runs on some layer (both branches of a routed method)."""
        if self.route is None:
            return [self]
        return [self.route(LayerInfo("", 0, normalized_input=flag)) for flag in (False, True)]

    def call_score(self, weight: torch.Tensor, stats: Optional[LayerStats]) -> torch.Tensor:
        return _call(self.score, self.args, weight, stats)

    def call_update(self, layer: nn.Linear, mask: torch.Tensor, stats: LayerStats) -> None:
        _call(self.update, self.args, layer, mask, stats)

    def call_refine(self, weight: torch.Tensor, mask: torch.Tensor, stats: LayerStats, info: LayerInfo,
                    pattern) -> torch.Tensor:
        return _call(self.refine, self.args, weight, mask, stats, info, pattern)

    def call_solve(self, layers: list, stats: LayerStats, sparsities: list, pattern) -> list:
        return _call(self.solve, self.args, layers, stats, sparsities, pattern)

    @property
    def uses_data(self) -> bool:
        return any(m.needs_data for m in self.variants())

    @property
    def all_needs(self) -> frozenset:
        """Every statistic some branch needs (the engine collects them once for the block)."""
        return frozenset().union(*(m.needs for m in self.variants()))

    @property
    def uses_gram(self) -> bool:
        return "gram" in self.all_needs

    @property
    def prunes(self) -> bool:
        return self.kind != "dense"

    @property
    def may_add_bias(self) -> bool:
        return any(m.adds_bias for m in self.variants()) or bool(getattr(self.structured, "compensate", False))


METHODS: Registry[Method] = Registry("method")


def register(method: Method) -> Method:
    return METHODS.add(method.name, method)


def get_method(name: str, args: Optional[Mapping[str, Any]] = None) -> Method:
    """A registered method with its arguments bound (unknown names and arguments: errors naming the known ones)."""
    method = METHODS[name]
    return method.with_args(args) if (args or method.params) else method


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
    `defaults` lists every hyper-parameter the allocator accepts (see --allocator-args)."""

    name: str
    summary: str
    allocate: Optional[Callable[[AllocationContext], Allocation]] = None
    defaults: Optional[dict[str, Any]] = None
    needs_data: bool = True
    rule: str = ""
    source: str = ""

    def resolve_args(self, given: Optional[dict[str, Any]]) -> dict[str, Any]:
        """The allocator's defaults overridden by `given`; unknown names are an error."""
        return resolve_args(f"allocator {self.name!r}", self.defaults, given)


ALLOCATORS: Registry[Allocator] = Registry("allocator")
UNIFORM = ALLOCATORS.add("uniform", Allocator("uniform", "the target sparsity on every layer (the papers' default)",
                                              needs_data=False, rule="the target on every layer"))


def register_allocator(allocator: Allocator) -> Allocator:
    return ALLOCATORS.add(allocator.name, allocator)
