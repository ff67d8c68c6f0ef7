"""LayerStats against numpy on the full materialised input, for several batch splits."""
import numpy as np
import pytest
import torch

from methods.stats import LayerStats


@pytest.mark.parametrize("splits", [[1000], [1, 999], [300, 300, 400], [7] * 142 + [6]])
def test_moments_match_numpy(splits):
    rng = np.random.default_rng(0)
    # large means and mixed scales: a naive sum-of-squares variance would lose digits here
    x = rng.normal(loc=rng.uniform(-50, 50, 12), scale=rng.uniform(0.01, 3, 12), size=(sum(splits), 12))
    stats = LayerStats(12, gram=True)
    start = 0
    for n in splits:
        stats.update(torch.tensor(x[start:start + n], dtype=torch.float32).reshape(1, n, 12))
        start += n
    x32 = x.astype(np.float32).astype(np.float64)  # what the layer actually sees
    assert stats.count == len(x)
    # float32 sums per batch around a shift, merged in float64: ~1e-7 relative, even for means 5000x the spread
    np.testing.assert_allclose(stats.mean.numpy(), x32.mean(0), rtol=1e-8)
    np.testing.assert_allclose(stats.var.numpy(), x32.var(0, ddof=1), rtol=2e-6)
    np.testing.assert_allclose(stats.sq_norm.numpy(), (x32**2).sum(0), rtol=1e-7)
    # float64 products and sum on CPU (float32 products would miss this by ~1e-7: thread-dependent SparseGPT masks)
    np.testing.assert_allclose(stats.gram.numpy(), x32.T @ x32, rtol=1e-12)


def test_width_mismatch_and_single_token():
    stats = LayerStats(4)
    with pytest.raises(ValueError, match="width"):
        stats.update(torch.zeros(3, 5))
    stats.update(torch.ones(1, 4))
    with pytest.raises(ValueError, match="two calibration tokens"):
        stats.var


def test_blocked_gram_is_the_full_product_and_symmetric():
    """Wide inputs fill X^T X by block rows of its upper trapezoid; reading it gives the whole product, exactly
    symmetric, even when batches keep arriving after a read."""
    g = torch.Generator().manual_seed(0)
    stats = LayerStats(301, gram=True)
    xs = [torch.randn(2, 37, 301, generator=g) for _ in range(3)]
    stats.update(xs[0])
    _ = stats.gram  # a read between batches must not double-count the mirrored half
    for x in xs[1:]:
        stats.update(x)
    x64 = torch.cat([x.reshape(-1, 301) for x in xs]).double()
    G = stats.gram
    assert torch.equal(G, G.T)
    torch.testing.assert_close(G, x64.T @ x64, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 3e38])
@pytest.mark.parametrize("gram_dtype", [torch.float64, torch.float32])
def test_non_finite_inputs_are_caught_from_the_gram_diagonal(bad, gram_dtype):
    """check_finite reads only the Gram's diagonal: one NaN/inf input, or (float32 Gram) a product that overflows,
    reaches it, and finite inputs pass. 3e38 is finite in float32 but its square overflows a float32 Gram (and the
    float32 M2), while a float64 Gram holds it: then the moments alone decide."""
    from methods.stats import NonFiniteError

    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    clean = LayerStats(8, gram=True, gram_dtype=gram_dtype)
    clean.update(x)
    clean.check_finite("clean")
    clean._gram[4, 4] = float("nan")  # the moments are finite: only the Gram check can see this
    with pytest.raises(NonFiniteError, match=r"\(gram\)"):
        clean.check_finite("clean")
    x[5, 3] = bad
    stats = LayerStats(8, gram=True, gram_dtype=gram_dtype)
    stats.update(x)
    assert not bool(torch.isfinite(torch.diagonal(stats._gram)).all()) == (bad != 3e38 or gram_dtype == torch.float32)
    with pytest.raises(NonFiniteError, match="block 0"):
        stats.check_finite("block 0")
