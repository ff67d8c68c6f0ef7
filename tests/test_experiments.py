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
    assert [r["method"] for r in rows] == ["dense", "magnitude", "wanda", "stade", "sparsegpt"]
    for r in rows:
        assert r["experiment"] == "main_perplexity" and r["scale"] == "tiny"
        assert r["sparsity_achieved"] == pytest.approx(r["sparsity_target"], abs=1e-9)
        assert all(v == v and v < float("inf") for v in r["ppl"].values())
    capsys.readouterr()
    main_perplexity.main(_args(llama_dir, corpus_file, out))
    assert "5 already in" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == len(rows)


def test_owl_then_neuroal_tiny_reuses_rows(llama_dir, corpus_file, tmp_path, capsys):
    import neuroal_topup
    import owl_high_sparsity

    owl_out, neuro_out = tmp_path / "owl_high_sparsity.jsonl", tmp_path / "neuroal_topup.jsonl"
    owl_high_sparsity.main(_args(llama_dir, corpus_file, owl_out))
    owl_rows = [json.loads(l) for l in owl_out.read_text().splitlines()]
    assert [(r["method"], r["allocator"]) for r in owl_rows] == [
        ("dense", "uniform"), ("wanda", "uniform"), ("wanda", "owl"), ("wanda", "alpha"), ("stade", "uniform"),
        ("stade", "owl"), ("stade", "alpha")]
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

    args = pruning_cost.parse_args(pruning_cost.parser(""), ["--scale", "tiny", "--model", str(llama_dir)])
    row = pruning_cost.worker(spec, args)
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


def _rows(path):
    return [json.loads(l) for l in path.read_text().splitlines()]


def test_wanda_comparison_group_tiny_reuses_main_rows(llama_dir, corpus_file, tmp_path, capsys):
    import main_perplexity
    import wanda_comparison_group

    main_perplexity.main(_args(llama_dir, corpus_file, tmp_path / "main_perplexity.jsonl"))
    out = tmp_path / "wanda_comparison_group.jsonl"
    wanda_comparison_group.main(_args(llama_dir, corpus_file, out))
    assert "reused 3 rows from main_perplexity" in capsys.readouterr().out  # dense, magnitude, wanda
    rows = {r["method"]: r for r in _rows(out)}
    assert set(rows) == {"dense", "magnitude", "magnitude_column", "magnitude_layer", "wanda", "wanda_column",
                         "wanda_layer", "ria", "ria_row"}
    # every width of the tiny model is even: each group prunes exactly half of itself, so the model does too
    assert all(r["sparsity_achieved"] == 0.5 for m, r in rows.items() if m != "dense")
    assert rows["wanda_layer"]["sparsity_layer_range"] == [0.5, 0.5]
    ppl = {m: next(iter(r["ppl"].values())) for m, r in rows.items()}
    # within an input column Wanda's factor ||X_j|| is one constant: the same ranking, mask and model as magnitude
    assert ppl["wanda_column"] == ppl["magnitude_column"]
    assert len(set(ppl.values())) == 8


def test_wanda_weight_update_tiny(llama_dir, corpus_file, tmp_path):
    import wanda_weight_update

    out = tmp_path / "wanda_weight_update.jsonl"
    wanda_weight_update.main(_args(llama_dir, corpus_file, out))
    rows = {r["method"]: r for r in _rows(out)}
    assert list(rows) == ["dense", "wanda", "wanda_lsq", "wanda_admm", "sparsegpt"]
    assert rows["wanda_lsq"]["sparsity_achieved"] == rows["wanda"]["sparsity_achieved"] == 0.5
    assert rows["wanda_lsq"]["ppl"] != rows["wanda"]["ppl"]


