"""The analysis layer on the committed results: the claims table points at real scripts and real result rows."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "analysis"))

import claims  # noqa: E402
import tables  # noqa: E402


def test_every_claim_points_to_a_script_and_its_rows():
    assert len(claims.CLAIMS) >= 15
    for claim in claims.CLAIMS:
        assert (ROOT / claim.script).is_file(), claim.script
        for scale in ("default", "full"):
            result = claims.evaluate(claim, scale)
            assert result["verdict"] in claims.ORDER, (claim.id, result["verdict"])
            if result["verdict"] != "not run":
                assert claims.claim_rows(claim, scale), (scale, claim.id)


def test_claims_table_is_what_the_readme_embeds():
    table = claims.claims_table()
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- BEGIN claims -->\n", 1)[1].split("<!-- END claims -->", 1)[0]
    assert block == table, "README's claims block is stale: run `python analysis/claims.py`"
    families = readme.split("<!-- BEGIN claims_families -->\n", 1)[1].split("<!-- END claims_families -->", 1)[0]
    assert families == claims.families_table(), "README's per-family claims block is stale"


def _readme_block(readme: str, name: str) -> str:
    return readme.split(f"<!-- BEGIN {name} -->\n", 1)[1].split(f"<!-- END {name} -->", 1)[0]


def test_every_readme_table_is_what_the_committed_results_regenerate():
    """Each generated README block equals its table rebuilt from results/ now (run `python analysis/tables.py`
    after any results change); a block with no rows yet says so."""
    readme = (ROOT / "README.md").read_text()
    for name, builder in tables.TABLES.items():
        if f"<!-- BEGIN {name} -->" not in readme:
            continue
        md, _ = tables.build(name)
        assert _readme_block(readme, name) == (md or tables.not_run_yet(tables.SOURCES.get(name, "theory"))), f"README block {name!r} is stale"


def test_every_figure_the_readme_names_exists_and_is_committed_after_its_inputs(tmp_path):
    """Figures named in the README exist; in a git checkout, each was last committed no earlier than its inputs."""
    import re
    import subprocess

    def commit_time(path):
        out = subprocess.run(["git", "log", "-1", "--format=%ct", "--", str(path)], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip()
        return int(out) if out else None

    readme = (ROOT / "README.md").read_text()
    named = sorted(set(re.findall(r"figures/([a-z_]+)\.png", readme)))
    assert named
    inputs, scripts = figure_inputs(), figure_scripts()
    for name in named:
        assert (ROOT / "figures" / f"{name}.png").is_file(), name
        assert name in inputs, f"figures/{name}.png: no entry in the figure scripts' INPUTS"
        figure_time = commit_time(ROOT / "figures" / f"{name}.png")
        for results in inputs[name]:
            results_time = commit_time(ROOT / "results" / f"{results}.jsonl")
            if figure_time is not None and results_time is not None and figure_time < results_time:
                # the results changed later: fine only if they changed where the figure does not look (provenance,
                # timings), i.e. the figure regenerates byte for byte
                assert _regenerated(scripts[name], name, tmp_path) == (ROOT / "figures" / f"{name}.png").read_bytes(), \
                    f"figures/{name}.png is older than results/{results}.jsonl and differs from a regeneration"


def _regenerated(script: str, name: str, folder) -> bytes:
    import os
    import subprocess

    env = dict(os.environ, STADE_FIGURES_DIR=str(folder), STADE_ANALYSIS_SCALE="default")
    subprocess.run([sys.executable, str(ROOT / "analysis" / script)], env=env, check=True, capture_output=True)
    return (folder / f"{name}.png").read_bytes()


def figure_modules() -> tuple:
    """The analysis scripts that draw figures; each declares INPUTS: figure name -> results files it reads."""
    import allocation_figures
    import stade_figures
    import theory_figures
    import wanda_figures
    return allocation_figures, stade_figures, theory_figures, wanda_figures


def figure_scripts() -> dict[str, str]:
    """figure name -> the analysis script that draws it."""
    return {name: f"{module.__name__}.py" for module in figure_modules() for name in module.INPUTS}


def figure_inputs() -> dict[str, list[str]]:
    return {name: inputs for module in figure_modules() for name, inputs in module.INPUTS.items()}


def test_training_table_uses_the_pruned_models_training_rows(monkeypatch):
    """An older budget's checkpoint of the same recipe (another model name) must not supply the loss or centring."""
    import tables_other

    def train_row(model, loss, centring):
        return {"model": model, "recipe": "opt_relu", "final_loss": loss,
                "input_centring": {"fc2": {"normalized_input": False, "median_mean2_over_var": centring},
                                   "fc1": {"normalized_input": True, "median_mean2_over_var": 9.0}}}

    train = [train_row("trained:opt_relu-old", 2.5, 0.15), train_row("trained:opt_relu-new0", 1.5, 0.04),
             train_row("trained:opt_relu-new1", 1.7, 0.06)]
    monkeypatch.setattr(tables_other, "read_results", lambda name: train)
    pruned = [{"model": {"model": m}} for m in ("trained:opt_relu-new0", "trained:opt_relu-new1")]
    record = tables_other._training_records(pruned)["opt_relu"]
    assert abs(record["final_loss"] - 1.6) < 1e-12
    assert record["centring"] == {"fc2": 0.05}  # the norm-fed fc1 is left out; the mean over the two seeds


def test_a_rerun_with_window_records_supersedes_the_old_row_of_its_seed():
    from analysis.evidence import make_cell

    old = {"calibration": {"seed": 0}, "ppl": {"c": 2.0}}
    new = {"calibration": {"seed": 0}, "ppl": {"c": 2.0}, "ppl_windows": {"c": {"nll": [0.5, 0.9]}}}
    cell = make_cell("x", [old, new])
    assert cell is not None and cell.values.shape == (1, 2)
    assert make_cell("x", [old]) is None  # a seed with no records at all stays "not run"
