"""pyproject.toml and environment.yml pin the same direct dependencies."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    return {re.split(r"==", l)[0].strip().lower().replace("-", "_"): l.split("==")[1].strip()
            for l in lines if "==" in l}


def test_environment_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env_lines = [l.strip().lstrip("- ").strip() for l in (ROOT / "environment.yml").read_text().splitlines()
                 if l.strip().startswith("- ") and "==" in l and "python=" not in l]
    assert _pins(deps) == _pins(env_lines)
    assert all("==" in d for d in deps), "every direct dependency is pinned"
    assert _pins(deps)["torch"] == "2.13.0"
