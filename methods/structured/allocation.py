"""How many head groups and MLP channels each block loses, for a pruning ratio p = the share of attention + MLP
linear parameters removed (embeddings, norms and lm_head are not counted; no block is skipped: the FLAP /
LLM-Pruner convention).

  uniform  round(p * G) head groups of every block, then MLP channels up to the block's parameter budget
           (every block, and the model, is within one structure of p); never all G groups;
  block    a block's groups and channels ranked together by score per parameter (scores on one scale, LLM-BIP),
           within the same per-block budget;
  global   the lowest standardised scores anywhere until p of the parameters are gone (FLAP's AL-AM), never the
           last group or channel of a block.
A block with a single key/value head (Gemma-3) has no head group that can go: only its MLP is pruned, and the row
says so (`structured.layers[*].groups_removable`).
"""
from __future__ import annotations

import torch
from torch import nn

from .scores import BlockScores


def check_ratio(ratio: float) -> float:
    if not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
        raise ValueError(f"structured pruning ratio must be in (0, 1), got {ratio!r}")
    return float(ratio)


def _lowest(values: torch.Tensor, k: int) -> list[int]:
    return sorted(torch.sort(values, stable=True).indices[:k].tolist())


def uniform_plan(block: nn.Module, scores: BlockScores, ratio: float) -> tuple[list[int], list[int]]:
    """round(p * G) lowest head groups (at most G - 1), then the lowest MLP channels that bring the block to p of
    its parameters."""
    n_groups, n_channels = len(scores.groups), len(scores.channels)
    drop_groups = min(round(ratio * n_groups), n_groups - 1)
    budget = ratio * scores.units.block_params(block) - drop_groups * scores.group_params
    drop_channels = min(max(round(budget / scores.channel_params), 0), n_channels - 1)
    return _lowest(scores.groups, drop_groups), _lowest(scores.channels, drop_channels)


def block_plan(block: nn.Module, scores: BlockScores, ratio: float) -> tuple[list[int], list[int]]:
    """Heads and channels of one block ranked together by score per parameter, removed from the lowest until the
    block has lost p of its parameters: the attention/MLP split adapts per block, the budget stays uniform."""
    return global_plan([block], [scores], ratio, per_param=True)[0]


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


PLANS = {"uniform": uniform_plan, "block": block_plan}
