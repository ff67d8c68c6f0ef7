"""Every bad input a new user can give gets one clear line and exit status 2 before any work (a table of cases), and
the results files cannot lose or corrupt rows: concurrent writers keep every row, a cut-short line is set aside, a
corrupt manifest is rebuilt."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from methods.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def files(tmp_path_factory, llama_dir, corpus_file, tokenizer):
    """The models and files the bad inputs point at."""
    from transformers import BertConfig, BertLMHeadModel

    from methods.random_models import random_model

    d = tmp_path_factory.mktemp("bad")
    out = {"llama": llama_dir, "corpus": f"text:{corpus_file}", "dir": d}
    (d / "empty_model").mkdir()
    (d / "not_a_dir").write_text("x")
    (d / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (d / "latin1.txt").write_bytes(("caf\xe9 " * 400).encode("latin-1"))
    (d / "truncated.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64)
    (d / "output_dir").mkdir()
    (d / "existing_file").write_text("x")
    (d / "full_dir").mkdir()
    (d / "full_dir" / "config.json").write_text("{}")
    bert = BertLMHeadModel(BertConfig(vocab_size=260, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=64, max_position_embeddings=64))
    bert.save_pretrained(d / "bert")
    tokenizer.save_pretrained(d / "bert")
    for name, value in (("nan", float("nan")), ("inf", float("inf"))):
        model = random_model("llama")
        with torch.no_grad():
            model.model.layers[0].mlp.down_proj.weight[0, 0] = value
        model.save_pretrained(d / name)
        tokenizer.save_pretrained(d / name)
    random_model("qwen2").save_pretrained(d / "qwen2")
    tokenizer.save_pretrained(d / "qwen2")
    return out


def _prune(files, *extra, model=None):
    base = ["prune", "--model", str(model or files["llama"]), "--calib", files["corpus"], "--eval", files["corpus"],
            "--nsamples", "2", "--seqlen", "32", "--eval-windows", "2", "--device", "cpu", "--no-progress"]
    return base + list(extra)


# (name, argv builder, expected exit status, expected words in stderr)
CASES = [
    ("unknown method", lambda f: _prune(f, "--method", "wandaa", "--sparsity", "0.5"), 2,
     "unknown method 'wandaa'. Did you mean 'wanda'"),
    ("sparsity 1", lambda f: _prune(f, "--method", "wanda", "--sparsity", "1.0"), 2, r"sparsity must be in \[0, 1\)"),
    ("sparsity negative", lambda f: _prune(f, "--method", "wanda", "--sparsity", "-0.1"), 2,
     r"sparsity must be in \[0, 1\)"),
    ("no sparsity", lambda f: _prune(f, "--method", "wanda"), 2, r"needs a sparsity \(--sparsity\)"),
    ("N = M", lambda f: _prune(f, "--method", "wanda", "--pattern", "4:4"), 2, "0 < N < M"),
    ("N:M with another sparsity", lambda f: _prune(f, "--method", "wanda", "--pattern", "2:4", "--sparsity", "0.6"),
     2, "fixes the sparsity"),
    ("M does not divide", lambda f: _prune(f, "--method", "wanda", "--pattern", "2:5"), 2, "does not divide"),
    ("pattern text", lambda f: _prune(f, "--method", "wanda", "--pattern", "half"), 2, "pattern must be"),
    ("unknown corpus", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--calib", "c5"), 2,
     "unknown corpus 'c5'"),
    ("unknown eval corpus", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--eval", "wikitext3"), 2,
     "unknown corpus 'wikitext3'"),
    ("seqlen over context", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--seqlen", "2048"), 2,
     "exceeds the model's context length 1024"),
    ("unknown allocator", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--allocator", "owl2"), 2,
     "unknown allocator 'owl2'"),
    ("allocator args for uniform", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--allocator-args",
                                                     "M=5"), 2, "takes no arguments"),
    ("unknown allocator arg", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.7", "--allocator", "owl",
                                               "--allocator-args", "x=1"), 2, r"no argument\(s\) \['x'\]"),
    ("allocator arg of the wrong type", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.7", "--allocator",
                                                         "owl", "--allocator-args", "M=abc"), 2, "is not a float"),
    ("method args for a method without any", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5",
                                                              "--method-args", "a=1"), 2, "takes no arguments"),
    ("unknown method arg", lambda f: _prune(f, "--method", "ria", "--sparsity", "0.5", "--method-args", "b=1"), 2,
     r"no argument\(s\) \['b'\]; it accepts: a=0.5"),
    ("malformed method args", lambda f: _prune(f, "--method", "ria", "--sparsity", "0.5", "--method-args", "a"), 2,
     "is not key=value"),
    ("calib args for a corpus", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--calib-args",
                                                 "drop=0.1"), 2, "are for generated calibration sources"),
    ("unknown synthetic arg", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--calib", "synthetic",
                                               "--calib-args", "temp=1"), 2, r"has no argument\(s\) \['temp'\]"),
    ("nsamples 0", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--nsamples", "0"), 2,
     "nsamples must be an integer >= 1"),
    ("seqlen 1", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--seqlen", "1"), 2,
     "seqlen must be an integer >= 2"),
    ("batch size 0", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--batch-size", "0"), 2,
     "batch_size must be an integer >= 1"),
    ("eval windows negative", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--eval-windows", "-1"),
     2, "--eval-windows must be >= 0"),
    ("threads 0", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--threads", "0"), 2,
     "threads must be an integer >= 1"),
    ("device foo", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--device", "foo"), 2,
     "is not a device"),
    ("device cuda without a GPU", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--device", "cuda"),
     2, "no CUDA GPU is available" if not torch.cuda.is_available() else None),
    ("dtype float8", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--dtype", "float8"), 2,
     "dtype must be auto, float32"),
    ("missing local model", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5",
                                             model=f["dir"] / "no" / "such" / "model"), 2,
     "does not exist \\(a local path, not a Hub id\\)"),
    ("folder with no model", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5",
                                              model=f["dir"] / "empty_model"), 2, "has no config.json"),
    ("a file as the model", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5",
                                             model=f["dir"] / "not_a_dir"), 2, "is a file, not a Hugging Face"),
    ("truncated GGUF", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5",
                                        model=f["dir"] / "truncated.gguf"), 2, "corrupt or truncated"),
    ("missing GGUF", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", model=f["dir"] / "gone.gguf"), 2,
     "GGUF file not found"),
    ("Hub id offline", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", model="no-such-org/no-such-model"),
     2, "Hub access is off"),
    ("encoder-only model", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", model=f["dir"] / "bert"), 2,
     "not a causal"),
    ("NaN weights", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", model=f["dir"] / "nan"), 2,
     "not finite: model.layers.0.mlp.down_proj.weight"),
    ("inf weights, SparseGPT", lambda f: _prune(f, "--method", "sparsegpt", "--sparsity", "0.5",
                                                model=f["dir"] / "inf"), 2, "not finite"),
    ("output is a directory", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--output",
                                               str(f["dir"] / "output_dir")), 2, "is a directory"),
    ("save onto a file", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--save",
                                          str(f["dir"] / "existing_file")), 2, "a file of that name exists"),
    ("save into a model directory", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--save",
                                                     str(f["dir"] / "full_dir")), 2, "not empty"),
    ("save STADE on Qwen2", lambda f: _prune(f, "--method", "stade", "--sparsity", "0.5", "--save",
                                             str(f["dir"] / "qwen_out"), model=f["dir"] / "qwen2"), 2,
     "without a bias and no config flag adds one"),
    ("binary text corpus", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--calib",
                                            f"text:{f['dir'] / 'binary.txt'}"), 2, "is not UTF-8 text"),
    ("latin-1 text corpus", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--calib",
                                             f"text:{f['dir'] / 'latin1.txt'}"), 2, "latin1.txt is not UTF-8"),
    ("missing text corpus", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--calib",
                                             f"text:{f['dir'] / 'gone.txt'}"), 2, "text corpus file not found"),
    ("unknown layer", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--layers", "mlp.nope"), 2,
     "are not linears of this model"),
    ("layers with an allocator", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.7", "--allocator", "owl",
                                                  "--layers", "mlp.down_proj"), 2, "does not combine"),
    ("unknown zero-shot task", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--zero-shot",
                                                "stade_lastwrd"), 2, "unknown lm-eval task"),
    ("missing zero-shot file", lambda f: _prune(f, "--method", "wanda", "--sparsity", "0.5", "--zero-shot",
                                                str(f["dir"] / "gone.yaml")), 2, "does not exist"),
    ("structured with N:M", lambda f: _prune(f, "--method", "bip", "--pattern", "2:4"), 2, "takes no N:M pattern"),
    ("structured ratio 0", lambda f: _prune(f, "--method", "bip", "--sparsity", "0"), 2, r"must be in \(0, 1\)"),
    ("dense with an allocator", lambda f: _prune(f, "--method", "dense", "--allocator", "owl"), 2, "prunes nothing"),
    ("method without N:M", lambda f: _prune(f, "--method", "wanda_layer", "--pattern", "2:4"), 2,
     "does not support N:M"),
    ("eval seqlen 0", lambda f: ["eval", "--model", str(f["llama"]), "--eval", f["corpus"], "--seqlen", "0",
                                 "--device", "cpu", "--no-progress"], 2, "seqlen must be a positive integer"),
    ("setup of an unknown model", lambda f: ["setup", "--models", "llama-70b"], 2, "unknown embedded model"),
]


@pytest.mark.parametrize("name,argv,status,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(files, capsys, name, argv, status, words):
    if words is None:
        pytest.skip("needs a machine without a GPU")
    assert main([str(a) for a in argv(files)]) == status
    err = capsys.readouterr().err.strip()
    assert re.search(words, err), err
    assert err.startswith("error: ") and "Traceback" not in err and "\n" not in err, err  # one line


def test_allow_nonfinite_records_instead_of_stopping(files, capsys, tmp_path):
    out = tmp_path / "rows.jsonl"
    argv = _prune(files, "--method", "wanda", "--sparsity", "0.5", "--allow-nonfinite", "--output", str(out),
                  model=files["dir"] / "nan")
    assert main([str(a) for a in argv]) == 0
    row = json.loads(out.read_text())
    assert row["config"]["allow_nonfinite"] is True


SCRIPT_CASES = [
    (["experiments/main_perplexity.py", "--scale", "tiny", "--methods", "wandaa", "--dry-run"], "unknown method 'wandaa'"),
    (["experiments/main_perplexity.py", "--scale", "tiny", "--add-method", "wandaa", "--dry-run"],
     "unknown method 'wandaa'"),
    (["experiments/main_perplexity.py", "--scale", "huge"], "invalid choice: 'huge'"),
    (["experiments/main_perplexity.py", "--scale", "tiny", "--method-args", "ria:a", "--dry-run"], "is not"),
    (["experiments/main_perplexity.py", "--scale", "tiny", "--patterns", "2-4", "--dry-run"], "pattern must be"),
    (["experiments/main_perplexity.py", "--scale", "tiny", "--sparsities", "50", "--dry-run"], "--sparsities '50'"),
    (["experiments/main_perplexity.py", "--scale", "tiny", "--where", "sed=1", "--dry-run"], "no field 'sed'"),
    (["experiments/main_perplexity.py", "--scale", "tiny", "--where", "seed", "--dry-run"], "is not FIELD=V1"),
    (["experiments/pruning_cost.py", "--methods", "sparsegpt:float16", "--dry-run"], "must be float32 or float64"),
]


@pytest.mark.parametrize("argv,words", SCRIPT_CASES, ids=[" ".join(c[0][1:]) for c in SCRIPT_CASES])
def test_bad_script_input_is_one_clear_line(argv, words):
    out = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2, out.stderr[-2000:]
    assert re.search(words, out.stderr) and "Traceback" not in out.stderr, out.stderr[-2000:]


@pytest.mark.parametrize("argv,words", [(["--scale", "huge"], "--scale must be"),
                                        (["--only", "nonsense"], "no stage named 'nonsense'"),
                                        (["--frobnicate"], "unknown argument"),
                                        (["--add-method", "wandaa"], "unknown method 'wandaa'")])
def test_bad_run_all_input(argv, words, tmp_path):
    out = subprocess.run(["bash", str(ROOT / "run_all.sh"), *argv], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "STADE_RESULTS_DIR": str(tmp_path)})
    assert out.returncode == 2 and re.search(words, out.stderr), out.stderr[-2000:]


# --------------------------------------------------------------------------------------------- results files
def test_concurrent_writers_keep_every_row(tmp_path):
    path = tmp_path / "rows.jsonl"
    code = ("import sys; sys.path.insert(0, %r)\nfrom methods.results import append_rows\n"
            "for i in range(600):\n    append_rows(%r, [{'key': f'{sys.argv[1]}-{i}', 'pad': 'x' * 300}])\n"
            % (str(ROOT), str(path)))
    procs = [subprocess.Popen([sys.executable, "-c", code, name]) for name in ("a", "b")]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    from methods.results import read_rows
    keys = [r["key"] for r in read_rows(path)]
    assert len(keys) == 1200 and len(set(keys)) == 1200


def test_a_cut_short_last_line_is_set_aside_and_the_run_resumes(tmp_path, capsys):
    from methods.results import append_rows, done_keys, read_rows

    path = tmp_path / "rows.jsonl"
    append_rows(path, [{"key": "a"}, {"key": "b"}])
    with open(path, "a") as f:
        f.write('{"key": "c", "ppl": {"wiki')  # what a kill mid-write leaves
    assert done_keys(path) == {"a", "b"}
    assert "rows.jsonl: 1 line(s) that do not parse" in capsys.readouterr().err
    assert (tmp_path / "rows.jsonl.corrupt").read_text().startswith('{"key": "c"')
    append_rows(path, [{"key": "c"}])
    assert [r["key"] for r in read_rows(path)] == ["a", "b", "c"]


def test_corrupt_manifests_are_rebuilt(tmp_path, monkeypatch, capsys):
    from methods.tasks import build_suite

    docs = ["Alpha beta gamma delta epsilon zeta eta theta. " * 3 + "The river is long and the river is wide."] * 40
    first = build_suite(out=tmp_path / "suite", docs=docs)
    manifest = tmp_path / "suite" / "manifest.json"
    manifest.write_text(manifest.read_text()[:25])  # truncated by a kill on a filesystem without atomic rename
    monkeypatch.setattr("methods.tasks.get_corpus", lambda name: type("C", (), {"documents": lambda self, r: docs})())
    again = build_suite(out=tmp_path / "suite")
    assert again["tasks"] == first["tasks"]
    assert "manifest.json is corrupt" in capsys.readouterr().err
    assert json.loads(manifest.read_text())["version"] == first["version"]


def test_a_row_without_its_records_is_run_again_not_kept(tmp_path):
    """Issue 21: rows written before per-window NLLs and per-item zero-shot results existed are re-run, not patched:
    the resumable grids must not count them as done (nor copy them from a sibling experiment)."""
    from methods.results import append_rows, done_keys, has_records

    windows = {"wiki_vital": {"nll": [2.0, 2.1]}}
    items = {"tasks": {"lastword": {"acc": 0.5, "items": {"acc": [1, 0]}}}}
    rows = [{"key": "old", "ppl": {"wiki_vital": 7.5}},  # predates the window records
            {"key": "new", "ppl": {"wiki_vital": 7.5}, "ppl_windows": windows},
            {"key": "old_zs", "ppl": {"wiki_vital": 7.5}, "ppl_windows": windows,
             "zero_shot": {"tasks": {"lastword": {"acc": 0.5}}}},  # accuracy without the items
            {"key": "new_zs", "ppl": {"wiki_vital": 7.5}, "ppl_windows": windows, "zero_shot": items},
            {"key": "theory", "gap": 0.1}]  # no perplexity, no zero-shot: nothing to pair on, complete
    assert [has_records(r) for r in rows] == [False, True, False, True, True]
    path = tmp_path / "rows.jsonl"
    append_rows(path, rows)
    assert done_keys(path) == {"new", "new_zs", "theory"}
    append_rows(path, [{"key": "old", "ppl": {"wiki_vital": 7.4}, "ppl_windows": windows}])  # its re-run
    assert "old" in done_keys(path)
