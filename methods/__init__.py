"""Post-training pruning of LLMs: one calibration engine, many methods.

    from methods import PruneConfig, run
    row = run(PruneConfig(method="stade", sparsity=0.5))

Registries: METHODS (scorers, solvers, mask refiners, structured methods, the dense reference), ALLOCATORS (per-layer
sparsity), CORPORA (calibration/evaluation text). Each method module registers itself on import; the imports below
are the complete list (no plugin discovery that could swallow an import error).
"""
from .base import (ALLOCATORS, METHODS, Allocation, AllocationContext, Allocator, LayerInfo, Method, get_method,
                   register)
from . import magnitude, wanda, stade, sparsegpt, lsq, ria, dsnot, admm, pruner_zero  # noqa: F401  (registration)
from . import owl, neuroal, alpha  # noqa: F401  (allocator registration)
from . import structured  # noqa: F401  (structured methods: Wanda-sp, FLAP, magnitude-sp, LLM-BIP)
from .data import CORPORA
from .engine import prune_layer, prune_model
from .masks import Pattern
from .pipeline import PruneConfig, run

DENSE = register(Method("dense", "no pruning (the reference row)", needs_data=False, kind="dense",
                        rule="no pruning (the reference row)"))

__all__ = ["METHODS", "ALLOCATORS", "CORPORA", "Method", "LayerInfo", "Allocator", "Allocation",
           "AllocationContext", "Pattern", "PruneConfig", "register", "get_method",
           "prune_layer", "prune_model", "run"]
