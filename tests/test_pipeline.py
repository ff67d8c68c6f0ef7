"""End-to-end runs on tiny saved models: the result row, saving and reloading, the CLI, bad input."""
import json
import re

import pytest
import torch
from transformers import AutoModelForCausalLM

from methods import PruneConfig, run
from methods.__main__ import main
from methods.models import load_model, prunable_linears

ROW_KEYS = {"key", "config", "model", "method", "allocator", "pattern", "sparsity_target", "sparsity_achieved",
            "calibration", "ppl", "eval_sizes", "seconds", "forward_passes", "peak_rss_mb", "provenance"}


def _config(model_dir, corpus_file, **kw):
    spec = f"text:{corpus_file}"
    base = dict(model=str(model_dir), calib=spec, eval=(spec,), nsamples=4, seqlen=32, eval_windows=4,
                batch_size=2, device="cpu")
    return PruneConfig(**{**base, **kw})


@pytest.mark.parametrize("method,pattern", [("wanda", "unstructured"), ("stade", "2:4"), ("sparsegpt", "4:8")])
def test_run_row(model_dir, corpus_file, method, pattern):
    sparsity = 0.5 if pattern == "unstructured" else None
    row = run(_config(model_dir, corpus_file, method=method, pattern=pattern, sparsity=sparsity), progress=False)
    assert ROW_KEYS <= row.keys()
    assert row["sparsity_achieved"] == pytest.approx(0.5, abs=1e-9)
    assert all(torch.isfinite(torch.tensor(v)) for v in row["ppl"].values())
    assert {"commit", "dirty"} <= row["provenance"]["git"].keys()
    assert row["provenance"]["versions"]["torch"].startswith("2.13")
    assert row["calibration"]["nsamples"] == 4 and row["calibration"]["seed"] == 0
    json.dumps(row)  # serialisable


def test_run_key_ignores_device_but_not_method(llama_dir, corpus_file):
    a = _config(llama_dir, corpus_file, method="wanda")
    b = _config(llama_dir, corpus_file, method="wanda", device="cuda", batch_size=7)
    c = _config(llama_dir, corpus_file, method="stade")
    from methods.results import run_key
    assert run_key(a.defining_fields()) == run_key(b.defining_fields()) != run_key(c.defining_fields())


def test_gram_dtype_is_in_the_key_only_when_set():
    """Unset (the device's default), the Gram precision leaves every recorded row's key as it was; set, it names a
    different run; a precision the solvers do not support is refused before any work."""
    from methods import PruneConfig
    from methods.results import run_key

    keys = [run_key(PruneConfig(method="sparsegpt", gram_dtype=d).validate().defining_fields())
            for d in (None, "float32", "float64")]
    assert "gram_dtype" not in PruneConfig(method="sparsegpt").validate().defining_fields()
    assert len(set(keys)) == 3
    with pytest.raises(ValueError, match="gram_dtype must be float32 or float64"):
        PruneConfig(method="sparsegpt", gram_dtype="float16").validate()


