"""Saving and reloading a structurally pruned model: per-block sizes in config.json (`structured_pruning`), since
transformers' from_pretrained assumes one size for every block."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..blocks import find_blocks
from .removal import remove_units
from .units import BlockUnits


def is_structurally_pruned(path: str | Path) -> bool:
    config = Path(path) / "config.json"
    try:
        return config.is_file() and "structured_pruning" in json.loads(config.read_text())
    except (OSError, ValueError):
        return False


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
