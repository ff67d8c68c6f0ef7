"""The theory checks at a small size, asserting the verdicts the derivations predict (fixed seeds, exhaustive
search over every mask: these are exact statements about the sampled rows, not tolerances)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "theory"))


@pytest.fixture(scope="module")
def optimality(tmp_path_factory):
    import check_optimality
    return check_optimality.run(trials=40, d=10, seed=0, out_dir=tmp_path_factory.mktemp("theory"))


def test_wanda_optimal_for_centred_independent_inputs(optimality):
    for scenario in ("independent_zero_mean", "independent_zero_mean_heavy_tail"):
        assert optimality[scenario]["wanda"]["optimal_share"] == 1.0
        assert optimality[scenario]["stade"]["optimal_share"] == 1.0
        assert optimality[scenario]["magnitude"]["optimal_share"] < 0.5  # unequal variances


def test_stade_optimal_for_uncentred_independent_inputs_and_wanda_not(optimality):
    for scenario in ("independent_nonzero_mean", "independent_nonzero_mean_heavy_tail"):
        assert optimality[scenario]["stade"]["optimal_share"] == 1.0
        assert optimality[scenario]["stade"]["mean_excess_vs_best"] == pytest.approx(0.0, abs=1e-12)
        assert optimality[scenario]["wanda"]["optimal_share"] < 0.8
        assert optimality[scenario]["wanda"]["mean_excess_vs_best"] > 0.1


def test_magnitude_optimal_for_equal_second_moments(optimality):
    assert all(optimality["equal_second_moment"][m]["optimal_share"] == 1.0 for m in optimality["equal_second_moment"])


def test_closed_form_and_optimal_bias(tmp_path):
    import check_closed_form
    summary = check_closed_form.run(trials=6, d=10, seed=0, n=200_000, out_dir=tmp_path)
    assert summary["closed_form_within_999_share"] == 1.0
    assert summary["optimal_bias_share"] == 1.0


def test_broken_assumptions_break_optimality(tmp_path):
    import check_assumptions_broken
    out = check_assumptions_broken.run(trials=30, d=10, seed=0, out_dir=tmp_path)
    assert out["correlated_zero_mean"]["wanda"]["optimal_share"] < 1.0
    assert out["correlated_nonzero_mean"]["stade"]["optimal_share"] < 1.0
    few, many = out["independent_nonzero_mean_16_samples"], out["independent_nonzero_mean_4096_samples"]
    assert few["stade"]["optimal_share"] < many["stade"]["optimal_share"]


def test_crossover(tmp_path):
    import check_crossover
    rows = check_crossover.run(trials=20, d=10, seed=0, out_dir=tmp_path)
    wanda = [r["wanda"]["mean_excess_vs_best"] for r in rows]
    assert wanda[0] == pytest.approx(0.0, abs=1e-12) and all(a < b for a, b in zip(wanda, wanda[1:]))
    assert all(r["stade"]["mean_excess_vs_best"] == pytest.approx(0.0, abs=1e-12) for r in rows)


def test_real_model_statistics_on_tiny_llama(llama_dir, corpus_file):
    import check_real_model
    rows = check_real_model.layer_statistics(str(llama_dir), nsamples=2, seqlen=32, calib=f"text:{corpus_file}")
    summary = check_real_model.summarise(rows)
    assert {n: s["normalized_input"] for n, s in summary.items()} == {
        "self_attn.q_proj": True, "self_attn.k_proj": True, "self_attn.v_proj": True, "self_attn.o_proj": False,
        "mlp.gate_proj": True, "mlp.up_proj": True, "mlp.down_proj": False}
    assert all(r["median_mean2_over_var"] >= 0 for r in rows) and len(rows) == 2 * 7


def test_sparsegpt_against_the_obs_optimum(tmp_path):
    import check_obs
    out = check_obs.run(trials=10, d=10, seed=0, out_dir=tmp_path)
    for scenario in ("zero_mean", "nonzero_mean"):
        assert out[scenario]["sparsegpt_never_below_optimum"]  # the exhaustive optimum is a lower bound
    assert out["zero_mean"]["sparsegpt_at_most_wanda_share"] >= 0.8
