"""The optional benchmarks' bookkeeping (the benchmarks themselves are measurements, not tests): the peer benchmark's
ratios are ours / peer of the per-side minimum over runs and a peer that cannot be installed skips with a message;
the reproducibility study counts significant digits correctly."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import peer_benchmark as pb  # noqa: E402
import reproducibility  # noqa: E402


class _Args:
    scale, repeat, model_name = "default", 2, "embedded"


def test_ratios_are_ours_over_peer_of_each_sides_minimum():
    sides = {"ours": [{"cpu_s": 10.0, "peak_rss_mb": 900, "prune_s": 6.0}, {"cpu_s": 8.0, "peak_rss_mb": 950,
                                                                          "prune_s": 5.0}],
             "peer": [{"cpu_s": 16.0, "peak_rss_mb": 1000, "prune_s": 9.0, "version": "0.14.0.1"},
                      {"cpu_s": 20.0, "peak_rss_mb": 1200, "prune_s": 10.0, "version": "0.14.0.1"}]}
    row = pb.summary(("sparsegpt", "2:4"), sides, {"ppl": 40.0}, {"ppl": 40.4}, _Args())
    assert row["method"] == "sparsegpt 2:4" and row["runs"] == 2
    assert row["ratios"]["time"] == 8.0 / 16.0 and row["ratios"]["rss"] == 900 / 1000
    assert row["ratios"]["prune_wall"] == 5.0 / 9.0 and abs(row["ratios"]["ppl"] - 40.0 / 40.4) < 1e-12
    assert row["peer"]["version"] == "0.14.0.1" and len(row["all_runs"]["peer"]) == 2


def test_a_peer_that_cannot_be_installed_is_skipped_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STADE_CACHE_DIR", str(tmp_path))

    def no_index(cmd, **kwargs):
        if "pip" in cmd:
            raise subprocess.CalledProcessError(1, cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(pb.subprocess, "run", no_index)
    assert pb.peer_python() is None
    assert "skipped" in capsys.readouterr().out
    assert not list(tmp_path.rglob(".installed"))  # a failed install is not remembered as done


def test_significant_digits():
    assert reproducibility.digits(35.12, 35.12) == 16
    assert reproducibility.digits(35.12, 35.53) == 2  # the SparseGPT example: 1.2% apart, "2 digits"
    assert reproducibility.digits(37.486539, 37.486541) == 7
    assert reproducibility.digits(1.0, 2.0) == 0
    assert reproducibility.digits(100.0, 100.0 + 1e-12) == 14


def test_run_child_reports_the_childs_own_peak_not_the_parents():
    """Linux carries the parent's RSS high-water mark into a child across exec, so wait4's ru_maxrss of a small
    child is floored by a large parent; run_child must report the child's own VmHWM."""
    import sys

    ballast = bytearray(400 * 2**20)  # the parent grows first, as the benchmark does after its evaluations
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = ("import json, sys; sys.path.insert(0, %r); from peer_llmcompressor_worker import own_peak_rss_mb; "
            "print(json.dumps({'peak_rss_mb': own_peak_rss_mb()}))" % str(pb.ROOT / "experiments"))
    _, cpu_s, rss_mb = pb.run_child([sys.executable, "-c", code])
    assert rss_mb < 300 and cpu_s >= 0
    del ballast
