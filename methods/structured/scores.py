"""Structured importance: one score per input channel of an output projection (higher = keep); a head group's score
reduces its channels (sum or mean). Baselines (An et al. 2024, FLAP's code, which also defines Wanda-sp):
  magnitude_sp  S_j = ||W[:, j]||_2                                    (no data)
  wanda_sp      S_j = mean_i |W_ij| * ||X_j||_2                        head = sum of its channels, uniform
  flap          S_j = Var(X_j) * ||W[:, j]||_2^2 (squared again for attention, as the code does), standardised
                per module and block, head = mean; global allocation by parameter cost; bias compensation
                b += sum_{j removed} W[:, j] * mean(X_j); statistics from the dense model.
LLM-BIP's scores live in bip.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from ..stats import LayerStats
from .units import BlockUnits

ChannelScore = Callable[[nn.Module, BlockUnits, str, Optional[LayerStats]], torch.Tensor]


@dataclass(frozen=True)
class StructuredRule:
    """How a structured method scores and removes units: score(block, units, kind, stats) -> one importance per
    input channel of the `kind` ("attn" | "mlp") output projection; `head_reduce` turns a head group's channels
    into one score; `allocation` is uniform | block | global; `propagate` whether block b's statistics come from
    the pruned (Wanda-sp) or the dense (FLAP, BIP) stream."""

    score: ChannelScore
    head_reduce: str = "sum"
    allocation: str = "uniform"
    standardize: bool = False
    compensate: bool = False
    propagate: str = "pruned"
    needs: frozenset = frozenset()


def consumer_weight(block: nn.Module, units: BlockUnits, kind: str) -> torch.Tensor:
    name = units.attn_consumer if kind == "attn" else units.mlp_consumer
    return units.linear(block, name).weight.detach().double()


def magnitude_sp_score(block, units, kind, stats):
    return consumer_weight(block, units, kind).norm(dim=0)


def wanda_sp_score(block, units, kind, stats):
    return consumer_weight(block, units, kind).abs().mean(dim=0) * stats.norm


def flap_score(block, units, kind, stats):
    metric = stats.var * consumer_weight(block, units, kind).pow(2).sum(dim=0)
    return metric**2 if kind == "attn" else metric  # FLAP's code squares the attention metric once more


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


def score_block(block: nn.Module, units: BlockUnits, rule: StructuredRule,
                stats: dict[str, LayerStats]) -> BlockScores:
    attn_stats, mlp_stats = stats.get(units.attn_consumer), stats.get(units.mlp_consumer)
    attn = rule.score(block, units, "attn", attn_stats)
    mlp = rule.score(block, units, "mlp", mlp_stats)
    if rule.standardize:
        attn, mlp = _standardize(attn), _standardize(mlp)
    _, kv = units.heads(block)
    reduce = torch.sum if rule.head_reduce == "sum" else torch.mean
    groups = torch.stack([reduce(attn[units.group_channels(block, g)]) for g in range(kv)])
    return BlockScores(units, groups, mlp, attn_stats.mean.clone() if attn_stats is not None else None,
                       mlp_stats.mean.clone() if mlp_stats is not None else None,
                       units.group_params(block), units.channel_params(block))
