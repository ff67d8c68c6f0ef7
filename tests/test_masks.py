"""Mask rules on hand-built cases: exact counts, stable tie-breaking, N:M groups, errors."""
import pytest
import torch

from methods.masks import Pattern, check_sparsity, nm_mask, per_row_mask, row_mask, select


def test_row_mask_hand_built():
    score = torch.tensor([[4.0, 1.0, 3.0, 2.0],
                          [1.0, 1.0, 1.0, 1.0]])  # all tied: the stable sort prunes the first columns
    mask = row_mask(score, 0.5)
    assert mask.tolist() == [[False, True, False, True], [True, True, False, False]]


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.73, 0.99])
def test_row_mask_exact_count_per_row(sparsity):
    score = torch.randn(37, 61, generator=torch.Generator().manual_seed(1))
    mask = row_mask(score, sparsity)
    assert (mask.sum(1) == int(61 * sparsity)).all()
    # pruned entries are the lowest of their row
    for r in range(37):
        if mask[r].any() and (~mask[r]).any():
            assert score[r][mask[r]].max() <= score[r][~mask[r]].min()


def test_nm_mask_hand_built():
    score = torch.tensor([[5.0, 1.0, 2.0, 9.0, 0.0, 0.0, 3.0, 4.0]])
    assert nm_mask(score, Pattern(2, 4)).tolist() == [[False, True, True, False, True, True, False, False]]
    assert nm_mask(score, Pattern(1, 4)).tolist() == [[False, True, False, False, True, False, False, False]]


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (1, 4), (3, 8)])
def test_nm_exact_per_group(n, m):
    score = torch.randn(16, 64)
    mask = nm_mask(score, Pattern(n, m))
    assert (mask.reshape(16, -1, m).sum(-1) == n).all()


def test_per_row_mask_counts():
    score = torch.randn(4, 10)
    mask = per_row_mask(score, torch.tensor([0.0, 0.25, 0.5, 0.95]))
    assert mask.sum(1).tolist() == [0, 2, 5, 9]
    assert torch.equal(per_row_mask(score, torch.full((4,), 0.5)), row_mask(score, 0.5))
    assert torch.equal(select(score, torch.full((4,), 0.3), Pattern()), row_mask(score, 0.3))


@pytest.mark.parametrize("text,msg", [("2:2", "0 < N < M"), ("4:2", "0 < N < M"), ("0:4", "0 < N < M"),
                                      ("2-4", "N:M"), ("abc", "N:M")])
def test_bad_patterns(text, msg):
    with pytest.raises(ValueError, match=msg):
        Pattern.parse(text)


def test_pattern_width_and_sparsity_errors():
    with pytest.raises(ValueError, match="does not divide"):
        nm_mask(torch.randn(2, 10), Pattern(2, 4))
    for bad in (-0.1, 1.0, 1.5, "0.5"):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            check_sparsity(bad)
    assert Pattern.parse("unstructured") == Pattern() and str(Pattern.parse("2:4")) == "2:4"


def test_comparison_groups_hand_built():
    score = torch.tensor([[4.0, 1.0, 3.0],
                          [2.0, 6.0, 5.0]])
    assert select(score, 0.5, Pattern(), "column").tolist() == [[False, True, True], [True, False, False]]
    # whole matrix: the 3 lowest of 6 are 1, 2, 3
    assert select(score, 0.5, Pattern(), "layer").tolist() == [[False, True, True], [True, False, False]]
    assert select(score, 0.5, Pattern(), "row").tolist() == [[False, True, False], [True, False, False]]


@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.77])
def test_comparison_groups_exact_in_their_group(sparsity):
    score = torch.randn(24, 40, generator=torch.Generator().manual_seed(3))
    column = select(score, sparsity, Pattern(), "column")
    assert (column.sum(0) == int(24 * sparsity)).all()
    layer = select(score, sparsity, Pattern(), "layer")
    assert int(layer.sum()) == int(score.numel() * sparsity)
    assert score[layer].max() <= score[~layer].min()


def test_comparison_group_errors():
    score = torch.randn(4, 8)
    with pytest.raises(ValueError, match="comparison group"):
        select(score, 0.5, Pattern(), "block")
    # an N:M pattern is its own group (M consecutive inputs of a row), whatever the unstructured group
    assert torch.equal(select(score, 0.5, Pattern(2, 4), "layer"), select(score, 0.5, Pattern(2, 4), "row"))
    with pytest.raises(ValueError, match="within output rows"):
        select(score, torch.full((4,), 0.5), Pattern(), "column")


def _stable_sort_reference(score: torch.Tensor, k: int) -> torch.Tensor:
    mask = torch.zeros_like(score, dtype=torch.bool)
    if k:
        mask.scatter_(1, torch.sort(score, dim=1, stable=True).indices[:, :k], True)
    return mask


@pytest.mark.parametrize("levels", [3, 16, 10_000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_time_selection_equals_the_stable_sort(levels, dtype):
    """The selection rule (k-th value, then ties left to right) prunes exactly what a stable sort's first k would,
    including on scores with many exact ties (few distinct levels, as de-quantized 4-bit weights give)."""
    from methods.masks import lowest_k

    g = torch.Generator().manual_seed(levels)
    score = torch.randint(0, levels, (37, 96), generator=g).to(dtype)
    for k in (0, 1, 17, 48, 95, 96):
        assert torch.equal(lowest_k(score, k), _stable_sort_reference(score, k)), k


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kth_smallest_is_torch_kthvalue(dtype):
    """numpy's introselect (the CPU path) returns the same k-th value as torch.kthvalue, ties and all."""
    from methods.masks import kth_smallest

    g = torch.Generator().manual_seed(1)
    for score in (torch.rand(64, 300, generator=g, dtype=dtype), torch.randint(0, 5, (64, 300), generator=g).to(dtype)):
        for k in (1, 150, 300):
            assert torch.equal(kth_smallest(score, k), torch.kthvalue(score, k, dim=1, keepdim=True).values)
