"""Post-training pruning of LLMs: one calibration engine, many methods.

    from methods import PruneConfig, run
    row = run(PruneConfig(method="stade", sparsity=0.5))

Registries: METHODS (scorers/solvers), ALLOCATORS (per-layer sparsity), CORPORA (calibration/evaluation text).
Each method module registers itself on import; the imports below are the complete list (no plugin discovery that
could swallow an import error).
"""
from .base import ALLOCATORS, METHODS, Allocation, AllocationContext, Allocator, LayerInfo, Method, register
from . import magnitude, wanda, stade, sparsegpt, lsq  # noqa: F401  (registration)
from . import owl, neuroal  # noqa: F401  (allocator registration)
from . import bip  # noqa: F401  (structured methods: methods/structured.py and bip.py)
from .data import CORPORA
from .engine import prune_layer, prune_model
from .masks import Pattern
from .pipeline import PruneConfig, run

DENSE = register(Method("dense", "no pruning (the reference row)", needs_data=False))

__all__ = ["METHODS", "ALLOCATORS", "CORPORA", "Method", "LayerInfo", "Allocator", "Allocation",
           "AllocationContext", "Pattern", "PruneConfig", "register",
           "prune_layer", "prune_model", "run"]
