"""--offload: a model pruned with its decoder blocks on disk (or in CPU memory), one block at a time on the execution
device, gets the same masks, weights and perplexity as the in-memory run; the checkpoint it streams from is never
written; what --offload cannot do is refused before any work."""
from __future__ import annotations

import hashlib

import pytest
import torch

from methods import PruneConfig, run
from methods.models import byte_tokenizer, load_model, prunable_linears
from methods.offload import is_offloaded, stored_tensor
from methods.pipeline import calibration_ids, prune_loaded
from methods.random_models import random_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("offload_ckpt")
    random_model("llama", seed=3, layers=3).save_pretrained(path)
    byte_tokenizer().save_pretrained(path)
    return path


def _digest(folder) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.glob("*.safetensors")))).hexdigest()


def _pruned_state(checkpoint, config: PruneConfig, offload, folder=None) -> tuple[dict, object]:
    loaded = load_model(str(checkpoint), device="cpu", offload=offload, offload_folder=folder)
    assert is_offloaded(loaded.model) == (offload == "disk")
    calib, _ = calibration_ids(config, loaded, progress=False)
    prune_loaded(config, loaded, calib, progress=False)
    state = {}
    for name, layer in prunable_linears(loaded.model).items():
        state[name] = stored_tensor(layer, "weight").clone()
        if layer.bias is not None:
            state[name + ".bias"] = stored_tensor(layer, "bias").clone()
    return state, loaded


CASES = [("wanda", "unstructured", "uniform"), ("stade", "unstructured", "uniform"),  # STADE adds biases
         ("sparsegpt", "2:4", "uniform"), ("wanda", "unstructured", "owl"), ("magnitude", "unstructured", "alpha")]


@pytest.mark.parametrize("method,pattern,allocator", CASES)
def test_disk_offload_gives_the_in_memory_weights_bit_for_bit(checkpoint, tmp_path, method, pattern, allocator):
    config = PruneConfig(model=str(checkpoint), method=method, pattern=pattern, allocator=allocator,
                         sparsity=0.6 if allocator != "uniform" else (None if pattern != "unstructured" else 0.5),
                         nsamples=4, seqlen=64, eval=(), device="cpu").validate()
    before = _digest(checkpoint)
    reference, _ = _pruned_state(checkpoint, config, None)
    offloaded, loaded = _pruned_state(checkpoint, config, "disk", tmp_path / "offload")
    assert reference.keys() == offloaded.keys()
    for name in reference:
        assert torch.equal(reference[name], offloaded[name]), name
    assert any((w == 0).float().mean() > 0.4 for n, w in offloaded.items() if not n.endswith(".bias"))
    assert _digest(checkpoint) == before, "the checkpoint streamed from must never be written"
    assert list((tmp_path / "offload").glob("*.dat")), "pruned blocks go to the offload folder"


def test_offloaded_run_has_the_same_perplexity_and_saves_a_loadable_model(checkpoint, tmp_path):
    from methods.pipeline import eval_only

    base = dict(model=str(checkpoint), method="stade", eval=("wiki_vital",), nsamples=4, seqlen=64, eval_windows=3,
                device="cpu")
    memory = run(PruneConfig(**base), progress=False)
    out = tmp_path / "saved"
    disk = run(PruneConfig(**base, offload="disk", offload_folder=str(tmp_path / "off")), progress=False,
               save=str(out))
    assert disk["ppl"] == memory["ppl"] and disk["key"] == memory["key"]  # offloading does not change the run
    assert disk["model"]["offload"] == "disk" and not disk.get("save_error")
    assert eval_only(str(out), ("wiki_vital",), seqlen=64, max_windows=3, device="cpu")["ppl"] == memory["ppl"]


def test_cpu_offload_mode_is_the_in_memory_run_on_a_cpu(checkpoint):
    config = PruneConfig(model=str(checkpoint), method="wanda", nsamples=4, seqlen=64, eval=(), device="cpu").validate()
    reference, _ = _pruned_state(checkpoint, config, None)
    cpu, _ = _pruned_state(checkpoint, config, "cpu")
    assert all(torch.equal(reference[n], cpu[n]) for n in reference)


def test_disk_offload_scratch_folder_is_removed_with_the_model(checkpoint):
    """Without --offload-folder the offloaded copy goes to a scratch folder (hundreds of MB at full size): it must
    not outlive the model."""
    import gc
    from pathlib import Path

    loaded = load_model(str(checkpoint), device="cpu", offload="disk")
    folder = Path(loaded.model.offload_scratch_folder)
    assert folder.is_dir()
    del loaded
    gc.collect()
    assert not folder.exists()


@pytest.mark.parametrize("fields,message", [
    ({"method": "wanda_sp"}, "changes the blocks' shapes"),
    ({"method": "pruner_zero"}, "needs gradients"),
    ({"model": "random:llama"}, "checkpoint on disk"),
    ({"offload": "gpu"}, "must be one of"),
    ({"offload": None, "offload_folder": "/tmp/x"}, "pass --offload disk"),
    ({"offload": "cpu", "offload_folder": "/tmp/x"}, "is for --offload disk"),
])
def test_what_offload_cannot_do_is_refused_before_loading(fields, message):
    config = PruneConfig(**{"model": "/nonexistent/never/loaded", "method": "wanda", "offload": "disk", "eval": (),
                            "device": "cpu", **fields})
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_cli_offload_flags(checkpoint, tmp_path, capsys):
    from methods.__main__ import main

    out = tmp_path / "rows.jsonl"
    argv = ["prune", "--model", str(checkpoint), "--method", "wanda", "--sparsity", "0.5", "--nsamples", "4",
            "--seqlen", "64", "--eval-windows", "2", "--device", "cpu", "--offload", "disk", "--offload-folder",
            str(tmp_path / "blocks"), "--output", str(out), "--no-progress"]
    assert main(argv) == 0
    assert '"offload": "disk"' in out.read_text()
    assert main(["prune", "--model", str(checkpoint), "--method", "wanda_sp", "--sparsity", "0.3", "--offload",
                 "disk", "--device", "cpu"]) == 2
    assert "changes the blocks' shapes" in capsys.readouterr().err


def test_offloaded_scorer_run_trims_the_heap_once_per_block(checkpoint, tmp_path, monkeypatch):
    """An offloaded block's weights come in and go out once per block: the engine hands their freed pages back after
    each block (an in-memory scorer run never trims; the pruning-cost table's wanda@disk row measures the peak)."""
    import methods.engine as engine

    calls = []
    monkeypatch.setattr(engine, "trim_heap", lambda: calls.append(1) or True)
    config = PruneConfig(model=str(checkpoint), method="wanda", sparsity=0.5, nsamples=2, seqlen=32, eval=(),
                         device="cpu").validate()
    _pruned_state(checkpoint, config, None)
    assert calls == []
    _pruned_state(checkpoint, config, "disk", tmp_path / "offload")
    assert len(calls) == 3
