"""Squared LM-loss gradients of every prunable weight over the calibration samples (Pruner-Zero's G, after
GBLM-Pruner's `gradient_computation.py`):

    G_ij = sqrt( sum_samples (dL_s / dW_ij)^2 ),   L_s = the next-token cross-entropy of calibration sample s

computed on the dense model by one forward and one backward pass of the whole model per sample (the official code
scales the gradients by 100 and stores them in float16; the min-max scaling Pruner-Zero applies makes the scale
irrelevant, and we keep float32). Only the prunable weights require gradients while it runs; the model is in eval
mode (no dropout), and every `requires_grad` flag is restored afterwards.
"""
from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from .blocks import prunable_linears


def gradient_square_sums(model: nn.Module, calib_ids: torch.Tensor, device: torch.device,
                         progress: bool = True) -> dict[str, torch.Tensor]:
    """"block.name" -> G (same shape as the layer's weight, float32) for every decoder linear."""
    layers = prunable_linears(model)
    flags = {p: p.requires_grad for p in model.parameters()}
    sums = {key: torch.zeros_like(layer.weight, dtype=torch.float32) for key, layer in layers.items()}
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in layers.values():
            layer.weight.requires_grad_(True)
        with torch.enable_grad():
            for ids in tqdm(calib_ids.split(1), desc="LM-loss gradients", disable=not progress):
                ids = ids.to(device)
                model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
                for key, layer in layers.items():
                    grad = layer.weight.grad.float()
                    sums[key].addcmul_(grad, grad)
                    layer.weight.grad = None
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)
    return {key: value.sqrt_() for key, value in sums.items()}
