"""Every decoder family the engine claims: its dense stream equals the model's own forward at every block (each
block replayed with its own arguments), STADE's biases survive --save where transformers can express them and the
save is refused before any pruning where it cannot, and a model the engine cannot replay is refused."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM

from methods import PruneConfig, run
from methods.blocks import UnsupportedArchitecture, find_blocks
from methods.stream import block_input_errors, verify_stream
from methods.models import byte_tokenizer
from methods.random_models import RANDOM_FAMILIES, random_model

SEQ = 24  # longer than the tiny models' sliding windows (8): sliding and full-attention masks differ


def _ids(n=2, length=SEQ, seed=0):
    return torch.randint(0, 256, (n, length), generator=torch.Generator().manual_seed(seed))


def _stream_errors(model, ids, replay_block0_args=False):
    """Max |engine input - model's own input| / max |model's| per block (the model's: output_hidden_states)."""
    _, blocks = find_blocks(model)
    return block_input_errors(model, blocks, ids, torch.device("cpu"), replay_block0_args=replay_block0_args)


@pytest.mark.parametrize("family", RANDOM_FAMILIES)
def test_dense_stream_matches_the_models_own_forward(family):
    with torch.no_grad():
        errors = _stream_errors(random_model(family), _ids())
    assert max(errors) < 1e-6, errors


def test_replaying_block_0s_arguments_would_drift_on_gemma3():
    """The test above can fail: Gemma-3's full-attention layers get their own RoPE base and no window; replaying
    block 0's (sliding) arguments for every block, as the engine once did, moves the stream."""
    with torch.no_grad():
        errors = _stream_errors(random_model("gemma3"), _ids(), replay_block0_args=True)
    assert errors[0] == 0 and max(errors[2:]) > 1e-3, errors


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x, **kwargs):
        return self.proj(x)


class _Unreplayable(nn.Module):
    """A causal LM whose forward changes the hidden states between blocks, outside any block."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.layers, self.head = nn.Embedding(16, 8), nn.ModuleList([_Block(), _Block()]), nn.Linear(8, 16)

    def forward(self, input_ids, use_cache=False, output_hidden_states=False):
        h, states = self.embed(input_ids), []
        for layer in self.layers:
            states.append(h)
            h = layer(h) + 1.0
        return SimpleNamespace(logits=self.head(h), hidden_states=tuple(states) + (h,))


def test_a_model_the_engine_cannot_replay_is_refused():
    model = _Unreplayable()
    with pytest.raises(UnsupportedArchitecture, match="block 1 differs"):
        verify_stream(model, model.layers, torch.zeros(1, 6, dtype=torch.long), torch.device("cpu"))


def _saved(family, tmp_path, tokenizer):
    path = tmp_path / family
    random_model(family).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _config(model_dir, corpus_file, **kw):
    spec = f"text:{corpus_file}"
    return PruneConfig(**{**dict(model=str(model_dir), method="stade", calib=spec, eval=(), nsamples=4, seqlen=32,
                                 batch_size=2, device="cpu"), **kw})


@pytest.mark.parametrize("family", ["llama", "opt"])
def test_stade_biases_survive_save_and_plain_from_pretrained(family, tmp_path, corpus_file):
    from methods.models import load_model

    source = _saved(family, tmp_path, byte_tokenizer())
    loaded = load_model(str(source), device="cpu")
    out = tmp_path / "pruned"
    row = run(_config(source, corpus_file), save=str(out), progress=False, loaded=loaded)
    assert row["saved_to"] == str(out) and "save_error" not in row
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = _ids(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, loaded.model(ids).logits, atol=1e-5, rtol=1e-5)
    biased = {n for n, m in reloaded.named_modules() if isinstance(m, nn.Linear) and m.bias is not None
              and m.bias.abs().sum() > 0}
    assert any(n.endswith(("o_proj", "out_proj")) for n in biased) and any(n.endswith(("down_proj", "fc2"))
                                                                          for n in biased)


@pytest.mark.parametrize("family", ["qwen2", "gemma3", "qwen3", "mistral"])
def test_save_refused_before_pruning_where_no_config_can_keep_the_biases(family, tmp_path, corpus_file,
                                                                        monkeypatch):
    import methods.pipeline as pipeline

    source = _saved(family, tmp_path, byte_tokenizer())
    before = (source / "config.json").read_text()
    monkeypatch.setattr(pipeline, "calibration_ids", lambda *a, **k: pytest.fail("calibration ran before the refusal"))
    with pytest.raises(UnsupportedArchitecture, match="without a bias and no config flag adds one"):
        run(_config(source, corpus_file), save=str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists() and (source / "config.json").read_text() == before


def test_gemma3_can_keep_an_attention_output_bias(tmp_path, corpus_file):
    """Gemma-3's attention_bias flag creates o_proj biases: STADE on o_proj alone saves and reloads exactly."""
    from methods.models import load_model

    source = _saved("gemma3", tmp_path, byte_tokenizer())
    loaded = load_model(str(source), device="cpu")
    out = tmp_path / "pruned"
    run(_config(source, corpus_file, method="stade_all", layers="self_attn.o_proj"), save=str(out), progress=False,
        loaded=loaded)
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(_ids(2, 16)).logits, loaded.model(_ids(2, 16)).logits, atol=1e-5,
                                   rtol=1e-5)


@pytest.mark.parametrize("target", ["file", "nonempty", "unwritable"])
def test_bad_save_targets_fail_before_any_work(target, tmp_path, llama_dir, corpus_file, monkeypatch):
    import methods.pipeline as pipeline

    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    out = tmp_path / "out"
    if target == "file":
        out.write_text("x")
    elif target == "nonempty":
        out.mkdir()
        (out / "config.json").write_text("{}")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "out"
        if __import__("os").access(locked, __import__("os").W_OK):
            pytest.skip("running as a user that can write anywhere")
    with pytest.raises(ValueError, match="--save"):
        run(_config(llama_dir, corpus_file), save=str(out), progress=False)


def test_a_save_that_fails_after_the_work_still_returns_the_row(tmp_path, llama_dir, corpus_file, monkeypatch):
    """A full disk during --save must not lose the measured row: it comes back with save_error, saved_to empty."""
    import methods.pipeline as pipeline

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "save_model", full_disk)
    row = run(_config(llama_dir, corpus_file, eval=(f"text:{corpus_file}",), eval_windows=2), save=str(tmp_path / "o"),
              progress=False)
    assert row["saved_to"] is None and "No space left" in row["save_error"]
    assert all(v > 1 for v in row["ppl"].values())


def test_family_matrix_script_reports_works_and_refusals(capsys):
    """scripts/family_matrix.py (the issue-18 table): every operation works on Llama; Qwen2 refuses only the STADE
    save, in one line."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "family_matrix.py"
    spec = importlib.util.spec_from_file_location("family_matrix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--families", "llama,qwen2"])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["llama"] == ["works"] * len(module.OPERATIONS)
    refused = [op for op, c in zip(module.OPERATIONS, rows["qwen2"]) if c != "works"]
    save_cell = rows["qwen2"][list(module.OPERATIONS).index("stade --save")]
    assert refused == ["stade --save"] and "without a bias" in save_cell
