"""The verdict rules on hand-built rows: each rule gives holds, does not hold and inconclusive where it should; the
bootstrap interval covers what it claims to; and every perplexity row keeps per-window NLLs whose mean is its
perplexity."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "analysis"))

import claims  # noqa: E402
from claims_spec import Cell, Claim, Sel, diff, did, pair  # noqa: E402
from evidence import bootstrap, make_cell, verdict  # noqa: E402


def _row(method, nll, seed=0, pattern="unstructured", sparsity=0.5, model="embedded", **extra):
    nll = list(map(float, nll))
    ppl = math.exp(sum(nll) / len(nll))
    return {"method": method, "pattern": pattern, "sparsity_target": sparsity, "allocator": "uniform",
            "model": {"model": model}, "config": {"layers": None}, "calibration": {"seed": seed, "source": "x",
                                                                                 "nsamples": 16},
            "ppl": {"c": ppl}, "ppl_windows": {"c": {"nll": nll, "tokens": [511] * len(nll)}}, **extra}


def _rows(shift, noise, seeds=3, windows=40, seed_spread=0.0):
    """Method a's window NLLs = method b's + shift + noise (per window), per seed."""
    rng = np.random.default_rng(0)
    base = rng.normal(3.0, 0.3, windows)
    out = []
    for s in range(seeds):
        offset = rng.normal(0, seed_spread)
        out.append(_row("b", base + rng.normal(0, 0.01, windows), seed=s))
        out.append(_row("a", base + shift + offset + rng.normal(0, noise, windows), seed=s))
    return out


CLAIM = Claim("t", "T", "a is better than b", "x", "x", "x", "x")


@pytest.mark.parametrize("shift,noise,threshold,expected", [
    (-0.10, 0.02, 0.0, "holds"),            # a clearly better
    (+0.10, 0.02, 0.0, "does not hold"),    # a clearly worse
    (0.0, 0.05, 0.0, "inconclusive"),       # no difference beyond the noise
    (-0.10, 0.02, -0.30, "does not hold"),  # better, but not by the paper's margin
    (+0.01, 0.005, 0.05, "holds"),          # "competitive": worse by less than the paper's gap
    (+0.05, 0.05, 0.05, "inconclusive"),    # straddles the gap
])
def test_the_pair_rule_gives_each_outcome(shift, noise, threshold, expected):
    cell = pair(Sel("a", model="embedded"), Sel("b", model="embedded"), threshold, "t")
    result = claims.evaluate_cell(CLAIM, cell, _rows(shift, noise))
    assert result["verdict"] == expected, result


def test_seed_spread_widens_the_interval():
    """The same mean gap with spread between calibration draws is less certain than without."""
    cell = pair(Sel("a"), Sel("b"), 0.0, "t")
    tight = claims.evaluate_cell(CLAIM, cell, _rows(-0.03, 0.01, seed_spread=0.0))["interval"]
    loose = claims.evaluate_cell(CLAIM, cell, _rows(-0.03, 0.01, seed_spread=0.05))["interval"]
    assert loose.high - loose.low > 3 * (tight.high - tight.low)


def test_the_difference_in_differences_rule():
    rows = []
    for s in range(3):
        rows += [_row("a1", [3.0] * 30, seed=s), _row("b1", [3.05] * 30, seed=s)]  # a1 helps b1 by 0.05
        rows += [_row("a2", [3.0] * 30, seed=s), _row("b2", [3.5] * 30, seed=s)]  # a2 helps b2 by 0.5
    cell = Cell("t", {k: Sel(k) for k in ("a1", "b1", "a2", "b2")}, did, 0.0, ">")
    assert claims.evaluate_cell(CLAIM, cell, rows)["verdict"] == "holds"  # -0.05 - (-0.5) = 0.45 > 0
    flipped = Cell("t", {k: Sel(k) for k in ("a1", "b1", "a2", "b2")}, did, 0.0, "<")
    assert claims.evaluate_cell(CLAIM, flipped, rows)["verdict"] == "does not hold"


def _zs(method, correct):
    return {"method": method, "pattern": "unstructured", "sparsity_target": 0.5, "allocator": "uniform",
            "model": {"model": "embedded"}, "config": {"layers": None}, "calibration": {"seed": 0},
            "zero_shot": {"tasks": {"t1": {"items": {"doc_id": list(range(len(correct))),
                                                     "acc": [float(c) for c in correct]}}}}}


@pytest.mark.parametrize("flips,expected", [(0, "holds"), (120, "does not hold"), (25, "inconclusive")])
def test_the_zero_shot_rule_pairs_items(flips, expected):
    """Accuracy difference a - b above -5 points: identical answers hold; 120 of 600 items lost do not; 25 lost
    (-4.2 points, interval about +-1.6) straddle the margin."""
    rng = np.random.default_rng(1)
    b = rng.random(600) < 0.6
    a = b.copy()
    a[np.flatnonzero(b)[:flips]] = False
    claim = Claim("z", "T", "z", "x", "x", "x", "x", kind="zero_shot")
    cell = pair(Sel("a"), Sel("b"), -5.0, "t", sense=">")
    assert claims.evaluate_cell(claim, cell, [_zs("a", a), _zs("b", b)])["verdict"] == expected


def test_a_cell_without_rows_or_without_windows_is_not_run():
    cell = pair(Sel("a"), Sel("b"), 0.0, "t")
    assert claims.evaluate_cell(CLAIM, cell, [_row("a", [3.0] * 5)])["verdict"] == "not run"
    old = _row("b", [3.0] * 5)
    del old["ppl_windows"]  # a row from before per-window records: re-run, never patched
    assert claims.evaluate_cell(CLAIM, cell, [_row("a", [3.0] * 5), old])["verdict"] == "not run"


def test_aggregation_reports_the_worst_honestly():
    agg = claims.aggregate
    assert agg([{"verdict": "holds"}, {"verdict": "holds"}, {"verdict": "not run"}]) == "holds"
    assert agg([{"verdict": "holds"}, {"verdict": "inconclusive"}]) == "inconclusive"
    assert agg([{"verdict": "holds"}, {"verdict": "does not hold"}, {"verdict": "inconclusive"}]) == "does not hold"
    assert agg([{"verdict": "not run"}]) == "not run"


def test_bootstrap_covers_a_known_mean():
    """95% intervals for the mean log-ratio of simulated paired windows cover the truth in ~95% of datasets."""
    covered = 0
    for trial in range(200):
        rng = np.random.default_rng(100 + trial)
        d = rng.normal(-0.02, 0.05, 30)
        cells = {"a": make_cell("a", [_row("a", 3 + d)]), "b": make_cell("b", [_row("b", np.full(30, 3.0))])}
        interval = bootstrap(cells, diff, replicates=1000, seed=trial)
        covered += interval.low <= -0.02 <= interval.high
    assert 0.88 <= covered / 200 <= 0.99


def test_verdict_thresholds():
    from evidence import Interval
    assert verdict(Interval(0, -0.3, -0.1, 3, 10), -0.05, "<") == "holds"
    assert verdict(Interval(0, -0.3, -0.1, 3, 10), -0.2, "<") == "inconclusive"
    assert verdict(Interval(0, 0.1, 0.3, 3, 10), 0.0, ">") == "holds"
    assert verdict(Interval(0, -0.3, -0.1, 3, 10), 0.0, ">") == "does not hold"


def test_the_training_condition_gate(monkeypatch):
    """A trained model that Wanda barely hurts (< 10%) makes the training-conditions cell inconclusive, whatever the
    numbers say."""
    spec = next(c for c in claims.CLAIMS if c.id == "training-conditions")
    rows = []
    for recipe in ("opt_relu", "opt_tanh"):
        model = f"trained:{recipe}-x"
        rows += [dict(_row("dense", [2.0] * 8, model=model), recipe=recipe),
                 dict(_row("wanda", [2.02] * 8, model=model), recipe=recipe),
                 dict(_row("stade_all", [2.01] * 8, model=model), recipe=recipe)]
    result = claims.evaluate_cell(spec, spec.cells[0], rows)
    assert result["verdict"] == "inconclusive" and "did not learn enough" in result["note"]


def test_every_claim_has_its_parts():
    ids = [c.id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids)) >= 25
    for c in claims.CLAIMS:
        assert (ROOT / c.script).is_file(), c.script
        assert c.criterion and c.paper_value and c.statement
        assert c.cells or c.kind == "measured", c.id
        for cell in c.cells:
            assert cell.sense in ("<", ">")


def test_pipeline_rows_keep_per_window_nlls_that_reproduce_the_perplexity(llama_dir, corpus_file):
    from methods import PruneConfig, run

    spec = f"text:{corpus_file}"
    row = run(PruneConfig(model=str(llama_dir), method="wanda", calib=spec, eval=(spec,), nsamples=4, seqlen=32,
                          eval_windows=5, device="cpu"), progress=False)
    windows = row["ppl_windows"][spec]
    assert len(windows["nll"]) == 5 == len(windows["tokens"])
    mean = sum(n * t for n, t in zip(windows["nll"], windows["tokens"])) / sum(windows["tokens"])
    assert math.exp(mean) == pytest.approx(row["ppl"][spec], rel=1e-12)


def test_noise_table_on_hand_built_windows():
    """Two seeds of Wanda and SparseGPT with known per-window NLLs: the paired SD and the resolved gap are exact."""
    import math
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analysis"))
    from noise_table import noise_table

    base = [2.0, 2.5, 3.0, 3.5]
    diffs = {0: [0.1, -0.1, 0.1, -0.1], 1: [0.3, 0.1, 0.3, 0.1]}  # sd 0.11547 each

    def row(method, seed, nll):
        return {"method": method, "sparsity_target": 0.5, "pattern": "unstructured", "allocator": "uniform",
                "model": {"embedded": "smollm2-135m"}, "config": {"seed": seed}, "calibration": {"seed": seed},
                "ppl_windows": {"wiki_vital": {"nll": nll}}}

    rows = [row("wanda", s, base) for s in (0, 1)]
    rows += [row("sparsegpt", s, [b + d for b, d in zip(base, diffs[s])]) for s in (0, 1)]
    md, _ = noise_table(rows)
    line = next(x for x in md.splitlines() if x.startswith("| sparsegpt"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    sd = (sum((d - 0) ** 2 for d in diffs[0]) / 3) ** 0.5
    assert cells[5] == f"{sd:.3f}"
    assert cells[6] == f"{100 * (math.exp(1.96 * sd / 2) - 1):.1f}%"


def test_time_table_total_leaves_out_the_optional_benchmarks(tmp_path, monkeypatch):
    """The README's 2-hour total is one run_all.sh: an optional stage timed with --only must not count."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analysis"))
    from tables_other import run_times_table

    (tmp_path / "run_all_times_default.json").write_text(json.dumps(
        {"stages": {"setup": 60.0, "main_perplexity": 1200.0, "theory": 60.0, "peer_benchmark": 6000.0},
         "machine": {"cpu": "test", "cores": 2}, "date": "today"}))
    monkeypatch.setenv("STADE_RESULTS_DIR", str(tmp_path))
    md, _ = run_times_table(["main_perplexity"])
    assert "| **total** | 22 |" in md and "peer_benchmark" not in md


