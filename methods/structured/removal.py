"""Removing (slicing) or masking (zeroing) head groups and MLP channels of one block, in place."""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from .units import BlockUnits


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
    trial = copy.deepcopy(block)
    remove_units(trial, units, groups, channels, physical=False)
    _, outs = runner.run(trial, keep=True)
    return float((torch.cat(outs) - dense).abs().sum(-1).mean())
