"""Masks from importance scores (higher score = keep). A mask is a bool tensor, True = pruned.

- unstructured, per output row: each row prunes exactly floor(d_in * s) of its lowest scores (Wanda's
  comparison group, Sun et al. 2023 Sec. 3); ties are broken by a stable sort, i.e. by column index.
- N:M: in every group of M consecutive inputs of a row, prune the N lowest scores (SparseGPT/Wanda convention:
  "2:4" = 2 zeros in every 4 weights).
- the comparison-group ablation (Sun et al. 2023, Sec. 5): "column" prunes floor(d_out * s) of every input
  column, "layer" the floor(numel * s) lowest scores of the whole matrix (the official magnitude baseline).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from .offload import stored_tensor  # an --offload model keeps its pruned weights in a weight store


@dataclass(frozen=True)
class Pattern:
    """A sparsity pattern: unstructured (n = m = 0) or N:M (prune n of every m consecutive inputs)."""

    n: int = 0
    m: int = 0

    @property
    def is_nm(self) -> bool:
        return self.m > 0

    @property
    def sparsity(self) -> float:
        return self.n / self.m

    def __str__(self) -> str:
        return f"{self.n}:{self.m}" if self.is_nm else "unstructured"

    @classmethod
    def parse(cls, text: str) -> "Pattern":
        if text in ("", "unstructured", None):
            return cls()
        match = re.fullmatch(r"(\d+):(\d+)", str(text).strip())
        if not match:
            raise ValueError(f"pattern must be 'unstructured' or 'N:M' (e.g. 2:4), got {text!r}")
        n, m = int(match.group(1)), int(match.group(2))
        if not 0 < n < m:
            raise ValueError(f"N:M pattern needs 0 < N < M, got {n}:{m}")
        return cls(n, m)

    def check_width(self, width: int, layer: str = "layer") -> None:
        if self.is_nm and width % self.m:
            raise ValueError(f"N:M pattern {self}: M={self.m} does not divide the input width {width} of {layer}")


def check_sparsity(sparsity: float) -> float:
    if not isinstance(sparsity, (int, float)) or not 0.0 <= float(sparsity) < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    return float(sparsity)


def lowest_k(score: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of the k lowest scores of every row, ties to the lower column index: exactly the first k of a stable
    ascending sort, found in linear time (the k-th value by selection, then the ties at it taken left to right)."""
    rows, cols = score.shape
    if k <= 0:
        return torch.zeros_like(score, dtype=torch.bool)
    if k >= cols:
        return torch.ones_like(score, dtype=torch.bool)
    threshold = kth_smallest(score, k)
    upto = score <= threshold
    if bool((upto.sum(dim=1) == k).all()):  # no row has extra ties at its k-th value (usual): two passes
        return upto
    below = score < threshold
    missing = k - below.sum(dim=1, keepdim=True)
    at = upto & ~below
    return below | (at & (at.cumsum(dim=1) <= missing))


def kth_smallest(score: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th smallest value of every row (rows x 1). On CPU numpy's introselect: the same value as
    torch.kthvalue (a value, not a rank, so masks cannot change) at a third of its time, which was most of Wanda's
    solve (issue 20)."""
    if score.device.type == "cpu" and score.dtype in (torch.float32, torch.float64):
        values = np.partition(score.detach().numpy(), k - 1, axis=1)[:, k - 1:k]
        return torch.from_numpy(np.ascontiguousarray(values))
    return torch.kthvalue(score, k, dim=1, keepdim=True).values


def row_mask(score: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the floor(d_in * sparsity) lowest-scoring weights of every row (stable order)."""
    return lowest_k(score, int(score.shape[1] * check_sparsity(sparsity)))


def per_row_mask(score: torch.Tensor, sparsities: torch.Tensor) -> torch.Tensor:
    """Like `row_mask`, with one sparsity per row (allocators such as NeuroAL's row step use it)."""
    if sparsities.shape != (score.shape[0],):
        raise ValueError(f"need one sparsity per row: {tuple(sparsities.shape)} vs {score.shape[0]} rows")
    if (sparsities < 0).any() or (sparsities >= 1).any():
        raise ValueError("row sparsities must be in [0, 1)")
    # + 1e-9: a sparsity given as k / d_in (NeuroAL's exact row counts) must give k back despite rounding
    k = (score.shape[1] * sparsities.double() + 1e-9).floor().long().to(score.device)
    rank = torch.empty_like(score, dtype=torch.long)
    order = torch.sort(score, dim=1, stable=True).indices
    rank.scatter_(1, order, torch.arange(score.shape[1], device=score.device).expand_as(order).contiguous())
    return rank < k[:, None]


def nm_mask(score: torch.Tensor, pattern: Pattern) -> torch.Tensor:
    """Prune the N lowest scores in every group of M consecutive inputs of each row."""
    rows, cols = score.shape
    pattern.check_width(cols)
    groups = score.reshape(rows, cols // pattern.m, pattern.m)
    order = torch.sort(groups, dim=-1, stable=True).indices[..., : pattern.n]
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(-1, order, True)
    return mask.reshape(rows, cols)


def column_mask(score: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the floor(d_out * sparsity) lowest-scoring weights of every input column (stable order)."""
    return row_mask(score.T, sparsity).T


def layer_mask(score: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the floor(numel * sparsity) lowest scores of the whole matrix (stable order: ties go to the lower
    flat index, so the count is exact where the official `<= threshold` rule may prune a few more on ties)."""
    return row_mask(score.reshape(1, -1), sparsity).reshape(score.shape)


GROUPS = ("row", "column", "layer")


def select(score: torch.Tensor, sparsity: float | torch.Tensor, pattern: Pattern, group: str = "row") -> torch.Tensor:
    """Dispatch to the mask rule of `pattern` and comparison `group` (a tensor sparsity means one value per row;
    an N:M pattern compares within its groups of M whatever the unstructured group is)."""
    if group not in GROUPS:
        raise ValueError(f"comparison group must be one of {GROUPS}, got {group!r}")
    if pattern.is_nm:  # an N:M pattern is its own comparison group: M consecutive inputs of one row
        return nm_mask(score, pattern)
    if group != "row" and isinstance(sparsity, torch.Tensor):
        raise ValueError(f"per-row sparsities are defined within output rows; the {group!r} comparison group cannot "
                         "use them")
    if isinstance(sparsity, torch.Tensor):
        return per_row_mask(score, sparsity)
    return {"row": row_mask, "column": column_mask, "layer": layer_mask}[group](score, sparsity)


def sparsity_report(layers: dict[str, torch.nn.Linear]) -> dict:
    """Share of exactly-zero weights, per layer and over all given layers (the papers' `check_sparsity`)."""
    per_layer, zeros, total = {}, 0, 0
    for name, layer in layers.items():
        weight = stored_tensor(layer, "weight")
        z = int((weight == 0).sum())
        n = weight.numel()
        per_layer[name] = z / n
        zeros, total = zeros + z, total + n
    return {"overall": zeros / max(total, 1), "per_layer": per_layer, "zeros": zeros, "params": total}
