"""Structured pruning: remove whole attention-head groups and MLP channels, for a smaller, faster model.

The structures of a decoder block are found from one forward pass (no layer names): the two linears that read a
non-normalised input are the attention output projection (o_proj / out_proj, input = concatenated head outputs)
and the MLP output projection (down_proj / fc2, input = the intermediate channels); the linears executed before
each of them since the previous one are its producers (q/k/v; gate/up or fc1).
- a head group g = one key/value head with its query heads (grouped-query attention keeps its ratio): rows of the
  producers that belong to g, and the matching input columns of the output projection;
- an MLP channel j: row j of every MLP producer and column j of the MLP output projection.
The pruning ratio p is the share of attention + MLP linear parameters removed (embeddings, norms and lm_head are
not counted; no block is skipped), the FLAP / LLM-Pruner convention.

Scorers give one importance per input channel of an output projection (higher = keep); a head group's score
reduces its channels (sum or mean). Baselines (An et al. 2024, FLAP's code, which also defines Wanda-sp):
  magnitude_sp  S_j = ||W[:, j]||_2                                    (no data)
  wanda_sp      S_j = mean_i |W_ij| * ||X_j||_2                        head = sum of its channels, uniform
  flap          S_j = Var(X_j) * ||W[:, j]||_2^2 (squared again for attention, as the code does), standardised
                per module and block, head = mean; global allocation by parameter cost; bias compensation
                b += sum_{j removed} W[:, j] * mean(X_j); statistics from the dense model.
LLM-BIP lives in methods/bip.py.

Allocation: `uniform` removes round(p * G) head groups of every block and fills the rest of the block's
parameter budget with MLP channels (so every block, and the model, is within one structure of p); `block` ranks a
block's groups and channels together by score per parameter (scores on one scale, LLM-BIP) within the same
per-block budget; `global`
removes the lowest standardised scores anywhere until p of the parameters are gone (FLAP's AL-AM), never the
last group or channel of a block.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn
from tqdm import tqdm

from .models import UnsupportedArchitecture, find_blocks
from .registry import Registry
from .stats import LayerStats


@dataclass
class BlockUnits:
    """The prunable structures of one decoder block (names are relative to the block)."""

    attn_producers: list[str]
    attn_consumer: str
    mlp_producers: list[str]
    mlp_consumer: str
    head_dim: int

    def linear(self, block: nn.Module, name: str) -> nn.Linear:
        return block.get_submodule(name)

    def heads(self, block: nn.Module) -> tuple[int, int]:
        """(query heads, key/value heads) of this block, read from the weights' shapes."""
        q = self.linear(block, self.attn_consumer).in_features // self.head_dim
        kv = min(self.linear(block, n).out_features for n in self.attn_producers) // self.head_dim
        return q, kv

    def group_channels(self, block: nn.Module, g: int) -> torch.Tensor:
        """Input channels of the attention output projection that belong to head group g."""
        q, kv = self.heads(block)
        per = (q // kv) * self.head_dim
        return torch.arange(g * per, (g + 1) * per)

    def producer_rows(self, block: nn.Module, name: str, groups: list[int]) -> torch.Tensor:
        q, kv = self.heads(block)
        rows_per_head_group = self.linear(block, name).out_features // kv  # a query projection has q/kv heads each
        return torch.cat([torch.arange(g * rows_per_head_group, (g + 1) * rows_per_head_group) for g in groups]) \
            if groups else torch.zeros(0, dtype=torch.long)

    def group_params(self, block: nn.Module) -> int:
        """Parameters removed with one head group (weights and biases of the producers' rows, consumer columns)."""
        q, kv = self.heads(block)
        total = sum(_rows_params(self.linear(block, n)) * (self.linear(block, n).out_features // kv)
                    for n in self.attn_producers)
        return total + self.linear(block, self.attn_consumer).out_features * (q // kv) * self.head_dim

    def channel_params(self, block: nn.Module) -> int:
        return (sum(_rows_params(self.linear(block, n)) for n in self.mlp_producers)
                + self.linear(block, self.mlp_consumer).out_features)

    def block_params(self, block: nn.Module) -> int:
        names = self.attn_producers + [self.attn_consumer] + self.mlp_producers + [self.mlp_consumer]
        return sum(p.numel() for n in names for p in self.linear(block, n).parameters())

    def to_dict(self) -> dict:
        return {"attn_producers": self.attn_producers, "attn_consumer": self.attn_consumer,
                "mlp_producers": self.mlp_producers, "mlp_consumer": self.mlp_consumer, "head_dim": self.head_dim}


def _rows_params(layer: nn.Linear) -> int:
    """Parameters in one output row of a linear (its weights and its bias entry)."""
    return layer.in_features + (1 if layer.bias is not None else 0)


def head_dim_of(config: Any) -> int:
    heads = getattr(config, "num_attention_heads", None)
    hd = getattr(config, "head_dim", None) or (config.hidden_size // heads if heads else None)
    if not hd:
        raise UnsupportedArchitecture(f"{type(config).__name__}: no head_dim / num_attention_heads in the config")
    return int(hd)


def discover_units(collector, head_dim: int) -> BlockUnits:
    """The block's structures from the execution order and which linears read a normalisation output."""
    order = collector.order
    consumers = [n for n in order if not collector.normalized[n]]
    if len(consumers) != 2:
        raise UnsupportedArchitecture(
            f"structured pruning needs exactly two linears per block that read a non-normalised input (the attention "
            f"and MLP output projections); found {consumers}")
    first = order.index(consumers[0])
    attn, mlp = order[:first], order[first + 1:order.index(consumers[1])]
    units = BlockUnits(attn, consumers[0], mlp, consumers[1], head_dim)
    linears = collector.linears
    width = linears[consumers[0]].in_features
    if not attn or not mlp or width % head_dim:
        raise UnsupportedArchitecture(f"unexpected block layout: attention {attn} -> {consumers[0]}, MLP {mlp} -> "
                                      f"{consumers[1]}, head_dim {head_dim}")
    q, kv = width // head_dim, min(linears[n].out_features for n in attn) // head_dim
    if any(linears[n].out_features not in (q * head_dim, kv * head_dim) for n in attn) or q % kv:
        raise UnsupportedArchitecture(f"attention projections {attn} are not {q} query / {kv} key-value heads of "
                                      f"{head_dim}")
    if any(linears[n].out_features != linears[consumers[1]].in_features for n in mlp):
        raise UnsupportedArchitecture(f"MLP producers {mlp} do not all feed the {consumers[1]} input width")
    return units


# --------------------------------------------------------------------------------------------------- scorers
ChannelScore = Callable[[nn.Module, BlockUnits, str, Optional[LayerStats]], torch.Tensor]


@dataclass(frozen=True)
class StructuredMethod:
    """score(block, units, kind, stats) -> one importance per input channel of the `kind` ("attn" | "mlp") output
    projection; `head_reduce` turns a head group's channels into one score."""

    name: str
    summary: str
    score: ChannelScore
    head_reduce: str = "sum"
    allocation: str = "uniform"
    standardize: bool = False
    compensate: bool = False
    propagate: str = "pruned"  # statistics of block b from the pruned (Wanda-sp) or dense (FLAP, BIP) stream
    needs_data: bool = True


STRUCTURED: Registry[StructuredMethod] = Registry("structured method")


def register_structured(method: StructuredMethod) -> StructuredMethod:
    return STRUCTURED.add(method.name, method)


def _consumer_weight(block: nn.Module, units: BlockUnits, kind: str) -> torch.Tensor:
    name = units.attn_consumer if kind == "attn" else units.mlp_consumer
    return units.linear(block, name).weight.detach().double()


def magnitude_sp_score(block, units, kind, stats):
    return _consumer_weight(block, units, kind).norm(dim=0)


def wanda_sp_score(block, units, kind, stats):
    return _consumer_weight(block, units, kind).abs().mean(dim=0) * stats.norm


def flap_score(block, units, kind, stats):
    metric = stats.var * _consumer_weight(block, units, kind).pow(2).sum(dim=0)
    return metric**2 if kind == "attn" else metric  # FLAP's code squares the attention metric once more


register_structured(StructuredMethod("magnitude_sp", "||W[:, j]||_2 of the output projection's column",
                                     magnitude_sp_score, needs_data=False))
register_structured(StructuredMethod("wanda_sp", "mean_i |W_ij| * ||X_j||_2 (Wanda-sp), uniform per block",
                                     wanda_sp_score))
register_structured(StructuredMethod("flap", "Var(X_j) * ||W[:, j]||^2, standardised, global, bias compensation",
                                     flap_score, head_reduce="mean", allocation="global", standardize=True,
                                     compensate=True, propagate="dense"))


# ------------------------------------------------------------------------------------------- unit scores
@dataclass
class BlockScores:
    """Scores of one block's head groups and MLP channels, and what removal needs from its statistics."""

    units: BlockUnits
    groups: torch.Tensor
    channels: torch.Tensor
    attn_mean: Optional[torch.Tensor]
    mlp_mean: Optional[torch.Tensor]
    group_params: int
    channel_params: int


def _standardize(x: torch.Tensor) -> torch.Tensor:
    std = x.std()
    return (x - x.mean()) / (std if std > 0 else 1.0)


def score_block(block: nn.Module, units: BlockUnits, method: StructuredMethod,
                stats: dict[str, LayerStats]) -> BlockScores:
    attn_stats, mlp_stats = stats.get(units.attn_consumer), stats.get(units.mlp_consumer)
    attn = method.score(block, units, "attn", attn_stats)
    mlp = method.score(block, units, "mlp", mlp_stats)
    if method.standardize:
        attn, mlp = _standardize(attn), _standardize(mlp)
    _, kv = units.heads(block)
    reduce = torch.sum if method.head_reduce == "sum" else torch.mean
    groups = torch.stack([reduce(attn[units.group_channels(block, g)]) for g in range(kv)])
    return BlockScores(units, groups, mlp, attn_stats.mean.clone() if attn_stats is not None else None,
                       mlp_stats.mean.clone() if mlp_stats is not None else None,
                       units.group_params(block), units.channel_params(block))


# ------------------------------------------------------------------------------------------- allocation
def check_ratio(ratio: float) -> float:
    if not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
        raise ValueError(f"structured pruning ratio must be in (0, 1), got {ratio!r}")
    return float(ratio)


def uniform_plan(block: nn.Module, scores: BlockScores, ratio: float) -> tuple[list[int], list[int]]:
    """round(p * G) lowest head groups, then the lowest MLP channels that bring the block to p of its parameters."""
    n_groups, n_channels = len(scores.groups), len(scores.channels)
    drop_groups = round(ratio * n_groups)
    if drop_groups >= n_groups:
        raise ValueError(f"ratio {ratio} would remove all {n_groups} head groups of a block; use a lower ratio")
    budget = ratio * scores.units.block_params(block) - drop_groups * scores.group_params
    drop_channels = min(max(round(budget / scores.channel_params), 0), n_channels - 1)
    return _lowest(scores.groups, drop_groups), _lowest(scores.channels, drop_channels)


def block_plan(block: nn.Module, scores: BlockScores, ratio: float) -> tuple[list[int], list[int]]:
    """Heads and channels of one block ranked together by score per parameter, removed from the lowest until the
    block has lost p of its parameters: the attention/MLP split adapts per block, the budget stays uniform."""
    return global_plan([block], [scores], ratio, per_param=True)[0]


def _lowest(values: torch.Tensor, k: int) -> list[int]:
    return sorted(torch.sort(values, stable=True).indices[:k].tolist())


def global_plan(blocks: list[nn.Module], scores: list[BlockScores], ratio: float,
                per_param: bool = False) -> list[tuple[list[int], list[int]]]:
    """FLAP's AL-AM: all units of all blocks by score, removed from the lowest until p of the parameters are gone
    (a unit is skipped when it would empty its block's attention or MLP). per_param ranks by score / parameters
    instead (a knapsack-greedy order for scores that share one scale, as LLM-BIP's block-output bounds do)."""
    total = sum(s.units.block_params(b) for b, s in zip(blocks, scores))
    units = [(float(v) / (s.group_params if per_param else 1), b, "g", i, s.group_params)
             for b, s in enumerate(scores) for i, v in enumerate(s.groups)]
    units += [(float(v) / (s.channel_params if per_param else 1), b, "c", i, s.channel_params)
              for b, s in enumerate(scores) for i, v in enumerate(s.channels)]
    units.sort(key=lambda u: (u[0], u[1], u[2], u[3]))
    plan = [([], []) for _ in scores]
    removed = 0
    for _, b, kind, i, cost in units:
        if removed + cost > ratio * total:
            continue
        chosen = plan[b][0 if kind == "g" else 1]
        size = len(scores[b].groups if kind == "g" else scores[b].channels)
        if len(chosen) + 1 >= size:
            continue
        chosen.append(i)
        removed += cost
    return [(sorted(g), sorted(c)) for g, c in plan]


# ------------------------------------------------------------------------------------------- removal
def _replace(block: nn.Module, name: str, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> None:
    old = block.get_submodule(name)
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    new.requires_grad_(old.weight.requires_grad)
    parent, _, child = name.rpartition(".")
    setattr(block.get_submodule(parent) if parent else block, child, new)


def _keep(n: int, drop: list[int]) -> torch.Tensor:
    mask = torch.ones(n, dtype=torch.bool)
    mask[torch.tensor(drop, dtype=torch.long)] = False
    return mask


@torch.no_grad()
def remove_units(block: nn.Module, units: BlockUnits, groups: list[int], channels: list[int], *,
                 attn_mean: Optional[torch.Tensor] = None, mlp_mean: Optional[torch.Tensor] = None,
                 physical: bool = True) -> None:
    """Remove (physical=True: slice the weights) or mask (zero them) head groups and MLP channels in place.
    With a mean, the output projection's bias absorbs the removed channels' mean contribution (FLAP)."""
    q, kv = units.heads(block)  # read every index before the first module is replaced
    attn_cols = (torch.cat([units.group_channels(block, g) for g in groups]) if groups
                 else torch.zeros(0, dtype=torch.long))
    rows = {n: units.producer_rows(block, n, groups) for n in units.attn_producers}
    rows.update({n: torch.tensor(channels, dtype=torch.long) for n in units.mlp_producers})
    for consumer, producers, cols, mean in (
            (units.attn_consumer, units.attn_producers, attn_cols, attn_mean),
            (units.mlp_consumer, units.mlp_producers, torch.tensor(channels, dtype=torch.long), mlp_mean)):
        out = units.linear(block, consumer)
        bias = out.bias.detach().clone() if out.bias is not None else None
        if mean is not None and len(cols):
            shift = out.weight[:, cols].double() @ mean.to(out.weight.device)[cols]
            bias = (bias if bias is not None else torch.zeros(out.out_features, device=out.weight.device,
                                                              dtype=out.weight.dtype)) + shift.to(out.weight.dtype)
        keep_cols = _keep(out.in_features, cols.tolist()).to(out.weight.device)
        if physical:
            _replace(block, consumer, out.weight[:, keep_cols], bias)
        else:
            out.weight[:, ~keep_cols] = 0
            if bias is not None and out.bias is None:
                out.bias = nn.Parameter(bias, requires_grad=False)
            elif bias is not None:
                out.bias.copy_(bias)
        for name in producers:
            layer = units.linear(block, name)
            keep_rows = _keep(layer.out_features, rows[name].tolist()).to(layer.weight.device)
            if physical:
                _replace(block, name, layer.weight[keep_rows],
                         layer.bias[keep_rows] if layer.bias is not None else None)
            else:
                layer.weight[~keep_rows] = 0
                if layer.bias is not None:
                    layer.bias[~keep_rows] = 0
    if physical and groups:
        _set_head_counts(block, units, q - len(groups) * (q // kv), kv - len(groups))


def _set_head_counts(block: nn.Module, units: BlockUnits, q: int, kv: int) -> None:
    """Attention modules that keep their head counts as attributes (OPT's num_heads) must see the new ones."""
    parent = units.attn_consumer.rpartition(".")[0]
    module = block.get_submodule(parent) if parent else block
    for attr, value in (("num_heads", q), ("num_attention_heads", q), ("num_key_value_heads", kv)):
        if isinstance(getattr(module, attr, None), int):
            setattr(module, attr, value)


@torch.no_grad()
def block_output_change(runner, block: nn.Module, units: BlockUnits, dense: torch.Tensor, groups: list[int],
                        channels: list[int]) -> float:
    """mean_t ||Y'_t - Y_t||_1: how far the block's output moves over the runner's current inputs when the given
    head groups and channels are masked (`dense` = the unpruned block's outputs, concatenated). The quantity
    LLM-BIP's scores bound; brute force for tests and experiments/bip_bound.py."""
    import copy
    trial = copy.deepcopy(block)
    remove_units(trial, units, groups, channels, physical=False)
    _, outs = runner.run(trial, keep=True)
    return float((torch.cat(outs) - dense).abs().sum(-1).mean())


# ------------------------------------------------------------------------------------------- the driver
@dataclass
class StructuredReport:
    layers: list[dict] = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0

    @property
    def ratio(self) -> float:
        return 1.0 - self.params_after / self.params_before


def _units_without_data(model: nn.Module) -> list[BlockUnits]:
    """Structures of every block from one dense pass of a few tokens (data-free scorers still need the
    block layout)."""
    from .engine import dense_statistics
    ids = torch.zeros(1, 8, dtype=torch.long, device=next(model.parameters()).device)
    hd = head_dim_of(model.config)
    return [discover_units(collector, hd) for _, _, collector in dense_statistics(model, ids, 1, ids.device)]


@torch.no_grad()
def prune_structured(model: nn.Module, method: StructuredMethod, calib_ids: Optional[torch.Tensor], ratio: float, *,
                     batch_size: int = 4, device: torch.device | str = "cpu", physical: bool = True,
                     progress: bool = True) -> StructuredReport:
    """Score, allocate and remove head groups and MLP channels of every decoder block in place."""
    from .engine import BlockRunner

    ratio = check_ratio(ratio)
    _, blocks = find_blocks(model)
    report = StructuredReport()
    hd = head_dim_of(model.config)
    if not method.needs_data:
        scored = [score_block(block, units, method, {}) for block, units in zip(blocks, _units_without_data(model))]
    else:
        if calib_ids is None or calib_ids.numel() == 0:
            raise ValueError(f"structured method {method.name!r} needs calibration data")
        runner = BlockRunner(model, calib_ids, batch_size, torch.device(device))
        scored = []
        for block in tqdm(runner.blocks, desc=f"structured ({method.name})", disable=not progress):
            collector, outs = runner.run(block, collect=True, keep=True)
            units = discover_units(collector, hd)
            scored.append(score_block(block, units, method, collector.stats))
            del collector
            if method.allocation != "global" and method.propagate == "pruned":
                report.layers.append(_apply(block, scored[-1], _block_rule(method)(block, scored[-1], ratio), method,
                                            physical))
                _, outs = runner.run(block, keep=True)
            runner.advance(outs)
    if report.layers:  # already removed block by block
        return _finish(model, report, scored)
    plans = (global_plan(list(blocks), scored, ratio) if method.allocation == "global"
             else [_block_rule(method)(b, s, ratio) for b, s in zip(blocks, scored)])
    for block, s, plan in zip(blocks, scored, plans):
        report.layers.append(_apply(block, s, plan, method, physical))
    return _finish(model, report, scored)


def _block_rule(method: StructuredMethod):
    rules = {"uniform": uniform_plan, "block": block_plan}
    if method.allocation not in rules:
        raise ValueError(f"unknown structured allocation {method.allocation!r}; known: uniform, block, global")
    return rules[method.allocation]


def _apply(block: nn.Module, scores: BlockScores, plan: tuple[list[int], list[int]], method: StructuredMethod,
           physical: bool) -> dict:
    before = scores.units.block_params(block)
    groups, channels = plan
    remove_units(block, scores.units, groups, channels, physical=physical,
                 attn_mean=scores.attn_mean if method.compensate else None,
                 mlp_mean=scores.mlp_mean if method.compensate else None)
    return {"groups_removed": groups, "channels_removed": len(channels), "groups": len(scores.groups),
            "channels": len(scores.channels), "params_before": before,
            "params_removed": len(groups) * scores.group_params + len(channels) * scores.channel_params}


def _finish(model: nn.Module, report: StructuredReport, scored: list[BlockScores]) -> StructuredReport:
    report.params_before = sum(l["params_before"] for l in report.layers)
    report.params_after = report.params_before - sum(l["params_removed"] for l in report.layers)
    model.config.structured_pruning = {
        "units": scored[0].units.to_dict(),
        "layers": [{"groups": l["groups"] - len(l["groups_removed"]), "channels": l["channels"] - l["channels_removed"]}
                   for l in report.layers]}
    return report


# ------------------------------------------------------------------------------------------- save / load
def save_structured(model: nn.Module, tokenizer: Any, out_dir: str | Path) -> None:
    """save_pretrained with the per-block sizes in config.json (`structured_pruning`); load with
    `load_structured` (transformers' from_pretrained assumes one size for every block)."""
    from .models import save_model
    save_model(model, tokenizer, out_dir)


def load_structured(path: str | Path, *, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Rebuild a structurally pruned model: the architecture from its config, every block cut to its stored
    sizes, then the saved weights (strict: every saved tensor must fit)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(path)
    config = AutoConfig.from_pretrained(path)
    layout = getattr(config, "structured_pruning", None)
    if not layout:
        raise ValueError(f"{path} has no `structured_pruning` entry in its config: not a structurally pruned model")
    model = AutoModelForCausalLM.from_config(config, dtype=dtype).eval()
    units = BlockUnits(**layout["units"])
    _, blocks = find_blocks(model)
    for block, sizes in zip(blocks, layout["layers"]):
        _, kv = units.heads(block)
        d_ff = units.linear(block, units.mlp_consumer).in_features
        remove_units(block, units, list(range(sizes["groups"], kv)), list(range(sizes["channels"], d_ff)))
    state = {}
    for file in sorted(path.glob("*.safetensors")):
        state.update(load_file(file))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {k for k in missing if "lm_head" in k and getattr(config, "tie_word_embeddings", False)}
    if unexpected or set(missing) - tied:
        raise ValueError(f"saved weights do not fit the rebuilt model: missing {sorted(set(missing) - tied)[:5]}, "
                         f"unexpected {unexpected[:5]}")
    if tied:
        model.tie_weights()
    return model