@pytest.mark.parametrize("method", ["stade", "sparsegpt"])
def test_saved_model_round_trip(llama_dir, corpus_file, tmp_path, method):
    """STADE adds biases to Llama's o_proj/down_proj; a reload must keep them (and the zeros)."""
    out = tmp_path / "pruned"
    cfg = _config(llama_dir, corpus_file, method=method, eval=())
    loaded = load_model(str(llama_dir), device="cpu")
    run(cfg, save=str(out), progress=False, loaded=loaded)
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = torch.randint(0, 260, (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, loaded.model(ids).logits, atol=1e-5, rtol=1e-5)
    before, after = prunable_linears(loaded.model), prunable_linears(reloaded)
    for key in before:
        assert torch.equal(before[key].weight == 0, after[key].weight == 0)
    if method == "stade":
        assert after["0.self_attn.o_proj"].bias is not None and after["0.self_attn.o_proj"].bias.abs().sum() > 0
        assert after["0.mlp.down_proj"].bias.abs().sum() > 0


def test_cli_prune_and_eval(llama_dir, corpus_file, tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    spec = f"text:{corpus_file}"
    args = ["--model", str(llama_dir), "--calib", spec, "--eval", spec, "--nsamples", "4", "--seqlen", "32",
            "--eval-windows", "3", "--device", "cpu", "--no-progress", "--output", str(out)]
    assert main(["prune", "--method", "wanda", "--sparsity", "0.5", *args, "--save", str(tmp_path / "m")]) == 0
    assert "wanda unstructured sparsity=0.5000" in capsys.readouterr().out
    assert main(["eval", "--model", str(tmp_path / "m"), "--eval", spec, "--seqlen", "32", "--eval-windows", "3",
                 "--device", "cpu", "--no-progress", "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["method"] for r in rows] == ["wanda", "eval"]
    assert rows[1]["sparsity_achieved"] == pytest.approx(0.5)
    assert rows[1]["ppl"][spec] == pytest.approx(rows[0]["ppl"][spec], rel=1e-4)


@pytest.mark.parametrize("extra,message", [
    (["--method", "wandaa", "--sparsity", "0.5"], "unknown method 'wandaa'. Did you mean 'wanda'"),
    (["--method", "wanda", "--sparsity", "1.0"], r"sparsity must be in \[0, 1\)"),
    (["--method", "wanda", "--sparsity", "-0.1"], r"sparsity must be in \[0, 1\)"),
    (["--method", "wanda"], r"needs a sparsity \(--sparsity\)"),
    (["--method", "wanda", "--pattern", "4:4"], "0 < N < M"),
    (["--method", "wanda", "--pattern", "2:4", "--sparsity", "0.6"], "fixes the sparsity"),
    (["--method", "wanda", "--pattern", "2:5"], "does not divide"),
    (["--method", "wanda", "--sparsity", "0.5", "--calib", "c5"], "unknown corpus 'c5'"),
    (["--method", "wanda", "--sparsity", "0.5", "--seqlen", "2048"], "exceeds the model's context length 1024"),
    (["--method", "wanda", "--sparsity", "0.5", "--allocator", "owl2"], "unknown allocator"),
])
def test_cli_bad_input(llama_dir, corpus_file, capsys, extra, message):
    spec = f"text:{corpus_file}"
    args = ["prune", "--model", str(llama_dir), "--eval", spec, "--nsamples", "2", "--device", "cpu",
            "--no-progress"]
    if "--calib" not in extra:
        args += ["--calib", spec]
    if "--seqlen" not in extra:
        args += ["--seqlen", "32"]
    assert main(args + extra) == 2
    import re
    assert re.search(message, capsys.readouterr().err)


def test_unknown_model_offline(capsys):
    assert main(["eval", "--model", "no-such-org/no-such-model", "--no-progress"]) == 2
    assert re.search("could not load model|not in the local Hugging Face cache", capsys.readouterr().err)


def test_git_provenance_is_read_once_and_ignores_what_runs_write(tmp_path, monkeypatch):
    """'dirty' means the code differed from the commit: results, figures and Markdown edits do not count, a code edit
    does; the state is read once per process, so a commit made during a long run is not credited with its rows."""
    import subprocess

    from methods import results

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "results").mkdir()
    for name in ("code.py", "results/rows.jsonl", "README.md"):
        (tmp_path / name).write_text("a\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "one")
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)
    results.git_commit.cache_clear()
    (tmp_path / "results/rows.jsonl").write_text("b\n")
    (tmp_path / "README.md").write_text("b\n")
    first = results.git_commit()
    assert first["dirty"] is False and len(first["commit"]) == 40
    (tmp_path / "code.py").write_text("b\n")
    assert results.git_commit() == first  # read once per process
    results.git_commit.cache_clear()
    assert results.git_commit()["dirty"] is True
    results.git_commit.cache_clear()