def test_wanda_calibration_samples_tiny_seeds(llama_dir, corpus_file, tmp_path, capsys):
    import wanda_calibration_samples as wcs

    out = tmp_path / "samples.jsonl"
    wcs.main(_args(llama_dir, corpus_file, out))
    rows = _rows(out)
    cells = [(r["method"], r["calibration"]["nsamples"], r["calibration"]["seed"]) for r in rows[1:]]
    assert len(cells) == len(set(cells)) == 2 * (2 + 2)  # 2 counts at seed 0, two more seeds for 1 sequence
    one = [next(iter(r["ppl"].values())) for r in rows[1:] if r["method"] == "wanda"
           and r["calibration"]["nsamples"] == 1]
    assert len(set(one)) == 3  # different draws, different masks
    assert "wanda      n=   1:" in capsys.readouterr().out


def test_wanda_outlier_features_tiny(llama_dir, corpus_file, tmp_path, capsys):
    import wanda_outlier_features as wof

    out = tmp_path / "outliers.jsonl"
    wof.main(_args(llama_dir, corpus_file, out))
    (row,) = _rows(out)
    assert len(row["layers"]) == 2 * 7
    for layer in row["layers"]:
        shares = [layer["share_above"][str(k)] for k in wof.THRESHOLDS]
        assert all(0 <= a <= 1 for a in shares) and shares == sorted(shares, reverse=True)
        assert layer["max_over_median"] >= 1 and 0 <= layer["wanda_prunes_magnitude_keeps"] <= 1
    wof.main(_args(llama_dir, corpus_file, out))
    assert "already in" in capsys.readouterr().out and len(_rows(out)) == 1


def test_channel_profile_hand_built():
    import torch

    import wanda_outlier_features as wof

    norms = torch.tensor([1.0, 1.0, 1.0, 1.0, 12.0, 4.0], dtype=torch.float64)  # median 1
    weight = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.5, 0.6]])
    p = wof.channel_profile(weight, norms)
    assert p["share_above"] == {"3": 2 / 6, "5": 1 / 6, "10": 1 / 6, "20": 0.0}
    assert p["max_over_median"] == 12.0 and p["top_channels"][:2] == [4, 5]
    # magnitude prunes columns 4, 5, 0; Wanda (scores 1, 2, 3, 4, 6, 2.4) prunes 0, 1, 5: one of its three differs
    assert p["wanda_prunes_magnitude_keeps"] == pytest.approx(1 / 3)


