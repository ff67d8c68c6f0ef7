"""Where a model's prunable structure is: its decoder blocks, their linear layers, and its normalisation modules.

Nothing here looks at model names: decoder blocks are the largest nn.ModuleList of identical modules that contain
nn.Linear layers, and normalisation modules are recognised by type.
"""
from __future__ import annotations

from torch import nn


class UnsupportedArchitecture(ValueError):
    pass


def find_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The decoder blocks: the ModuleList of same-class modules holding the most nn.Linear parameters."""
    best: tuple[str, nn.ModuleList, int] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if len({type(b) for b in module}) != 1:
            continue
        linear_params = sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))
        if linear_params and (best is None or linear_params > best[2]):
            best = (name, module, linear_params)
    if best is None:
        raise UnsupportedArchitecture(
            f"{type(model).__name__}: found no list of decoder blocks containing torch.nn.Linear layers "
            "(architectures whose projections are not nn.Linear, e.g. GPT-2's Conv1D, are not supported)")
    return best[0], best[1]


def find_linears(block: nn.Module) -> dict[str, nn.Linear]:
    """Every nn.Linear inside one block, by its name relative to the block, in module order."""
    return {name: m for name, m in block.named_modules() if isinstance(m, nn.Linear)}


def is_norm(module: nn.Module) -> bool:
    """LayerNorm / RMSNorm / GroupNorm, including the per-family classes (LlamaRMSNorm, Gemma3RMSNorm, ...)."""
    return isinstance(module, (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm)) or type(module).__name__.endswith("Norm")


def prunable_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """All linears inside the decoder blocks, keyed "block.name" (what the papers prune and count)."""
    _, blocks = find_blocks(model)
    return {f"{b}.{n}": m for b, block in enumerate(blocks) for n, m in find_linears(block).items()}
