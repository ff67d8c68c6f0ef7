"""Streaming per-input-channel statistics of a linear layer's inputs.

For inputs X (N tokens x d channels) seen in batches, keep in float64:
  count N, mean mu_j, and M2_j = sum_t (x_tj - mu_j)^2   (merged across batches with Chan et al.'s formula)
and, only when a method asks for it, the Gram matrix G = X^T X (float32, as SparseGPT accumulates it).
Everything else is derived: Var_j = M2_j / (N - 1) (unbiased, as STADE's code), and the squared L2 norm
||X_j||_2^2 = M2_j + N mu_j^2, which is Wanda's statistic (Sun et al. 2023, Eq. 1) up to a constant factor.
"""
from __future__ import annotations

import torch


class LayerStats:
    """Running moments of one layer's input channels.

    `update(x)` takes any tensor whose last dimension is the input width; all leading dims are tokens.
    """

    def __init__(self, width: int, gram: bool = False, device: torch.device | str = "cpu") -> None:
        self.width = width
        self.count = 0
        self.mean = torch.zeros(width, dtype=torch.float64, device=device)
        self.m2 = torch.zeros(width, dtype=torch.float64, device=device)
        self.abs_sum = torch.zeros(width, dtype=torch.float64, device=device)  # sum_t |x_tj| (LLM-BIP's |X_j|)
        self.gram = torch.zeros(width, width, dtype=torch.float32, device=device) if gram else None

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.detach().reshape(-1, x.shape[-1])
        if x.shape[-1] != self.width:
            raise ValueError(f"input width {x.shape[-1]} != {self.width}")
        n_b = x.shape[0]
        if n_b == 0:
            return
        x64 = x.to(torch.float64)
        mean_b = x64.mean(dim=0)
        m2_b = ((x64 - mean_b) ** 2).sum(dim=0)
        n_a, n = self.count, self.count + n_b
        delta = mean_b - self.mean
        # Chan, Golub & LeVeque (1979) pairwise merge: exact and stable in any batch order.
        self.mean += delta * (n_b / n)
        self.m2 += m2_b + delta**2 * (n_a * n_b / n)
        self.abs_sum += x64.abs().sum(dim=0)
        self.count = n
        if self.gram is not None:
            xf = x.to(torch.float32)
            self.gram.addmm_(xf.T, xf)

    @property
    def var(self) -> torch.Tensor:
        """Unbiased per-channel variance, Var_j = M2_j / (N - 1)."""
        if self.count < 2:
            raise ValueError("variance needs at least two calibration tokens")
        return self.m2 / (self.count - 1)

    @property
    def sq_norm(self) -> torch.Tensor:
        """Squared L2 norm of each input channel over all tokens, ||X_j||^2 = sum_t x_tj^2."""
        return self.m2 + self.count * self.mean**2

    @property
    def abs_mean(self) -> torch.Tensor:
        """Mean absolute value of each input channel over all tokens, (1/N) sum_t |x_tj|."""
        return self.abs_sum / max(self.count, 1)

    @property
    def norm(self) -> torch.Tensor:
        return self.sq_norm.sqrt()

    def centring(self) -> dict[str, float]:
        """How far the inputs are from centred per feature (the condition under which Wanda is optimal, STADE
        Prop. P4): the median over channels of mu_j^2 / Var(x_j) (0 = centred), the share of channels with
        |mu_j| / sigma_j > 0.5, and the mean |mu_j| and sigma_j."""
        ratio = self.mean**2 / self.var.clamp_min(1e-30)
        return {"median_mean2_over_var": float(ratio.median()),
                "share_abs_mean_over_std_gt_0.5": float((ratio > 0.25).double().mean()),
                "mean_abs_mean": float(self.mean.abs().mean()), "mean_std": float(self.var.sqrt().mean())}
