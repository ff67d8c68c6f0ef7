"""Every metric against a brute-force computation on a materialised input matrix, and the layer-level claims:
STADE's compensation keeps the mean output, SparseGPT beats Wanda's reconstruction on correlated inputs."""
import copy

import pytest
import torch
from torch import nn

from methods import METHODS, Pattern, prune_layer
from methods.stats import LayerStats


def _inputs(n=512, d=32, seed=0, correlated=False):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(d, generator=g) * 2
    scale = torch.rand(d, generator=g) * 2 + 0.1
    x = torch.randn(n, d, generator=g)
    if correlated:
        mix = torch.randn(d, d, generator=g) / d**0.5 + torch.eye(d)
        x = x @ mix
    return x * scale + mean


def _layer(d_in=32, d_out=16, bias=False, seed=1):
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out, bias=bias)


def _stats(x, gram=False):
    s = LayerStats(x.shape[1], gram=gram)
    for chunk in x.split(100):
        s.update(chunk)
    return s


def test_scores_against_brute_force():
    x = _inputs().double()
    W = _layer().weight.data
    stats = _stats(x.float())
    xf = x.float().double()
    norm = torch.sqrt((xf**2).sum(0))
    var = ((xf - xf.mean(0)) ** 2).sum(0) / (xf.shape[0] - 1)
    mean = xf.mean(0)
    Wd = W.double()
    torch.testing.assert_close(METHODS["magnitude"].score(W, None), W.abs())
    # the statistics are float32 sums per batch merged in float64 (methods/stats.py): ~1e-7 relative
    torch.testing.assert_close(METHODS["wanda"].score(W, stats), Wd.abs() * norm, rtol=1e-6, atol=0)
    torch.testing.assert_close(METHODS["stade_all"].score(W, stats), Wd**2 * var, rtol=1e-6, atol=0)
    torch.testing.assert_close(METHODS["stade_star"].score(W, stats), Wd**2 * (var + mean**2), rtol=1e-6, atol=0)


def test_stade_star_ranks_like_wanda():
    """W^2 (Var + mu^2) with the unbiased variance differs from Wanda's W^2 E[x^2] only by N/(N-1) on Var."""
    x = _inputs(n=20000)
    stats = _stats(x)
    m_star = prune_layer(copy.deepcopy(_layer(32, 64)), METHODS["stade_star"], stats, 0.5, Pattern())
    m_wanda = prune_layer(copy.deepcopy(_layer(32, 64)), METHODS["wanda"], stats, 0.5, Pattern())
    assert (m_star == m_wanda).float().mean() > 0.999


def _mean_output(layer, x):
    with torch.no_grad():
        return layer(x).double().mean(0)


@pytest.mark.parametrize("bias", [False, True])
def test_stade_compensation_keeps_mean_output(bias):
    x = _inputs()
    dense = _layer(bias=bias)
    stats = _stats(x)
    comp, nocomp = copy.deepcopy(dense), copy.deepcopy(dense)
    mask = prune_layer(comp, METHODS["stade_all"], stats, 0.5, Pattern())
    mask_nc = prune_layer(nocomp, METHODS["stade_all_nocomp"], stats, 0.5, Pattern())
    assert torch.equal(mask, mask_nc)  # same metric, only the bias differs
    assert comp.bias is not None
    target = _mean_output(dense, x)
    torch.testing.assert_close(_mean_output(comp, x), target, atol=1e-4, rtol=1e-5)
    assert (_mean_output(nocomp, x) - target).abs().max() > 0.1
    # the update must use the weights before zeroing: b += sum over pruned j of W_ij mu_j
    expected = (dense.weight.double() * mask) @ x.double().mean(0)
    base = dense.bias.double() if bias else 0
    torch.testing.assert_close(comp.bias.double() - base, expected, atol=1e-5, rtol=1e-5)


def test_stade_beats_wanda_on_uncentred_inputs():
    """The theory's prediction at layer level: with non-zero input means, STADE + compensation has a lower
    output MSE than Wanda (the helper measurement in DESIGN.md: 0.025 vs 0.123)."""
    x = _inputs(n=4096)
    dense = _layer(32, 16)
    stats = _stats(x)
    errors = {}
    for name in ("stade_all", "wanda", "stade_all_nocomp"):
        layer = copy.deepcopy(dense)
        prune_layer(layer, METHODS[name], stats, 0.5, Pattern())
        with torch.no_grad():
            errors[name] = float(((layer(x) - dense(x)) ** 2).mean())
    assert errors["stade_all"] < errors["wanda"] < errors["stade_all_nocomp"]


