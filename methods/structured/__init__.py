"""Structured pruning: remove whole attention-head groups and MLP channels, for a smaller, faster model.

  units.py       the prunable structures of a block, found from one forward pass (no layer names)
  scores.py      per-channel importance of the baselines (magnitude-sp, Wanda-sp, FLAP) and the StructuredRule
  bip.py         LLM-BIP's scores (Wu 2024)
  allocation.py  how many groups and channels each block loses for a parameter ratio
  removal.py     slicing (or masking) the weights in place
  prune.py       the driver over the calibration stream
  io.py          saving and reloading a model whose blocks have different sizes
Structured methods are registered in the one method registry (methods.METHODS) with kind="structured".
"""
from __future__ import annotations

from ..base import Method, register
from .allocation import block_plan, check_ratio, global_plan, uniform_plan
from .io import is_structurally_pruned, load_structured
from .prune import StructuredReport, prune_structured
from .removal import block_output_change, remove_units
from .scores import BlockScores, StructuredRule, flap_score, magnitude_sp_score, score_block, wanda_sp_score
from .units import BlockUnits, discover_units, head_dim_of

_FLAP = "An et al. 2024 (FLAP), whose code also defines Wanda-sp"
MAGNITUDE_SP = register(Method(
    "magnitude_sp", "||W[:, j]||_2 of the output projection's column", kind="structured", needs_data=False, nm=False,
    structured=StructuredRule(magnitude_sp_score), rule="‖W[:, j]‖₂; uniform", source=_FLAP))
WANDA_SP = register(Method(
    "wanda_sp", "mean_i |W_ij| * ||X_j||_2 (Wanda-sp), uniform per block", kind="structured", nm=False,
    structured=StructuredRule(wanda_sp_score),
    rule="mean_i \\|W_ij\\|·‖X_j‖₂ (head = sum); uniform: round(p·G) groups per block, channels fill the budget",
    source=_FLAP))
FLAP = register(Method(
    "flap", "Var(X_j) * ||W[:, j]||^2, standardised, global, bias compensation", kind="structured", nm=False,
    adds_bias=True, structured=StructuredRule(flap_score, head_reduce="mean", allocation="global", standardize=True,
                                              compensate=True, propagate="dense"),
    rule="Var(X_j)·‖W[:, j]‖₂² (squared again for attention), standardised per module (head = mean); global by "
         "parameter cost (AL-AM)", update_rule="b += Σ_removed W[:, j]·mean(X_j)", source=_FLAP))

from . import bip  # noqa: E402,F401  (registration)

__all__ = ["BlockUnits", "BlockScores", "StructuredRule", "StructuredReport", "discover_units", "head_dim_of",
           "score_block", "uniform_plan", "block_plan", "global_plan", "check_ratio", "remove_units",
           "block_output_change", "prune_structured", "load_structured", "is_structurally_pruned"]
