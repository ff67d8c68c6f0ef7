"""The structured driver: score, allocate and remove head groups and MLP channels of every decoder block."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn
from tqdm.auto import tqdm

from ..base import Method
from ..blocks import find_blocks
from ..stream import BlockRunner, dense_statistics
from .allocation import PLANS, check_ratio, global_plan
from .removal import remove_units
from .scores import BlockScores, score_block
from .units import discover_units, head_dim_of


@dataclass
class StructuredReport:
    layers: list[dict] = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0

    @property
    def ratio(self) -> float:
        return 1.0 - self.params_after / self.params_before


def _units_without_data(model: nn.Module) -> list:
    """Structures of every block from one dense pass of a few tokens (data-free scorers still need the
    block layout)."""
    ids = torch.zeros(1, 8, dtype=torch.long, device=next(model.parameters()).device)
    hd = head_dim_of(model.config)
    return [discover_units(collector, hd) for _, _, collector in dense_statistics(model, ids, 1, ids.device)]


def _block_rule(allocation: str):
    if allocation not in PLANS:
        raise ValueError(f"unknown structured allocation {allocation!r}; known: uniform, block, global")
    return PLANS[allocation]


@torch.no_grad()
def prune_structured(model: nn.Module, method: Method, calib_ids: Optional[torch.Tensor], ratio: float, *,
                     batch_size: int = 4, device: torch.device | str = "cpu", physical: bool = True,
                     progress: bool = True) -> StructuredReport:
    """Score, allocate and remove head groups and MLP channels of every decoder block in place."""
    rule = method.structured
    ratio = check_ratio(ratio)
    _, blocks = find_blocks(model)
    report = StructuredReport()
    hd = head_dim_of(model.config)
    if not method.needs_data:
        scored = [score_block(block, units, rule, {}) for block, units in zip(blocks, _units_without_data(model))]
    else:
        if calib_ids is None or calib_ids.numel() == 0:
            raise ValueError(f"structured method {method.name!r} needs calibration data")
        runner = BlockRunner(model, calib_ids, batch_size, torch.device(device))
        scored = []
        for block in tqdm(runner.blocks, desc=f"structured ({method.name})", disable=not progress):
            collector, outs = runner.run(block, collect=True, keep=True, needs=rule.needs)
            scored.append(score_block(block, discover_units(collector, hd), rule, collector.stats))
            del collector
            if rule.allocation != "global" and rule.propagate == "pruned":
                report.layers.append(_apply(block, scored[-1], _block_rule(rule.allocation)(block, scored[-1], ratio),
                                            rule.compensate, physical))
                _, outs = runner.run(block, keep=True)
            runner.advance(outs)
    if report.layers:  # already removed block by block
        return _finish(model, report, scored)
    plans = (global_plan(list(blocks), scored, ratio) if rule.allocation == "global"
             else [_block_rule(rule.allocation)(b, s, ratio) for b, s in zip(blocks, scored)])
    for block, s, plan in zip(blocks, scored, plans):
        report.layers.append(_apply(block, s, plan, rule.compensate, physical))
    return _finish(model, report, scored)


def _apply(block: nn.Module, scores: BlockScores, plan: tuple[list[int], list[int]], compensate: bool,
           physical: bool) -> dict:
    before = scores.units.block_params(block)
    groups, channels = plan
    remove_units(block, scores.units, groups, channels, physical=physical,
                 attn_mean=scores.attn_mean if compensate else None,
                 mlp_mean=scores.mlp_mean if compensate else None)
    return {"groups_removed": groups, "channels_removed": len(channels), "groups": len(scores.groups),
            "groups_removable": len(scores.groups) - 1, "channels": len(scores.channels),
            "params_before": before,
            "params_removed": len(groups) * scores.group_params + len(channels) * scores.channel_params}


def _finish(model: nn.Module, report: StructuredReport, scored: list[BlockScores]) -> StructuredReport:
    report.params_before = sum(l["params_before"] for l in report.layers)
    report.params_after = report.params_before - sum(l["params_removed"] for l in report.layers)
    model.config.structured_pruning = {
        "units": scored[0].units.to_dict(),
        "layers": [{"groups": l["groups"] - len(l["groups_removed"]), "channels": l["channels"] - l["channels_removed"]}
                   for l in report.layers]}
    return report
