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
    assert any("huggyllama/llama-7b sparsegpt+uniform 2:4" in l for l in lines)


def test_owl_then_neuroal_tiny_reuses_rows(llama_dir, corpus_file, tmp_path, capsys):
    import neuroal_topup
    import owl_high_sparsity

    owl_out, neuro_out = tmp_path / "owl_high_sparsity.jsonl", tmp_path / "neuroal_topup.jsonl"
    owl_high_sparsity.main(_args(llama_dir, corpus_file, owl_out))
    owl_rows = [json.loads(l) for l in owl_out.read_text().splitlines()]
    assert [(r["method"], r["allocator"]) for r in owl_rows] == [
        ("dense", "uniform"), ("wanda", "uniform"), ("wanda", "owl"), ("stade", "uniform"), ("stade", "owl")]
    owl = [r for r in owl_rows if r["allocator"] == "owl"]
    assert all(r["allocation"]["block_sparsity"] and r["config"]["allocator_args"] == {"M": 5.0, "lambda": 0.08}
               for r in owl)
    # width-64 rows: each row prunes floor(64 * s) weights, up to 1/64 below the target
    assert all(0.7 - 1 / 64 <= r["sparsity_achieved"] <= 0.7 for r in owl_rows[1:])
    capsys.readouterr()
    neuroal_topup.main(_args(llama_dir, corpus_file, neuro_out))
    out = capsys.readouterr().out
    assert "reused 3 rows from owl_high_sparsity" in out  # dense, wanda uniform, wanda owl
    rows = [json.loads(l) for l in neuro_out.read_text().splitlines()]
    assert len(rows) == 7 and sum("reused_from" in r for r in rows) == 3
    neuro = {r["method"]: r for r in rows if r["allocator"] == "neuroal"}
    assert neuro["wanda"]["allocation"]["row_lambda"] is not None
    assert "row_step" in neuro["sparsegpt"]["allocation"]  # block-only, as the official code
    assert neuro["wanda"]["config"]["allocator_args"]["search_samples"] == 2
    assert "lambda_block=" in out


@pytest.mark.skipif(not __import__("methods.assets", fromlist=["x"]).embedded_available(),
                    reason="embedded corpora not installed")
@pytest.mark.parametrize("spec,passes", [("wanda", 2), ("wanda+owl", 3), ("magnitude+neuroal", None)])
def test_pruning_cost_worker_with_allocators(llama_dir, spec, passes):
    import pruning_cost

    row = pruning_cost.worker(spec, "tiny", str(llama_dir))
    assert row["method"] == spec and row["time_ratio"] > 0 and row["memory_ratio"] > 0
    if "+" in spec:
        assert row["sparsity"] == 0.7 and 0 < row["allocate_s"] < row["prune_s"]
    if spec == "magnitude+neuroal":  # 29 alignment passes x 2 block runs x 2 of 8 samples, + no engine passes
        assert row["allocation"]["alignment_passes"] == 29
        assert row["forward_passes"] == pytest.approx(29 * 2 * 2 / 8)
    else:
        assert row["forward_passes"] == passes


def test_zero_shot_tiny(llama_dir, corpus_file, tmp_path, capsys):
    import zero_shot

    from methods.tasks import write_task

    items = [{"context": f"item {i}", "choices": ["a b", "c d e"], "answer": i % 2} for i in range(4)]
    write_task(tmp_path, "tiny_exp_mc", items, "multiple_choice")
    task = tmp_path / "tiny_exp_mc.yaml"
    out = tmp_path / "zero_shot.jsonl"
    zero_shot.main(_args(llama_dir, corpus_file, out) + ["--zero-shot", str(task)])
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["method"] for r in rows] == ["dense", "wanda"]
    assert all(r["zero_shot"]["tasks"]["tiny_exp_mc"]["n"] == 4 for r in rows)
    assert "tiny_exp_mc=" in capsys.readouterr().out


def test_pruning_cost_cli_skips_measured_methods(tmp_path, capsys):
    import pruning_cost

    out = tmp_path / "cost.jsonl"
    out.write_text(json.dumps({"method": "wanda+owl", "scale": "tiny"}) + "\n")
    pruning_cost.main(["--scale", "tiny", "--output", str(out), "--methods", "wanda+owl"])
    assert "wanda+owl: already measured" in capsys.readouterr().out