def test_table_seed_means_count_a_rerun_seed_once_and_use_its_new_row():
    from tables_perplexity import seed_means
    old = _row("a", [4.0, 4.0], seed=0)
    del old["ppl_windows"]  # a row from before per-window records
    rows = [old, _row("a", [2.0, 2.0], seed=0), _row("a", [3.0, 3.0], seed=1)]
    value, n = seed_means(rows, lambda r: r["method"])["a"]
    assert n == 2
    assert value == pytest.approx(math.exp(2.5))


def test_structured_table_takes_zero_shot_from_the_draw_that_has_it():
    """At the full scale only the first calibration draw is evaluated zero-shot; the table's accuracy column must
    come from that row even when another draw's row (without zero-shot) is written first."""
    from tables_other import bip_structured_table
    extra = {"eval_sizes": {"c": {"seqlen": 128}}, "scale": "full"}
    plain = _row("bip", [3.0, 3.0], seed=1, sparsity=0.2, **extra)
    scored = _row("bip", [3.2, 3.2], seed=0, sparsity=0.2, **extra,
                  zero_shot={"tasks": {"t1": {"acc": 0.25}, "t2": {"acc": 0.75}}})
    dense = _row("dense", [2.5, 2.5], seed=0, sparsity=0.0, **extra)
    md, _ = bip_structured_table([dense, plain, scored])
    bip_line = next(line for line in md.splitlines() if line.startswith("| bip |"))
    assert "| 50.0 |" in bip_line
    assert f"{math.exp(3.1):.2f}" in bip_line  # the perplexity still averages both draws
    without, _ = bip_structured_table([dense, plain])  # a scale without zero-shot gets no empty accuracy column
    assert "0-shot" in md and "0-shot" not in without and "zero-shot" not in without


