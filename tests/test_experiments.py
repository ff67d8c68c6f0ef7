"""Experiment scripts at tiny scale on a tiny saved model: rows are complete and reruns skip finished rows."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))


def _args(model_dir, corpus_file, out):
    spec = f"text:{corpus_file}"
    return ["--scale", "tiny", "--model", str(model_dir), "--calib", spec, "--eval", spec, "--output", str(out),
            "--device", "cpu", "--no-progress"]


def test_main_perplexity_tiny_and_resume(llama_dir, corpus_file, tmp_path, capsys):
    import main_perplexity

    out = tmp_path / "main.jsonl"
    main_perplexity.main(_args(llama_dir, corpus_file, out))
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["method"] for r in rows] == main_perplexity.METHODS["tiny"]
    for r in rows:
        assert r["experiment"] == "main_perplexity" and r["scale"] == "tiny"
        assert r["sparsity_achieved"] == pytest.approx(r["sparsity_target"], abs=1e-9)
        assert all(v == v and v < float("inf") for v in r["ppl"].values())
    capsys.readouterr()
    main_perplexity.main(_args(llama_dir, corpus_file, out))
    assert "5 already in" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == len(rows)


def test_dry_run_lists_paper_grid(capsys):
    import main_perplexity

    main_perplexity.main(["--scale", "paper", "--dry-run"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(main_perplexity.PAPER_MODELS) * (1 + 3 * (len(main_perplexity.METHODS["paper"]) - 1))
    assert any("huggyllama/llama-7b sparsegpt 2:4" in l for l in lines)
