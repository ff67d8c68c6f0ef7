"""Masks of magnitude, Wanda, STADE and SparseGPT on the tiny models equal pinned reference masks, so that an
engine speed-up (statistics, selection, solver) cannot silently change results. Regenerate the fixture with
`tests/pinned_masks.py` only for a change that is meant to change masks."""
import pytest
from safetensors.torch import load_file

import pinned_masks


@pytest.fixture(scope="module")
def pinned():
    return load_file(pinned_masks.FIXTURE)


@pytest.mark.parametrize("family", pinned_masks.FAMILIES)
@pytest.mark.parametrize("method,pattern", pinned_masks.CASES)
def test_masks_equal_the_pinned_reference(pinned, family, method, pattern):
    masks = pinned_masks.masks_of(family, method, pattern)
    assert masks.keys() == {k for k in pinned if k.startswith(f"{family}/{method}/{pattern}/")}
    for key, mask in masks.items():
        expected = pinned_masks.unpack(pinned[key], tuple(mask.shape))
        differ = int((mask != expected).sum())
        assert differ == 0, f"{key}: {differ} of {mask.numel()} weights differ from the pinned mask"
