"""Self-generated calibration data (Ji et al. 2024) and the other generated sources, on a tiny in-process model:
determinism under a seed, the exact filter share, exact N x L output, cache hits, clear errors."""
import math

import pytest
import torch

from conftest import tiny_llama
from methods.synthesis import (GENERATED, SynthesisParams, generate, keep_lowest_perplexity, sample_perplexities,
                               synthesize)


@pytest.fixture
def model():
    return tiny_llama(seed=3)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STADE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _params(corpus_file, **kw):
    return SynthesisParams(**{"prompt_source": f"text:{corpus_file}", "generations": 5, "new_tokens": 24,
                              "batch_size": 2, **kw})


def test_generation_is_deterministic_under_a_seed(model, tokenizer, corpus_file):
    params = _params(corpus_file)
    a = generate(model, tokenizer, params, seed=0, progress=False)
    b = generate(model, tokenizer, params, seed=0, progress=False)
    c = generate(model, tokenizer, params, seed=1, progress=False)
    assert len(a) == 5 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert any(not torch.equal(x, y) for x, y in zip(a, c))
    for ids in a:  # the 2-token prefix is kept; at most new_tokens follow
        assert 2 < len(ids) <= 2 + 24


def test_perplexity_of_a_sample_against_brute_force(model):
    ids = torch.tensor([5, 17, 99, 3, 42, 7])
    (ppl,) = sample_perplexities(model, [ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids[None]).logits[0], dim=-1)
    nll = -sum(float(logp[t, ids[t + 1]]) for t in range(len(ids) - 1)) / (len(ids) - 1)
    assert ppl == pytest.approx(math.exp(nll), rel=1e-5)


@pytest.mark.parametrize("n,drop,removed", [(10, 0.2, 2), (5, 0.2, 1), (7, 0.5, 3), (4, 0.0, 0), (3, 0.2, 0)])
def test_filter_removes_exactly_the_highest_share(n, drop, removed):
    ppls = [float((7 * i) % n) + 0.5 for i in range(n)]
    kept = keep_lowest_perplexity(ppls, drop)
    assert len(kept) == n - removed and kept == sorted(kept)
    dropped = set(range(n)) - set(kept)
    assert all(ppls[d] >= max(ppls[k] for k in kept) for d in dropped)


def test_synthetic_source_yields_exactly_n_by_l_and_hits_its_cache(model, tokenizer, corpus_file, cache):
    source = GENERATED["synthetic"]
    args = source.resolve_args({"prompt_source": f"text:{corpus_file}", "batch_size": "4", "new_tokens": "32"})
    ids, info = source.draw(model, tokenizer, 3, 40, 0, args, {"model": "tiny"}, False)
    assert ids.shape == (3, 40) and ids.dtype == torch.long
    # N=3 windows of 40 tokens from 32-token generations: ceil(2 * 3 * 40 / 32 / 0.8) = 10 generated, 8 kept
    assert info["generated"] == 10 and info["kept"] == 8 and not info["cache_hit"]
    assert info["generation_s_per_sample"] > 0
    again, info2 = source.draw(model, tokenizer, 3, 40, 0, args, {"model": "tiny"}, False)
    assert info2["cache_hit"] and torch.equal(ids, again)
    assert len(list(cache.glob("synthetic/*.json"))) == 1
    other, _ = source.draw(model, tokenizer, 3, 40, 1, args, {"model": "tiny"}, False)
    assert not torch.equal(ids, other) and len(list(cache.glob("synthetic/*.json"))) == 2


def test_synthesize_filter_keeps_the_lowest_perplexities(model, tokenizer, corpus_file, cache):
    result = synthesize(model, tokenizer, _params(corpus_file, generations=10), 0, {"model": "tiny"}, False)
    assert len(result["kept"]) == 8 and len(result["texts"]) == 8 and len(result["ppl"]) == 10
    kept_max = max(result["ppl"][i] for i in result["kept"])
    assert all(result["ppl"][i] >= kept_max for i in set(range(10)) - set(result["kept"]))


@pytest.mark.parametrize("kw,n,seqlen,msg", [
    ({}, 0, 32, "nsamples >= 1"),
    ({"drop": 1.0}, 4, 32, r"\[0, 1\)"),
    ({"drop": -0.1}, 4, 32, r"\[0, 1\)"),
    ({}, 4, 300, "exceeds the model's context"),
    ({"new_tokens": 300}, 4, 32, "exceeds the model's context"),
    ({"oversupply": 0.5}, 4, 32, "oversupply"),
])
def test_bad_synthesis_parameters(kw, n, seqlen, msg):
    with pytest.raises(ValueError, match=msg):
        SynthesisParams(**kw).resolve(n, seqlen, context=256)


def test_bad_filter_share_and_unknown_argument():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        keep_lowest_perplexity([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="has no argument"):
        GENERATED["synthetic"].resolve_args({"temprature": "0.7"})


def test_random_source_is_seeded_and_in_vocabulary(tokenizer):
    draw = GENERATED["random"].draw
    a, _ = draw(None, tokenizer, 4, 16, 0, {}, {}, False)
    b, _ = draw(None, tokenizer, 4, 16, 0, {}, {}, False)
    c, _ = draw(None, tokenizer, 4, 16, 1, {}, {}, False)
    assert a.shape == (4, 16) and torch.equal(a, b) and not torch.equal(a, c)
    assert int(a.min()) >= 0 and int(a.max()) < len(tokenizer)


def test_prune_with_synthetic_calibration(llama_dir, corpus_file, cache):
    from methods import PruneConfig, run

    spec = f"text:{corpus_file}"
    config = PruneConfig(model=str(llama_dir), method="wanda", calib="synthetic",
                         calib_args={"prompt_source": spec, "new_tokens": 64, "batch_size": 8}, nsamples=4,
                         seqlen=64, eval=(spec,), eval_windows=2, device="cpu")
    row = run(config, progress=False)
    assert row["sparsity_achieved"] == 0.5 and row["calibration"]["source"] == "synthetic"
    generated = row["calibration"]["generated"]
    assert generated["generated"] == 10 and generated["kept"] == 8
    assert row["config"]["calib_args"]["drop"] == 0.2  # resolved defaults are recorded
    with pytest.raises(ValueError, match="generated calibration sources"):
        PruneConfig(calib="enwiki_excerpt", calib_args={"drop": 0.1}).validate()


def test_cache_is_keyed_by_the_weights_not_the_model_name(tokenizer, corpus_file, cache):
    """Two models given the same identity (same path) but different weights must not share a generated set."""
    source = GENERATED["synthetic"]
    args = source.resolve_args({"prompt_source": f"text:{corpus_file}", "batch_size": "4", "new_tokens": "32"})
    same_id = {"model": "/models/same/path"}
    _, first = source.draw(tiny_llama(seed=3), tokenizer, 3, 40, 0, args, same_id, False)
    _, second = source.draw(tiny_llama(seed=4), tokenizer, 3, 40, 0, args, same_id, False)
    assert not first["cache_hit"] and not second["cache_hit"]
    assert len(list(cache.glob("synthetic/*.json"))) == 2
    _, third = source.draw(tiny_llama(seed=3), tokenizer, 3, 40, 0, args, same_id, False)
    assert third["cache_hit"]
