"""Reference masks of the tiny models, pinned so that engine speed-ups cannot silently change results.

    .venv/bin/python tests/pinned_masks.py     # rewrite tests/fixtures/pinned_masks.safetensors

Regenerate only for a change that is meant to change masks, and say why in the commit (test_pinned_masks.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURE = ROOT / "tests" / "fixtures" / "pinned_masks.safetensors"
CASES = [("magnitude", "unstructured"), ("wanda", "unstructured"), ("stade", "unstructured"),
         ("sparsegpt", "unstructured"), ("wanda", "2:4"), ("stade", "2:4"), ("sparsegpt", "2:4")]
FAMILIES = ("llama", "opt")


def calibration_ids() -> torch.Tensor:
    return torch.randint(0, 260, (6, 48), generator=torch.Generator().manual_seed(0))


def masks_of(family: str, method: str, pattern: str) -> dict[str, torch.Tensor]:
    """Pruned-weight masks (True = pruned) of every decoder linear, keyed "<family>/<method>/<pattern>/<layer>"."""
    from methods import METHODS, Pattern, prune_model
    from methods.models import prunable_linears
    from methods.random_models import random_model

    model = random_model(family)
    prune_model(model, METHODS[method], calibration_ids(), 0.5, Pattern.parse(pattern), batch_size=4, progress=False)
    return {f"{family}/{method}/{pattern}/{name}": layer.weight == 0 for name, layer in prunable_linears(model).items()}


def pack(mask: torch.Tensor) -> torch.Tensor:
    """Bool mask -> uint8 bits (8 weights a byte, row-major), the fixture's storage."""
    import numpy as np
    return torch.from_numpy(np.packbits(mask.numpy().reshape(-1)))


def unpack(bits: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    import numpy as np
    n = 1
    for d in shape:
        n *= d
    return torch.from_numpy(np.unpackbits(bits.numpy())[:n].astype(bool)).reshape(shape)


def all_masks() -> dict[str, torch.Tensor]:
    out = {}
    for family in FAMILIES:
        for method, pattern in CASES:
            out.update(masks_of(family, method, pattern))
    return out


if __name__ == "__main__":
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: pack(v) for k, v in all_masks().items()}, FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
