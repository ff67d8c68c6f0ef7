"""Structured pruning on tiny in-process Llama (grouped-query) and OPT models: removal is exact, equals masking,
hits the parameter ratio within one structure per block, survives save/load, and LLM-BIP's scores against a
brute-force removal of every head group and channel."""
import copy

import pytest
import torch

from conftest import tiny_llama, tiny_opt
from methods.stream import BlockRunner
from methods import METHODS as STRUCTURED
from methods.structured import (block_output_change, discover_units, head_dim_of, load_structured,
                                prune_structured, remove_units)
from methods.saving import save_model as save_structured
from methods.structured.prune import _units_without_data


def _ids(n=4, length=32, seed=0):
    return torch.randint(0, 260, (n, length), generator=torch.Generator().manual_seed(seed))


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


@pytest.fixture(params=["llama", "opt"])
def model(request):
    return tiny_llama(seed=1) if request.param == "llama" else tiny_opt(seed=1)


def test_units_follow_the_architecture(model):
    units, *_ = _units_without_data(model)
    assert len(units.attn_producers) == 3 and len(units.mlp_producers) in (1, 2)
    if model.config.model_type == "llama":
        assert units.attn_consumer == "self_attn.o_proj" and units.mlp_consumer == "mlp.down_proj"
    else:
        assert units.attn_consumer == "self_attn.out_proj" and units.mlp_consumer == "fc2"


def test_removing_nothing_is_the_identity_and_removing_equals_masking(model):
    ids = _ids()
    dense = _logits(model, ids)
    layout = _units_without_data(model)
    blocks = model.model.layers if hasattr(model.model, "layers") else model.model.decoder.layers
    same = copy.deepcopy(model)
    same_blocks = same.model.layers if hasattr(same.model, "layers") else same.model.decoder.layers
    for block, units in zip(same_blocks, layout):
        remove_units(block, units, [], [])
    assert torch.equal(_logits(same, ids), dense)
    removed, masked = copy.deepcopy(model), copy.deepcopy(model)
    means = [torch.randn(b.get_submodule(u.mlp_consumer).in_features, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(i)) for i, (b, u) in enumerate(zip(blocks, layout))]
    for which, physical in ((removed, True), (masked, False)):
        bl = which.model.layers if hasattr(which.model, "layers") else which.model.decoder.layers
        for block, units, mean in zip(bl, layout, means):
            remove_units(block, units, [1], [0, 5, 17], mlp_mean=mean, physical=physical)
    assert sum(p.numel() for p in removed.parameters()) < sum(p.numel() for p in model.parameters())
    assert torch.allclose(_logits(removed, ids), _logits(masked, ids), atol=1e-5)
    assert not torch.allclose(_logits(removed, ids), dense, atol=1e-3)


@pytest.mark.parametrize("name", ["magnitude_sp", "wanda_sp", "flap", "bip", "bip_uniform", "bip_noprop"])
@pytest.mark.parametrize("ratio", [0.2, 0.45])
def test_ratio_within_one_structure_per_block(name, ratio):
    model = tiny_llama(seed=2)
    method = STRUCTURED[name]
    weights = lambda m: sum(p.numel() for n, p in m.named_parameters() if n.endswith("weight"))  # noqa: E731
    before = weights(model)
    report = prune_structured(model, method, _ids(8, 64), ratio, progress=False)
    # weights only: FLAP's compensation adds biases to the output projections
    assert before - weights(model) == report.params_before - report.params_after
    channel = 3 * 64  # gate row + up row + down column of the tiny Llama
    group = 2 * 16 * 64 + 2 * 16 * 64 + 64 * 32  # 2 query heads' rows, k and v rows, o_proj columns
    if method.structured.allocation == "uniform":
        for layer in report.layers:
            assert abs(layer["params_removed"] - ratio * layer["params_before"]) <= channel
    assert abs(report.ratio - ratio) * report.params_before <= group
    assert torch.isfinite(_logits(model, _ids(2, 16))).all()


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.2, 1.5])
def test_bad_ratios(ratio):
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        prune_structured(tiny_llama(), STRUCTURED["magnitude_sp"], None, ratio, progress=False)


def test_never_every_head_group():
    """The tiny Llama has 2 key/value groups: at 0.8 the uniform rule (round(1.6) = 2) would empty the attention, so it
    removes 1 and says how many could go; a block with one KV head (Gemma-3) keeps its attention the same way."""
    report = prune_structured(tiny_llama(), STRUCTURED["magnitude_sp"], None, 0.8, progress=False)
    assert all(len(l["groups_removed"]) == 1 and l["groups_removable"] == 1 for l in report.layers)


def test_structured_needs_data_and_rejects_patterns():
    from methods import PruneConfig
    with pytest.raises(ValueError, match="needs calibration data"):
        prune_structured(tiny_llama(), STRUCTURED["wanda_sp"], None, 0.2, progress=False)
    with pytest.raises(ValueError, match="takes no N:M pattern, allocator"):
        PruneConfig(method="bip", pattern="2:4").validate()
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        PruneConfig(method="bip", sparsity=0.0).validate()


@pytest.mark.parametrize("name", ["wanda_sp", "flap"])
def test_save_and_load_the_smaller_model(name, tmp_path, tokenizer):
    model = tiny_llama(seed=4)
    prune_structured(model, STRUCTURED[name], _ids(8, 64), 0.3, progress=False)
    ids = _ids(2, 24, seed=3)
    expected = _logits(model, ids)
    save_structured(model, tokenizer, tmp_path / "small")
    loaded = load_structured(tmp_path / "small")
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in model.parameters())
    assert torch.allclose(_logits(loaded, ids), expected, atol=1e-5)
    from methods.models import load_model  # the pipeline's loader (CLI `eval`) recognises the layout
    assert torch.allclose(_logits(load_model(str(tmp_path / "small"), device="cpu").model, ids), expected, atol=1e-5)


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def test_bip_scores_against_brute_force_block_output_change():
    """MLP channels: BIP's score is the exact mean ||dY||_1 of removing the channel. Head groups (and single heads
    of an MHA model): the Lipschitz estimate against the measured change; rank correlation reported."""
    from methods.structured.bip import bip_score
    from methods.structured import score_block

    model = tiny_llama(seed=5, layers=2)
    ids = _ids(8, 64)
    runner = BlockRunner(model, ids, 4, torch.device("cpu"))
    block = runner.blocks[0]
    collector, outs = runner.run(block, collect=True, keep=True, needs={"abs_mean"})
    units = discover_units(collector, head_dim_of(model.config))
    scores = score_block(block, units, STRUCTURED["bip"].structured, collector.stats)
    dense = torch.cat(outs)

    def change(groups, channels):
        return block_output_change(runner, block, units, dense, groups, channels)

    channels = torch.tensor([change([], [j]) for j in range(len(scores.channels))], dtype=torch.float64)
    assert torch.allclose(scores.channels, channels, rtol=1e-4)
    groups = torch.tensor([change([g], []) for g in range(len(scores.groups))], dtype=torch.float64)
    assert (scores.groups >= groups * 0.999).all()  # the bound holds on this block
    attn_scores = bip_score(block, units, "attn", collector.stats[units.attn_consumer])
    assert attn_scores.shape == (block.get_submodule(units.attn_consumer).in_features,)


def test_trained_model_spec_needs_its_checkpoint(tmp_path, monkeypatch):
    from methods.models import load_model
    monkeypatch.setenv("STADE_CACHE_DIR", str(tmp_path))
    with pytest.raises(OSError, match="training_conditions.py"):
        load_model("trained:llama_rms-000000000000")
