"""The prunable structures of a decoder block, found from one forward pass (no layer names).

The two linears that read a non-normalised input are the attention output projection (o_proj / out_proj, input =
concatenated head outputs) and the MLP output projection (down_proj / fc2, input = the intermediate channels); the
linears executed before each of them since the previous one are its producers (q/k/v; gate/up or fc1).
- a head group g = one key/value head with its query heads (grouped-query attention keeps its ratio): rows of the
  producers that belong to g, and the matching input columns of the output projection;
- an MLP channel j: row j of every MLP producer and column j of the MLP output projection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..blocks import UnsupportedArchitecture


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
        _, kv = self.heads(block)
        rows_per_head_group = self.linear(block, name).out_features // kv  # a query projection has q/kv heads each
        return torch.cat([torch.arange(g * rows_per_head_group, (g + 1) * rows_per_head_group) for g in groups]) \
            if groups else torch.zeros(0, dtype=torch.long)

    def group_params(self, block: nn.Module) -> int:
        """Parameters removed with one head group (weights and biases of the producers' rows, consumer columns)."""
        q, kv = self.heads(block)
        total = sum(rows_params(self.linear(block, n)) * (self.linear(block, n).out_features // kv)
                    for n in self.attn_producers)
        return total + self.linear(block, self.attn_consumer).out_features * (q // kv) * self.head_dim

    def channel_params(self, block: nn.Module) -> int:
        return (sum(rows_params(self.linear(block, n)) for n in self.mlp_producers)
                + self.linear(block, self.mlp_consumer).out_features)

    def block_params(self, block: nn.Module) -> int:
        names = self.attn_producers + [self.attn_consumer] + self.mlp_producers + [self.mlp_consumer]
        return sum(p.numel() for n in names for p in self.linear(block, n).parameters())

    def to_dict(self) -> dict:
        return {"attn_producers": self.attn_producers, "attn_consumer": self.attn_consumer,
                "mlp_producers": self.mlp_producers, "mlp_consumer": self.mlp_consumer, "head_dim": self.head_dim}


def rows_params(layer: nn.Linear) -> int:
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