def test_zero_shot_table_averages_the_seeds_of_one_model_into_one_line():
    """Three calibration seeds of Wanda give one line: accuracy the mean over seeds, perplexity their geometric mean
    marked (3); the paired standard error pairs Wanda and SparseGPT on the same seed (0), not on whichever came last."""
    from tables_other import zero_shot_table

    def scored(method, seed, nll, correct):
        tasks = {"t1": {"acc": float(np.mean(correct)), "n": len(correct),
                        "items": {"doc_id": list(range(len(correct))), "acc": [float(c) for c in correct]}}}
        return _row(method, [nll, nll], seed=seed, zero_shot={"tasks": tasks, "lm_eval_version": "x",
                                                              "metric": "acc", "spec": "offline"})

    rows = [scored("wanda", s, 3.0 + 0.1 * s, [1, 0, 0, 0] if s else [1, 1, 0, 0]) for s in range(3)]
    rows += [scored("sparsegpt", 0, 3.0, [1, 1, 0, 0]), scored("sparsegpt", 1, 3.0, [0, 0, 0, 0])]
    md, _ = zero_shot_table(rows)
    wanda = [line for line in md.splitlines() if line.startswith("| wanda 50% |")]
    assert len(wanda) == 1
    assert f"{math.exp(3.1):.2f} (3)" in wanda[0]
    assert f"| {100 * (0.5 + 0.25 + 0.25) / 3:.1f} |" in wanda[0]
    assert "Paired standard error of Wanda - SparseGPT (item mean, seed 0): 0.0 points" in md  # seed 0: identical


def test_a_pair_is_compared_only_on_the_windows_both_cells_have():
    """Rows of another evaluation protocol (80 windows beside a grid's 40) are left out, not mixed; with no common
    protocol the cell is "not run" instead of an error."""
    rng = np.random.default_rng(1)
    base = rng.normal(3.0, 0.3, 80)
    cell = pair(Sel("a", model="embedded"), Sel("b", model="embedded"), 0.0, "t")
    a40 = _row("a", base[:40] - 0.1)
    b40, b80 = _row("b", base[:40]), _row("b", base + 5.0)  # the 80-window row would reverse the verdict
    result = claims.evaluate_cell(CLAIM, cell, [b80, a40, b40])
    assert result["verdict"] == "holds"
    assert result["interval"].units == 40
    assert claims.evaluate_cell(CLAIM, cell, [a40, b80])["verdict"] == "not run"
