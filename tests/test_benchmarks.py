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


def test_fresh_clone_pairs_rows_by_run_and_counts_the_digits_of_every_float():
    import fresh_clone as fc

    def row(key, ppl, nll, seconds=1.0):
        return {"key": key, "ppl": {"wiki_vital": ppl}, "ppl_windows": {"wiki_vital": {"nll": nll}},
                "seconds": {"prune": seconds}, "provenance": {"git": key}}

    committed = [row("a", 10.0, [2.0, 2.5]), row("b", 20.0, [3.0, 3.1]), row("c", 30.0, [3.4, 3.5]),
                 {"check": "obs", "trial": 1, "gap": 0.25}]
    fresh = [row("a", 10.0, [2.0, 2.5], seconds=9.0),  # timings and provenance differ: still the same doubles
             row("b", 20.0, [3.0, 3.1000031]),  # one window's NLL differs in the 7th digit: the row has 6
             row("d", 40.0, [3.6, 3.7]), {"check": "obs", "trial": 1, "gap": 0.25}]
    result = fc.compare_file(committed, fresh)
    assert result["compared"] == 3 and result["only_committed"] == 1 and result["only_fresh"] == 1
    assert result["digits_min"] == 6 and result["digits_median"] == 16 and result["below_4_digits"] == 0
    assert result["by_committed_cpu"] == {"?": {"compared": 3, "digits_min": 6, "digits_median": 16,
                                                "below_4_digits": 0}}
    assert fc.row_digits(row("a", 10.0, [2.0, 2.5]), row("a", 10.0, [2.0])) == 0  # another window count
    assert fc.row_digits(row("a", 10.0, [2.0, 2.5]), row("a", 10.1, [2.0, 2.5])) == 2


def test_fresh_clone_table_shows_the_latest_run_and_whether_the_claims_agree():
    sys.path.insert(0, str(ROOT / "analysis"))
    from tables_reproducibility import fresh_clone_table

    def files(n):
        return {"experiment": "fresh_clone", "file": "main_perplexity.jsonl", "compared": n, "digits_min": 16,
                "digits_median": 16, "below_4_digits": 0, "only_committed": 0}

    def summary(same, wall):
        return {"experiment": "fresh_clone", "file": None, "wall_s": wall, "clone_commit": "abcdef0123",
                "claims_block_identical": same, "provenance": {"machine": {"cpu": "Test CPU", "cpu_threads": 2}}}

    md, _ = fresh_clone_table([files(5), summary(False, 100.0), files(7), summary(True, 6000.0)])
    assert "| `main_perplexity.jsonl` | ? | 7 | 16 | 16 | 0 | 0 |" in md and "| 5 |" not in md  # the latest run
    two = dict(files(7), by_committed_cpu={"Other CPU": {"compared": 2, "digits_min": 3, "digits_median": 5,
                                                         "below_4_digits": 1},
                                           "Test CPU": {"compared": 5, "digits_min": 16, "digits_median": 16,
                                                        "below_4_digits": 0}})
    md, _ = fresh_clone_table([two, summary(True, 6000.0)])
    assert md.index("Test CPU (same) | 5 | 16") < md.index("|  | Other CPU | 2 | 3 | 5 | 1 |  |")  # same CPU first
    assert "took 100 min" in md and "equals the committed" in md and "Test CPU" in md
    md, _ = fresh_clone_table([files(7), dict(summary(False, 60.0), claims_changed=["Wanda: x", "OWL: y"],
                                              verdicts_changed=[])])
    assert "in the estimates of 2 claim(s) and in 0 default-scale verdict(s)." in md
    assert fresh_clone_table([files(5)]) == ("", "")  # a run cut off before its summary shows nothing


def test_fresh_clone_names_the_claims_whose_line_or_verdict_changed():
    import fresh_clone as fc

    head = "| paper | claim | criterion | default scale | verdict | full scale | verdict | paper |\n|---|\n"
    old = head + ("| Wanda | a | c | -1.0% | holds | -2.0% | holds | p |\n"
                  "| OWL | b | c \\|x\\| | +3.0% | inconclusive | +1.0% | holds | p |\n")
    new = old.replace("-1.0%", "-1.1%").replace("+3.0% | inconclusive", "+3.5% | does not hold")
    assert fc.changed_claims(old, old) == []
    assert fc.changed_claims(old, new) == ["Wanda: a", "OWL: b"]
    assert fc.changed_claims(old, new, column="verdict") == ["OWL: b"]


def test_pruning_cost_floor_counts_each_shared_input_once():
    """The floor's groups are the engine's: one per tensor that several linears read (q/k/v, gate/up stack), with
    the stacked rows; the work adds the Gram's symmetric half (tokens * w^2) and SparseGPT's solve per group, and is
    nothing for a method with neither."""
    import torch
    from conftest import tiny_llama

    import pruning_cost
    from methods.blocks import find_blocks, find_linears
    from methods.sparsegpt import obs_flops

    model = tiny_llama(layers=2)
    groups = pruning_cost.input_groups(model, torch.randint(0, 260, (2, 16)), torch.device("cpu"))
    lin = find_linears(find_blocks(model)[1][0])
    rows = lambda *names: sum(lin[n].out_features for n in names)  # noqa: E731
    hidden, inter = lin["self_attn.q_proj"].in_features, lin["mlp.down_proj"].in_features
    per_block = [(hidden, rows("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
                 (hidden, rows("self_attn.o_proj")), (hidden, rows("mlp.gate_proj", "mlp.up_proj")),
                 (inter, rows("mlp.down_proj"))]
    assert sorted(groups) == sorted(per_block * 2)
    work = pruning_cost.solver_work([(4, 6), (8, 2)], 10, True, obs_flops)
    assert work == 10 * 16 + (2 * 64 / 3 + 6 * 16) + 10 * 64 + (2 * 512 / 3 + 2 * 64)
    assert pruning_cost.solver_work([(4, 6)], 10, False, None) == 0.0
