"""Owning the weights of a memory-mapped checkpoint (methods/mapped.py): the copies hold the file's values, no
parameter is left on the mapping, and pages are only ever dropped inside a safetensors file mapping."""
import torch
from safetensors.torch import load_file

from methods.mapped import _drop_pages, file_mappings, own_weights
from methods.models import load_model


def _inside(ptr: int, ranges) -> bool:
    return any(a <= ptr < b for a, b in ranges)


def test_loaded_weights_are_owned_copies_of_the_file(llama_dir):
    loaded = load_model(str(llama_dir), device="cpu")
    ranges = file_mappings()
    on_file = load_file(str(llama_dir / "model.safetensors"))
    params = dict(loaded.model.named_parameters())
    for name, value in on_file.items():
        assert torch.equal(params[name].data, value), name
    assert not any(_inside(p.data_ptr(), ranges) for p in params.values())


def test_mapped_pages_are_dropped_and_refault_with_the_same_bytes(llama_dir):
    from safetensors import safe_open

    with safe_open(str(llama_dir / "model.safetensors"), framework="pt") as f:
        name = max(f.keys(), key=lambda k: f.get_slice(k).get_shape()[0] * (f.get_slice(k).get_shape() + [1])[1])
        mapped = f.get_tensor(name)
    before = mapped.clone()
    ranges = file_mappings()
    assert _inside(mapped.data_ptr(), ranges)  # a view of the mapping, or this test would check nothing
    _drop_pages(mapped, ranges)
    assert torch.equal(mapped, before)  # dropped pages of a file mapping refault from the file


def test_anonymous_memory_is_never_dropped():
    tensor = torch.arange(1 << 20, dtype=torch.float32)  # 4 MB of heap: madvise(DONTNEED) would zero it
    _drop_pages(tensor, file_mappings())
    assert torch.equal(tensor, torch.arange(1 << 20, dtype=torch.float32))
    _drop_pages(tensor, [(tensor.data_ptr() - 1, tensor.data_ptr())])  # a range that does not contain it
    assert torch.equal(tensor, torch.arange(1 << 20, dtype=torch.float32))


def test_owning_twice_keeps_values_and_tied_weights(llama_dir):
    model = load_model(str(llama_dir), device="cpu").model
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    own_weights(model)  # already-owned tensors: copied again, never dropped
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert (model.get_output_embeddings().weight is model.get_input_embeddings().weight) == tied


def test_trim_heap_hands_freed_pages_back(monkeypatch):
    """On glibc (this project's Linux targets) the trim is found and called; elsewhere it reports False, never raises."""
    import sys

    from methods import mapped

    if sys.platform.startswith("linux"):
        calls = []
        real = mapped._malloc_trim()
        assert real is not None  # glibc exports malloc_trim: a broken lookup would silently disable the trim
        monkeypatch.setattr(mapped, "_malloc_trim", lambda: lambda pad: calls.append(pad) or 1)
        assert mapped.trim_heap() and calls == [0]
    monkeypatch.setattr(mapped, "_malloc_trim", lambda: None)
    assert mapped.trim_heap() is False