@pytest.mark.parametrize("pattern", [Pattern(), Pattern(2, 4)])
def test_sparsegpt_reconstructs_better_than_wanda(pattern):
    x = _inputs(n=2048, d=64, correlated=True)
    dense = _layer(64, 32)
    stats = _stats(x, gram=True)
    errs = {}
    for name in ("sparsegpt", "wanda"):
        layer = copy.deepcopy(dense)
        mask = prune_layer(layer, METHODS[name], stats, 0.5, pattern)
        assert int(mask.sum()) == 32 * 32
        assert torch.equal(layer.weight == 0, mask) or (layer.weight[mask] == 0).all()
        with torch.no_grad():
            errs[name] = float(((layer(x) - dense(x)) ** 2).mean())
    assert errs["sparsegpt"] < errs["wanda"]


def test_sparsegpt_nm_groups_exact():
    x = _inputs(n=1024, d=64, correlated=True)
    layer = _layer(64, 8)
    mask = prune_layer(layer, METHODS["sparsegpt"], _stats(x, gram=True), 0.5, Pattern(2, 4))
    assert (mask.reshape(8, 16, 4).sum(-1) == 2).all()
    assert ((layer.weight == 0) | ~mask).all() and (layer.weight[mask] == 0).all()


@pytest.mark.parametrize("group_method", ["wanda_lsq", "magnitude_lsq"])
def test_least_squares_update_is_the_per_row_optimum(group_method):
    """The kept weights after the update equal numpy-free brute force: lstsq of X_K v = X w per row (damping
    off), and the update lowers the layer's reconstruction error against the same mask without it."""
    from methods.lsq import least_squares_update
    x = _inputs(n=1024, d=32, correlated=True)
    dense = _layer(32, 12, bias=True)
    stats = _stats(x, gram=True)
    method = METHODS[group_method]
    plain = copy.deepcopy(dense)
    mask = prune_layer(plain, METHODS[group_method.replace("_lsq", "")], stats, 0.5, Pattern())
    updated = copy.deepcopy(dense)
    assert torch.equal(prune_layer(updated, method, stats, 0.5, Pattern()), mask)
    with torch.no_grad():
        err_plain = float(((plain(x) - dense(x)) ** 2).mean())
        err_updated = float(((updated(x) - dense(x)) ** 2).mean())
    assert err_updated < 0.8 * err_plain
    exact = copy.deepcopy(dense)
    least_squares_update(exact, mask, stats, percdamp=0.0)
    xd = x.double()
    for i in range(12):
        kept = ~mask[i]
        ref = torch.linalg.lstsq(xd[:, kept], xd @ dense.weight[i].double()).solution
        assert torch.allclose(exact.weight[i, kept].double(), ref, atol=1e-3, rtol=1e-3)


def test_least_squares_update_leaves_unpruned_rows_and_handles_uneven_rows():
    from methods.lsq import least_squares_update
    x = _inputs(n=512, d=16)
    layer = _layer(16, 4)
    before = layer.weight.detach().clone()
    mask = torch.zeros(4, 16, dtype=torch.bool)
    mask[1, :3] = True
    mask[2, :9] = True  # rows keep 16, 13, 7 and 16 weights: three batches
    least_squares_update(layer, mask, _stats(x, gram=True))
    assert torch.equal(layer.weight[0], before[0]) and torch.equal(layer.weight[3], before[3])
    assert not torch.equal(layer.weight[1], before[1]) and not torch.equal(layer.weight[2], before[2])


@pytest.mark.parametrize("base", [16, 37, 192])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_upper_cholesky_of_inverse_brute_force(dtype, base):
    """U upper triangular with a positive diagonal and U^T U = H^-1, against a dense inverse, in both precisions and
    with the recursive block split (base 16, 37: several levels, odd halves) or LAPACK alone (base 192 > n = 150);
    a matrix that is not positive definite is refused."""
    from methods.sparsegpt import upper_cholesky_of_inverse

    g = torch.Generator().manual_seed(3)
    X = torch.randn(400, 150, generator=g, dtype=torch.float64) * torch.rand(150, generator=g, dtype=torch.float64)
    H = X.T @ X / 400 + 0.01 * torch.eye(150, dtype=torch.float64)
    U = upper_cholesky_of_inverse(H.to(dtype), base=base)
    assert U.dtype == dtype and torch.equal(U, U.triu()) and bool((torch.diag(U) > 0).all())
    tol = 1e-10 if dtype == torch.float64 else 1e-3
    assert torch.allclose((U.T @ U).double(), torch.linalg.inv(H), atol=tol * float(torch.linalg.inv(H).abs().max()))
    with pytest.raises(torch.linalg.LinAlgError):
        upper_cholesky_of_inverse(-H.to(dtype), base=base)
    consumed = H.to(dtype).clone()  # the in-place path SparseGPT takes: same factor bit for bit, its input overwritten
    assert torch.equal(upper_cholesky_of_inverse(consumed, overwrite_input=True, base=base), U)
    assert torch.equal(consumed, H.to(dtype)) == (base > 150)  # LAPACK alone works on a copy
