"""Streaming per-input-channel statistics of a linear layer's inputs.

For inputs X (N tokens x d channels) seen in batches, keep in float64:
  count N, mean mu_j, and M2_j = sum_t (x_tj - mu_j)^2   (merged across batches with Chan et al.'s formula)
Each batch is summed in float32 around a fixed shift (the first batch's mean), so that no large mean cancels, and the
batch's mean and M2 are merged into the float64 totals: a relative error of ~1e-7 per batch, for a quarter of the
cost of float64 passes over the activations (the statistics pass is then barely slower than a plain forward).
On request (`needs`):
  "gram"     G = X^T X (SparseGPT's Hessian and the least-squares/ADMM updates): each batch's product and the sum in
             float64 on CPU, so that the Hessian does not depend on the BLAS kernel or thread count (float32 batch
             products changed SparseGPT's perplexity in the 2nd-3rd digit between 1 and 2 threads, issue 21);
             float32 on accelerators, as the papers;
  "abs_mean" (1/N) sum_t |x_tj| (LLM-BIP's |X_j|).
Everything else is derived: Var_j = M2_j / (N - 1) (unbiased, as STADE's code), and the squared L2 norm
||X_j||_2^2 = M2_j + N mu_j^2, which is Wanda's statistic (Sun et al. 2023, Eq. 1) up to a constant factor.
"""
from __future__ import annotations

import copy
from typing import Iterable, Optional

import torch

NEEDS = ("gram", "abs_mean")
GRAM_DTYPES = {None: None, "float32": torch.float32, "float64": torch.float64}  # None: by device


GRAM_BLOCKS = 4  # X^T X as 4 block rows of its upper trapezoid: (4 + 1) / (2 * 4) = 5/8 of the full GEMM's flops


def _block_edges(width: int) -> list[int]:
    blocks = GRAM_BLOCKS if width >= 256 else 1  # small widths: one GEMM is cheaper than four
    return [round(i * width / blocks) for i in range(blocks + 1)]


def _add_upper_gram(gram: torch.Tensor, x: torch.Tensor) -> None:
    """gram[a, a:] += x_a^T x[:, a:] for each block row a: every entry on or above the diagonal is a full product;
    the blocks below the diagonal are skipped (_mirror fills them)."""
    edges = _block_edges(gram.shape[0])
    for a0, a1 in zip(edges, edges[1:]):
        gram[a0:a1, a0:].addmm_(x[:, a0:a1].T, x[:, a0:])


def _mirror(gram: torch.Tensor) -> None:
    """Copy the upper triangle onto the lower one, block by block (no full-size temporaries)."""
    edges = _block_edges(gram.shape[0])
    for i, (a0, a1) in enumerate(zip(edges, edges[1:])):
        diag = gram[a0:a1, a0:a1]
        diag.copy_(diag.triu() + diag.triu(1).T)
        for b0, b1 in zip(edges[i + 1:], edges[i + 2:]):
            gram[b0:b1, a0:a1].copy_(gram[a0:a1, b0:b1].T)


class NonFiniteError(ValueError):
    """A non-finite weight, statistic or loss (names where it came from)."""