def test_calibration_source_tiny(llama_dir, corpus_file, tmp_path, monkeypatch):
    import calibration_source

    monkeypatch.setenv("STADE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "calibration_source.jsonl"
    calibration_source.main(_args(llama_dir, corpus_file, out))
    rows = _rows(out)
    assert [r["calibration"]["source"] if r["calibration"] else None for r in rows] == [
        None, f"text:{corpus_file}", "synthetic", "random"]
    synthetic = rows[2]
    assert synthetic["config"]["calib_args"]["prompt_source"] == f"text:{corpus_file}"
    # 8 x 128 tokens from 128-token generations (the run's seqlen): ceil(2 * 8 * 128 / 128 / 0.8) = 20, 4 dropped
    assert synthetic["calibration"]["generated"]["kept"] == 16
    assert all(r["sparsity_achieved"] == 0.5 for r in rows[1:])
    assert len({next(iter(r["ppl"].values())) for r in rows[1:]}) == 3


def test_bip_structured_and_speedup_tiny(llama_dir, corpus_file, tmp_path):
    import bip_structured
    import structured_speedup

    out = tmp_path / "bip_structured.jsonl"
    bip_structured.main(_args(llama_dir, corpus_file, out))
    rows = {r["method"]: r for r in _rows(out)}
    assert list(rows) == ["dense", "wanda_sp", "bip"]
    for m in ["wanda_sp", "bip"]:
        r = rows[m]
        assert r["structured"]["params_after"] < r["structured"]["params_before"]
        assert abs(r["sparsity_achieved"] - 0.2) < 0.05 and r["config"]["eval_seqlen"] == 128
    speed = tmp_path / "speed.jsonl"
    structured_speedup.main(_args(llama_dir, corpus_file, speed) + ["--tokens", "64", "--new-tokens", "8"])
    (row,) = _rows(speed)
    assert row["params_after"] < row["params_before"] and row["speedup"]["prefill_tokens_per_s"] > 0
    sys.path.insert(0, str(ROOT / "analysis"))
    import tables
    md, tex = tables.bip_structured_table(_rows(out))
    assert "| bip |" in md and "| wanda_sp |" in md and "\\begin{tabular}" in tex
    md, _ = tables.structured_speedup_table([row])
    assert "x |" in md


def test_bip_bound_tiny(llama_dir, corpus_file, tmp_path):
    import bip_bound

    out = tmp_path / "bound.jsonl"
    bip_bound.main(_args(llama_dir, corpus_file, out))
    (row,) = _rows(out)
    bip = row["summary"]["bip"]
    assert bip["bound_holds_channels"] == 1.0  # exact for MLP channels
    assert bip["spearman_channels"] > 0.999
    assert set(row["summary"]) == set(bip_bound.SCORERS)


def test_training_conditions_tiny(corpus_file, tmp_path, monkeypatch, capsys):
    import training_conditions as tc

    monkeypatch.setenv("STADE_CACHE_DIR", str(tmp_path / "cache"))
    spec = f"text:{corpus_file}"
    out = tmp_path / "training_conditions.jsonl"
    argv = ["--scale", "tiny", "--calib", spec, "--eval", spec, "--output", str(out), "--device", "cpu", "--no-progress"]
    tc.main(argv)
    trained = _rows(tmp_path / "training_conditions_train.jsonl")
    assert [r["recipe"] for r in trained] == list(tc.RECIPES)
    assert all(r["curve"][0]["step"] == 0 and len(r["input_centring"]) >= 4 for r in trained)
    opt = next(r for r in trained if r["recipe"] == "opt_relu")["input_centring"]
    assert not opt["fc2"]["normalized_input"] and opt["fc1"]["normalized_input"]
    assert all(v["median_mean2_over_var"] >= 0 for r in trained for v in r["input_centring"].values())
    rows = _rows(out)
    assert len(rows) == len(tc.RECIPES) * len(tc.METHODS)
    assert all(r["model"]["model"].startswith("trained:") for r in rows)
    capsys.readouterr()
    tc.main(argv)  # cached checkpoints and finished rows: nothing is retrained or rerun
    printed = capsys.readouterr().out
    assert "0 to do" in printed and "final loss" not in printed
    import shutil
    shutil.rmtree(tmp_path / "cache" / "trained")  # a fresh machine: finished rows, no checkpoints
    tc.main(argv)
    assert not (tmp_path / "cache" / "trained").exists()  # nothing was trained again for rows already recorded
    sys.path.insert(0, str(ROOT / "analysis"))
    import tables
    monkeypatch.setenv("STADE_RESULTS_DIR", str(tmp_path))  # where the training records are read
    md, _ = tables.training_conditions_table(rows)
    assert all(f"| {name} |" in md for name in tc.RECIPES) and "fc2" in md
    import paths
    import stade_figures
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    stade_figures.training_conditions_figure(rows, trained)
    assert (tmp_path / "figures" / "training_conditions.png").stat().st_size > 10_000


def test_stade_layer_study_tiny(llama_dir, corpus_file, tmp_path):
    import stade_layer_study as sls

    out = tmp_path / "layers.jsonl"
    sls.main(_args(llama_dir, corpus_file, out))
    rows = _rows(out)
    assert len(rows) == 1 + 7 * 3
    one = next(r for r in rows if r["config"].get("layers") == "mlp.down_proj" and r["method"] == "wanda")
    # only the down projections are pruned: 70% of them, 0% elsewhere
    assert one["sparsity_layer_range"][0] == 0.0 and one["sparsity_layer_range"][1] == pytest.approx(0.7, abs=0.01)
    assert 0 < one["sparsity_achieved"] < 0.7
    sys.path.insert(0, str(ROOT / "analysis"))
    import tables
    md, _ = tables.stade_layer_study_table(rows)
    down = next(line for line in md.splitlines() if "| mlp.down_proj |" in line)
    assert f"{one['ppl'][next(iter(one['ppl']))]:.2f}" in down  # the row shows this layer's own perplexity
    assert "pruned at 70%" in md
    # a second model whose rows landed in another order (down_proj first) lists its layers in the same order
    other = [{**r, "model": {**r["model"], "model": "other"}} for r in reversed(rows)]
    md, _ = tables.stade_layer_study_table(rows + other)
    listed = [line.split(" | ")[1] for line in md.splitlines() if line.startswith("| other |")]
    first = rows[0]["model"]["model"]
    assert listed == [line.split(" | ")[1] for line in md.splitlines() if line.startswith(f"| {first} |")]
    assert listed[0] == "self_attn.q_proj" and listed[-1] == "mlp.down_proj"


def test_layers_option_errors(llama_dir):
    from methods import PruneConfig, run

    with pytest.raises(ValueError, match="not linears of this model"):
        run(PruneConfig(model=str(llama_dir), method="magnitude", layers="mlp.nope", eval=(), seqlen=64, device="cpu"),
            progress=False)
    with pytest.raises(ValueError, match="N:M pattern"):
        PruneConfig(method="wanda", pattern="2:4", layers="mlp.down_proj").validate()



def test_interrupted_run_resumes_to_the_same_results(llama_dir, corpus_file, tmp_path, monkeypatch):
    """Kill a grid mid-way (the third run raises), resume it, and compare with an uninterrupted run: the same rows,
    identical apart from timings and provenance (determinism under the recorded seeds), no partial row."""
    import common
    import main_perplexity

    from methods.results import stable_view

    clean, broken = tmp_path / "clean.jsonl", tmp_path / "broken.jsonl"
    main_perplexity.main(_args(llama_dir, corpus_file, clean))
    real_run, calls = common.run, {"n": 0}

    def dies_on_third(config, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # what Ctrl-C does mid-run
        return real_run(config, **kw)

    monkeypatch.setattr(common, "run", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        main_perplexity.main(_args(llama_dir, corpus_file, broken))
    assert len(_rows(broken)) == 2  # the finished rows, complete
    monkeypatch.setattr(common, "run", real_run)
    main_perplexity.main(_args(llama_dir, corpus_file, broken))
    a, b = _rows(clean), _rows(broken)
    assert [r["key"] for r in a] == [r["key"] for r in b]
    assert [stable_view(r) for r in a] == [stable_view(r) for r in b]


def test_add_method_places_a_new_baseline_beside_wanda(llama_dir, corpus_file, tmp_path, capsys):
    """The worked example of the README: a method registered elsewhere joins a grid with --add-method."""
    import main_perplexity

    out = tmp_path / "main.jsonl"
    main_perplexity.main(_args(llama_dir, corpus_file, out) + ["--add-method", "stade_star", "--methods", "stade_star"])
    rows = _rows(out)
    assert [r["method"] for r in rows] == ["dense", "stade_star"]
    assert rows[1]["sparsity_target"] == 0.5 and rows[1]["pattern"] == "unstructured"
    with pytest.raises(SystemExit):
        main_perplexity.main(_args(llama_dir, corpus_file, out) + ["--add-method", "wandaa", "--dry-run"])
    import stade_layer_study
    capsys.readouterr()
    stade_layer_study.main(["--scale", "tiny", "--dry-run", "--model", str(llama_dir), "--add-method", "bip"])
    assert "no wanda_sp rows to place it beside" in capsys.readouterr().out
