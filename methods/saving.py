"""Saving a pruned model so that plain `AutoModelForCausalLM.from_pretrained` gives back the same logits.

Bias compensation (STADE, FLAP) adds biases to projections that many architectures build without one; a saved copy
would silently drop them unless the config makes those layers carry a bias. `bias_plan` finds, on the meta device
and without touching the model, the config's boolean `*bias*` flags that create every needed bias (Llama's
attention_bias / mlp_bias, Qwen3's and Gemma-3's attention_bias, ...); where no flag can (transformers hard-codes
bias=False: Qwen2's o_proj and MLP, Gemma-3's and Qwen3's MLP, Mistral, Phi-3), the save is refused *before any
pruning* with the reason and what to do instead. Only after every check passes is the config changed and the
sibling layers that a flag also affects given zero biases (so outputs do not change).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from .assets import detach_gguf_quantizer
from .atomic import atomic_dir
from .offload import onloaded
from .blocks import UnsupportedArchitecture, find_blocks


@dataclass(frozen=True)
class BiasPlan:
    flags: tuple[str, ...]  # config flags to switch on
    unsupported: tuple[str, ...]  # modules that would need a bias no flag creates


def _bias_modules(config) -> set[str]:
    """Names of the linear layers that get a bias when a model is built from `config` (on the meta device)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.bias is not None}


def bias_plan(config, needed: Iterable[str]) -> BiasPlan:
    """Which of the config's False `*bias*` flags make `needed` modules carry a bias (config is not changed)."""
    needed = set(needed)
    have = _bias_modules(config)
    switched: list[str] = []
    values = config.to_dict()
    for flag in [k for k, v in values.items() if "bias" in k and v is False]:
        if needed <= have:
            break
        trial = config.__class__.from_dict({**values, **{f: True for f in switched}, flag: True})
        gained = _bias_modules(trial)
        if (gained - have) & needed:
            have, switched = gained, switched + [flag]
    return BiasPlan(tuple(switched), tuple(sorted(needed - have)))


def biased_modules(model: nn.Module) -> set[str]:
    return {n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.bias is not None}


def refusal(model: nn.Module, plan: BiasPlan, method: str) -> str:
    layers = sorted({n.rsplit(".", 1)[-1] if "." in n else n for n in plan.unsupported})
    return (f"--save cannot keep {method}'s bias compensation on {type(model).__name__}: transformers builds "
            f"{', '.join(layers)} without a bias and no config flag adds one, so a saved copy would silently lose it "
            "(plain from_pretrained drops the biases). Evaluate the pruned model in memory (drop --save), or save a "
            "method without compensation (e.g. stade_nocomp).")


def make_biases_persistable(model: nn.Module) -> list[str]:
    """Switch on the flags that keep every existing bias; zero biases for the siblings they also create. Raises
    UnsupportedArchitecture (changing nothing) if some bias cannot be kept."""
    needed = biased_modules(model)
    plan = bias_plan(model.config, needed)
    if plan.unsupported:
        raise UnsupportedArchitecture(refusal(model, plan, "the pruning"))
    for flag in plan.flags:
        setattr(model.config, flag, True)
    have = _bias_modules(model.config)
    for name, module in model.named_modules():
        if name in have and isinstance(module, nn.Linear) and module.bias is None:
            with onloaded(module):  # an --offload model: the new bias goes into the module's weight store too
                w = module.weight
                module.bias = nn.Parameter(torch.zeros(w.shape[0], dtype=w.dtype, device=w.device),
                                           requires_grad=False)
    return list(plan.flags)


def check_save_target(out_dir: str | os.PathLike) -> Path:
    """ValueError before any work unless `out_dir` can become a new model directory: not an existing file, not a
    non-empty directory (it would be merged with and overwrite another model), and its parent is writable."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--save {out_dir}: a file of that name exists; give a directory name")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"--save {out_dir}: the directory exists and is not empty (it would mix two models); choose "
                         "a new directory or remove it")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise ValueError(f"--save {out_dir}: {parent} is not writable")
    return out


def needed_bias_modules(model: nn.Module, layer_names: Iterable[str]) -> set[str]:
    """Full module names of the given block-relative linears in every decoder block."""
    prefix, blocks = find_blocks(model)
    return {f"{prefix}.{b}.{name}" for b in range(len(blocks)) for name in layer_names}


def save_model(model: nn.Module, tokenizer: Any, out_dir: str | os.PathLike) -> None:
    """Save as a Hugging Face directory (safetensors) that `from_pretrained` loads with the zeros and biases. Written
    to a temporary sibling first, then renamed: a failed save leaves nothing half-written."""
    out = check_save_target(out_dir)
    detach_gguf_quantizer(model)
    make_biases_persistable(model)
    with atomic_dir(out) as tmp:  # `out` is absent or empty (check_save_target)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def saved_biases(path: str | os.PathLike) -> dict[str, Any]:
    """The bias flags a saved config carries (for the row)."""
    config = json.loads((Path(path) / "config.json").read_text())
    return {k: v for k, v in config.items() if "bias" in k}