class LayerStats:
    """Running moments of one layer's input channels.

    `update(x)` takes any tensor whose last dimension is the input width; all leading dims are tokens.
    """

    def __init__(self, width: int, gram: bool = False, device: torch.device | str = "cpu",
                 needs: Iterable[str] = (), gram_dtype: Optional[torch.dtype] = None) -> None:
        needs = set(needs) | ({"gram"} if gram else set())
        unknown = needs - set(NEEDS)
        if unknown:
            raise ValueError(f"unknown statistics {sorted(unknown)}; known: {', '.join(NEEDS)}")
        self.width = width
        self.count = 0
        self.mean = torch.zeros(width, dtype=torch.float64, device=device)
        self.m2 = torch.zeros(width, dtype=torch.float64, device=device)
        self.abs_sum = torch.zeros(width, dtype=torch.float64, device=device) if "abs_mean" in needs else None
        if gram_dtype is None:  # float64 on CPU (products and sum), float32 on accelerators
            gram_dtype = torch.float64 if torch.device(device).type == "cpu" else torch.float32
        self._gram = torch.zeros(width, width, dtype=gram_dtype, device=device) if "gram" in needs else None
        self._mirrored = True
        self.grad: Optional[torch.Tensor] = None  # set per layer by with_grad
        self._shift: Optional[torch.Tensor] = None

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.detach().reshape(-1, x.shape[-1])
        if x.shape[-1] != self.width:
            raise ValueError(f"input width {x.shape[-1]} != {self.width}")
        n_b = x.shape[0]
        if n_b == 0:
            return
        x32 = x if x.dtype == torch.float32 else x.float()
        if self._shift is None:  # the first batch's mean: later batches are summed around it (no cancellation)
            self._shift = x32.mean(dim=0)
        centred = x32 - self._shift
        s1 = centred.sum(dim=0).double()
        s2 = (centred * centred).sum(dim=0).double()
        mean_b = self._shift.double() + s1 / n_b
        m2_b = (s2 - s1 * s1 / n_b).clamp_min(0.0)
        n_a, n = self.count, self.count + n_b
        delta = mean_b - self.mean
        # Chan, Golub & LeVeque (1979) pairwise merge: exact and stable in any batch order.
        self.mean += delta * (n_b / n)
        self.m2 += m2_b + delta**2 * (n_a * n_b / n)
        self.count = n
        if self.abs_sum is not None:
            self.abs_sum += x32.abs().sum(dim=0).double()
        if self._gram is not None:
            _add_upper_gram(self._gram, x.to(self._gram.dtype))  # the product in the Gram's own precision
            self._mirrored = False

    @property
    def gram(self) -> Optional[torch.Tensor]:
        """X^T X (None unless collected). Updates fill its upper block trapezoid; reading mirrors it, so the matrix
        is exactly symmetric."""
        if self._gram is not None and not self._mirrored:
            _mirror(self._gram)
            self._mirrored = True
        return self._gram

    @gram.setter
    def gram(self, value: Optional[torch.Tensor]) -> None:
        self._gram, self._mirrored = value, True

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
        if self.abs_sum is None:
            raise ValueError("abs_mean was not collected: the method must declare needs={'abs_mean'}")
        return self.abs_sum / max(self.count, 1)

    @property
    def norm(self) -> torch.Tensor:
        return self.sq_norm.sqrt()

    def with_grad(self, grad: torch.Tensor) -> "LayerStats":
        """A view of these statistics that also carries one layer's squared-gradient sums (`grad`), for metrics that
        combine both (Pruner-Zero); the moments are shared, not copied."""
        view = copy.copy(self)
        view.grad = grad
        return view

    def release_gram(self) -> None:
        """Free the Gram matrix once every layer that reads it is solved (SparseGPT's peak memory)."""
        self._gram = None

    def check_finite(self, where: str) -> None:
        """Raise NonFiniteError naming `where` if a moment is NaN or infinite (a diverged block upstream). Of the Gram
        only the diagonal sum_t x_tj^2 is read: a NaN/inf input or an overflowed product reaches it too
        (|x_i x_j| <= max(x_i^2, x_j^2)), at 1/n of the cost of scanning the whole matrix."""
        gram_diag = None if self._gram is None else torch.diagonal(self._gram)
        for name, value in (("mean", self.mean), ("M2", self.m2), ("gram", gram_diag)):
            if value is not None and not bool(torch.isfinite(value).all()):
                raise NonFiniteError(f"non-finite input statistics ({name}) at {where}: the block's inputs contain NaN "
                                     "or inf (check the model's weights; --allow-nonfinite skips this check)")

    def centring(self) -> dict[str, float]:
        """How far the inputs are from centred per feature (the condition under which Wanda is optimal, STADE
        Prop. P4): the median over channels of mu_j^2 / Var(x_j) (0 = centred), the share of channels with
        |mu_j| / sigma_j > 0.5, and the mean |mu_j| and sigma_j."""
        ratio = self.mean**2 / self.var.clamp_min(1e-30)
        return {"median_mean2_over_var": float(ratio.median()),
                "share_abs_mean_over_std_gt_0.5": float((ratio > 0.25).double().mean()),
                "mean_abs_mean": float(self.mean.abs().mean()), "mean_std": float(self.var.sqrt().mean())}
