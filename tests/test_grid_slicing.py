"""The experiment grids, sliced without running anything (--dry-run): which rows a scale, --patterns, --sparsities,
--where and --methods keep, and that a data-free method runs once per cell."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))


def test_dry_run_lists_paper_grid(capsys, tmp_path):
    import main_perplexity
    from specs import MAIN

    main_perplexity.main(["--scale", "paper", "--dry-run", "--output", str(tmp_path / "absent.jsonl")])
    lines = capsys.readouterr().out.strip().splitlines()
    runs = len(MAIN.paper_models) * (1 + 3 * len(MAIN.blocks("paper")[1].methods))
    assert lines[0] == f"[main_perplexity] {runs} runs, 0 already in {tmp_path / 'absent.jsonl'}, {runs} to do"
    assert len(lines) == 1 + runs and all(l.startswith("  todo ") for l in lines[1:])
    assert any("huggyllama/llama-7b sparsegpt+uniform 2:4" in l for l in lines)


def test_patterns_and_sparsities_slice_the_grid(capsys, tmp_path):
    """--patterns / --sparsities keep exactly the rows of that slice (and the dense reference), nothing else."""
    import main_perplexity

    base = ["--scale", "paper", "--model", "facebook/opt-125m", "--dry-run", "--output", str(tmp_path / "a.jsonl")]
    main_perplexity.main(base + ["--patterns", "2:4", "--methods", "wanda,sparsegpt"])
    todo = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(todo) == 3 and "dense" in todo[0] and all(" 2:4" in l for l in todo[1:])
    main_perplexity.main(base + ["--sparsities", "0.5", "--methods", "wanda"])
    todo = capsys.readouterr().out.strip().splitlines()[1:]  # 2:4 and 4:8 are 50% too: an N:M row's is N/M
    assert len(todo) == 4 and sum(" s=0.5 " in l for l in todo) == 3
    import owl_high_sparsity

    owl_high_sparsity.main(base + ["--sparsities", "0.7", "--methods", "wanda"])
    todo = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(todo) == 4 and all(" s=0.7 " in l for l in todo[1:])  # uniform, OWL, AlphaPruning; not 0.6 / 0.8


def test_where_slices_the_grid_by_any_config_field(llama_dir, capsys, tmp_path):
    """--where keeps the rows whose field is one of the values (the dense reference stays); fields combine by and."""
    import stade_layer_study

    base = ["--scale", "full", "--model", str(llama_dir), "--dry-run", "--output", str(tmp_path / "a.jsonl")]
    stade_layer_study.main(base + ["--where", "layers=mlp.down_proj", "--where", "seed=0,3", "--methods", "wanda"])
    todo = capsys.readouterr().out.strip().splitlines()[1:]
    assert "dense" in todo[0] and len(todo) == 3  # dense, then wanda on down_proj with seeds 0 and 3 only
    assert all("layers=mlp.down_proj" in l for l in todo[1:]) and sum("seed=3" in l for l in todo) == 1
    stade_layer_study.main(base + ["--where", "layers=none"])
    assert len(capsys.readouterr().out.strip().splitlines()) == 2  # 'none' matches the unset field: dense alone


def test_a_data_free_method_runs_once_however_many_calibration_seeds_the_grid_names(capsys, tmp_path):
    """Magnitude-sp reads no calibration data, so at the full scale each sparsity is one row (three identical rows
    were once run), while the calibrated structured methods keep their three calibration seeds."""
    import bip_structured

    base = ["--scale", "full", "--model", "facebook/opt-125m", "--dry-run", "--output", str(tmp_path / "b.jsonl")]
    bip_structured.main(base + ["--methods", "magnitude_sp"])
    todo = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(todo) == 1 + 2 and not any("seed=" in l for l in todo)
    bip_structured.main(base + ["--methods", "wanda_sp"])
    todo = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(todo) == 1 + 2 * 3 and sum("seed=2" in l for l in todo) == 2
