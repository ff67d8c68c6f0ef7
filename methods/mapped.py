"""Move the weights of a memory-mapped checkpoint into the process's own memory without holding both at once.

from_pretrained leaves CPU weights as views of the safetensors file's mapping. Pruning writes every weight, and on a
mapped page each first write is a copy-on-write fault (measured: ~1 s for SmolLM2's 425 MB of decoder weights, a
third of a forward pass), so the weights are copied up front. Copying alone keeps every mapped page resident until
the last view dies, which is after the whole model is copied: a peak of the model twice over (the peer
benchmark's peak-RSS ratio measures what dropping them saves). Here each tensor's mapped pages are dropped (madvise MADV_DONTNEED) right after it is copied, so the
peak is the model plus one tensor. Only pages inside a safetensors file mapping are dropped, right after their
tensor is copied. The mapping is private (copy-on-write), and nothing has written it at that point (loading only
reads it), so a later read of any other view of those pages refaults the same bytes from the file.
"""
from __future__ import annotations

import ctypes
import mmap
import sys
from functools import lru_cache
from typing import Optional

import torch
from torch import nn

MADV_DONTNEED = 4
PAGE = mmap.PAGESIZE


def own_weights(model: nn.Module) -> None:
    """Replace every CPU parameter that is a view of a file mapping by an owned copy, freeing its pages as it goes."""
    ranges = file_mappings()
    with torch.no_grad():
        for module in model.modules():
            for _, param in list(module.named_parameters(recurse=False)):
                if param.device.type != "cpu":
                    continue
                old = param.data
                param.data = old.clone()
                _drop_pages(old, ranges)


def file_mappings() -> list[tuple[int, int]]:
    """(start, end) of this process's mappings of .safetensors files, from /proc/self/maps (empty off Linux)."""
    try:
        lines = open("/proc/self/maps").read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[5].startswith("/") and fields[5].endswith(".safetensors"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            out.append((start, end))
    return out


def _drop_pages(tensor: torch.Tensor, ranges: list[tuple[int, int]]) -> None:
    """madvise(DONTNEED) the whole pages of `tensor`'s bytes that lie inside a safetensors file mapping."""
    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    lo, hi = -(-start // PAGE) * PAGE, end // PAGE * PAGE  # whole pages only: neighbours keep theirs
    madvise = _madvise()
    if madvise is None or hi <= lo or not any(a <= lo and hi <= b for a, b in ranges):
        return
    madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), MADV_DONTNEED)


@lru_cache(maxsize=1)
def _madvise() -> Optional[ctypes._CFuncPtr]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def trim_heap() -> bool:
    """Hand the allocator's free heap pages back to the OS (glibc malloc_trim(0)); False where there is none.

    A layer's float64 Gram, inverse factor and weight copies are freed once it is solved, but glibc keeps freed
    chunks below its (adaptively raised) mmap threshold in its heaps, so the next layers' buffers of other sizes
    land beside them and the resident set grows block after block. The engine trims once after each block a solver
    pruned (SparseGPT, LSQ, ADMM...), not after scorers, where the refaults would cost more than the pages; the
    pruning_cost and peer_benchmark rows carry the peak RSS this keeps down."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)  # its return value only says whether any memory was released
    return True


@lru_cache(maxsize=1)
def _malloc_trim() -> Optional[ctypes._CFuncPtr]:
    try:
        fn = ctypes.CDLL(None).malloc_trim  # glibc only: musl and macOS have none
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn
