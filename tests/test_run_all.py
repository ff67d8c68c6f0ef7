"""run_all.sh at tiny scale, as a reviewer runs it: killed mid-way and run again, it finishes with the same result
files as an uninterrupted run (apart from timings and versions), and no partial row is ever written."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from methods.results import stable_view

ROOT = Path(__file__).resolve().parent.parent
# Two stages that cover the grid runner and row reuse across experiments (about a minute per run); the whole tiny
# run, theory checks included, is the slow test below.
STAGES = "main_perplexity,owl_high_sparsity"


def _command(only: str | None) -> list[str]:
    return ["bash", str(ROOT / "run_all.sh"), "--scale", "tiny", *(["--only", only] if only else [])]


def _env(results: Path) -> dict:
    return {**os.environ, "STADE_RESULTS_DIR": str(results)}


def _run(results: Path, only: str | None) -> None:
    subprocess.run(_command(only), env=_env(results), check=True, capture_output=True, timeout=1800)


def _stable_files(results: Path) -> dict[str, list]:
    """Every results file's rows, each parsed (a partial row would fail here) and stripped of volatile fields."""
    files = {}
    for path in sorted((results / "tiny").glob("*.jsonl")):
        files[path.name] = [json.dumps(stable_view(json.loads(line)), sort_keys=True)
                            for line in path.read_text().splitlines()]
    return files


def _kill_after_rows(results: Path, only: str | None, file: str, rows: int) -> None:
    """Start run_all.sh and SIGKILL its whole process group once `file` has `rows` rows (as a crash would)."""
    proc = subprocess.Popen(_command(only), env=_env(results), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    target, deadline = results / "tiny" / file, time.time() + 900
    try:
        while time.time() < deadline and proc.poll() is None:
            if target.exists() and len(target.read_text().splitlines()) >= rows:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "run_all.sh ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _killed_then_resumed_equals_clean(tmp_path: Path, only: str | None) -> None:
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    _run(clean, only)
    _kill_after_rows(resumed, only, "main_perplexity.jsonl", 2)
    partial = _stable_files(resumed)  # parses every line: the killed run left complete rows only
    assert 2 <= len(partial["main_perplexity.jsonl"]) < len(_stable_files(clean)["main_perplexity.jsonl"])
    _run(resumed, only)
    a, b = _stable_files(clean), _stable_files(resumed)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs between the uninterrupted and the resumed run"


def test_killed_tiny_run_resumes_to_the_same_results(tmp_path):
    _killed_then_resumed_equals_clean(tmp_path, STAGES)
    times = json.loads((tmp_path / "clean" / "tiny" / "run_all_times_tiny.json").read_text())["stages"]
    assert set(times) == {"setup", "main_perplexity", "owl_high_sparsity"} and all(t >= 0 for t in times.values())


@pytest.mark.slow
def test_whole_tiny_run_is_deterministic_and_resumable(tmp_path):
    """Every stage of run_all.sh --scale tiny, killed once and resumed, against an uninterrupted run (~10 min)."""
    _killed_then_resumed_equals_clean(tmp_path, None)


def test_unknown_stage_is_refused(tmp_path):
    out = subprocess.run(_command("main_perplexity,nonsense"), env=_env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 2 and "no stage named 'nonsense'" in out.stderr
