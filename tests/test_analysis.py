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
        ours, verdict = claims.evaluate(claim)
        assert verdict in {"holds", "does not hold", "holds in direction", "not run yet", "paper scale only"}
        if verdict != "not run yet":
            assert ours and tables.read_jsonl(claims.RESULTS / f"{claim.results}.jsonl"), claim.claim


def test_claims_table_is_what_the_readme_embeds():
    table = claims.claims_table()
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- BEGIN claims -->\n", 1)[1].split("<!-- END claims -->", 1)[0]
    assert block == table, "README's claims block is stale: run `python analysis/claims.py`"
