"""Evaluation: perplexity with the WikiText protocol of the Wanda/SparseGPT code.

ppl = exp( (1 / (n * (L-1))) * sum_windows sum_{t=1}^{L-1} -log p(x_t | x_<t) ) over n non-overlapping windows
of L tokens (each window starts a fresh context; the official code's mean-loss-times-L bookkeeping gives the same
value because every window has the same length). Zero-shot evaluation through lm-eval comes in evaluate's
zero-shot issue.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


@torch.no_grad()
def perplexity(model: nn.Module, windows: torch.Tensor, batch_size: int = 4, device: str | torch.device = "cpu",
               progress: bool = True, desc: str = "perplexity") -> float:
    """Perplexity of `model` on [n, L] token windows."""
    total_nll, total_tokens = 0.0, 0
    for batch in tqdm(windows.split(batch_size), desc=desc, disable=not progress):
        batch = batch.to(device)
        logits = model(input_ids=batch, use_cache=False).logits[:, :-1].float()
        targets = batch[:, 1:]
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
        total_nll += float(nll)
        total_tokens += targets.numel()
    return math.exp(total_nll / total_tokens)
