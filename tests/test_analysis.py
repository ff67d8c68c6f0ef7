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
        assert claims.script_path(claim).is_file(), claim.script
        for scale in ("default", "full"):
            ours, verdict = claims.evaluate(claim, scale)
            assert verdict in {"holds", "does not hold", "holds in direction", "not run yet", "paper scale only"}
            if verdict != "not run yet":
                assert ours and claims.claim_results(claim, scale), (scale, claim.claim)


def test_claims_table_is_what_the_readme_embeds():
    table = claims.claims_table()
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- BEGIN claims -->\n", 1)[1].split("<!-- END claims -->", 1)[0]
    assert block == table, "README's claims block is stale: run `python analysis/claims.py`"


def _readme_block(readme: str, name: str) -> str:
    return readme.split(f"<!-- BEGIN {name} -->\n", 1)[1].split(f"<!-- END {name} -->", 1)[0]


def test_every_readme_table_is_what_the_committed_results_regenerate():
    """Each generated README block equals its table rebuilt from results/ now (run `python analysis/tables.py`
    after any results change); a block with no rows yet says so."""
    readme = (ROOT / "README.md").read_text()
    for name, builder in tables.TABLES.items():
        if f"<!-- BEGIN {name} -->" not in readme:
            continue
        md, _ = builder(tables.read_results(name))
        assert _readme_block(readme, name) == (md or tables.not_run_yet(name)), f"README block {name!r} is stale"


def test_every_figure_the_readme_names_exists_and_is_committed_after_its_inputs():
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
    inputs = figure_inputs()
    for name in named:
        assert (ROOT / "figures" / f"{name}.png").is_file(), name
        assert name in inputs, f"figures/{name}.png: no entry in the figure scripts' INPUTS"
        figure_time = commit_time(ROOT / "figures" / f"{name}.png")
        for results in inputs[name]:
            results_time = commit_time(ROOT / "results" / f"{results}.jsonl")
            if figure_time is not None and results_time is not None:
                assert figure_time >= results_time, f"figures/{name}.png is older than results/{results}.jsonl"


def figure_inputs() -> dict[str, list[str]]:
    import allocation_figures
    import stade_figures
    import theory_figures
    import wanda_figures
    out = {}
    for module in (allocation_figures, stade_figures, theory_figures, wanda_figures):
        out.update(module.INPUTS)
    return out
