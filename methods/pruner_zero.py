"""Pruner-Zero's released metric (Dong et al., ICML 2024, "Pruner-Zero: Evolving Symbolic Pruning Metric from
Scratch for Large Language Models"; the best tree of the official repo, data/best_tree.json):

    S_ij = | W_ij * W_ij | * mms(G)_ij,    mms(G) = (G - min G) / (max G - min G) over the layer,

G = sqrt(sum over calibration samples of (dL/dW_ij)^2), the LM-loss gradients of the dense model, one backward pass
per sample (methods/gradients.py; the official code computes them on 128 WikiText-2 samples with GBLM-Pruner's
script, we use the run's calibration samples). Compared within each output row (the official per-row sort); N:M within
groups of M. The activations X are not part of the best tree.
"""
from __future__ import annotations

import torch

from .base import Method, register
from .stats import LayerStats


def pruner_zero_score(weight: torch.Tensor, stats: LayerStats) -> torch.Tensor:
    if stats is None or stats.grad is None:
        raise ValueError("Pruner-Zero needs the layer's LM-loss gradients (the engine computes them when a method "
                         "declares needs={'grad'})")
    G = stats.grad.to(weight.device, torch.float64)
    low, high = G.min(), G.max()
    scaled = (G - low) / (high - low) if high > low else torch.zeros_like(G)
    return (weight.double() * weight.double()).abs() * scaled


PRUNER_ZERO = register(Method(
    "pruner_zero", "|W * W| * minmax(G), G = root of summed squared LM-loss gradients (Pruner-Zero's best tree)",
    score=pruner_zero_score, needs={"grad"},
    rule="\\|W_ij·W_ij\\|·mms(G)_ij, G = √Σ_samples (∂L/∂W_ij)² (one backward pass per calibration sample), per row",
    source="Dong et al., ICML 2024 (Pruner-Zero), data/best_tree.json"))
