"""OWL and NeuroAL: allocations against hand computations, exact means, composition with every scorer."""
import pytest
import torch

from conftest import tiny_llama, tiny_opt
from methods import ALLOCATORS, METHODS, AllocationContext, PruneConfig, prune_model, run
from methods.stream import BlockRunner
from methods.masks import sparsity_report
from methods.models import find_blocks, prunable_linears
from methods.neuroal import (BLOCK_GRID, alignment_pass, clip_keep_mean, depth_schedule, exact_row_counts,
                             misalignment, row_sparsities)
from methods.owl import block_params, outlier_ratios, owl_block_sparsities

SCORERS = ["magnitude", "wanda", "stade", "sparsegpt"]


def _ctx(model, method="wanda", sparsity=0.6, allocator="owl", **args):
    ids = torch.randint(0, 260, (8, 32), generator=torch.Generator().manual_seed(0))
    return AllocationContext(model, METHODS[method], ids, sparsity, 4, torch.device("cpu"),
                             ALLOCATORS[allocator].resolve_args(args), progress=False)


def _weighted_mean(plan, model):
    layers = prunable_linears(model)
    total = sum(m.weight.numel() for m in layers.values())
    return sum(float(torch.as_tensor(plan(k), dtype=torch.float64).mean()) * m.weight.numel()
               for k, m in layers.items()) / total


def _rows(model):
    return sum(m.weight.shape[0] for m in prunable_linears(model).values())


# ---------------------------------------------------------------- OWL
def test_owl_mapping_mean_spread_and_order():
    ratios, sizes = [0.02, 0.10, 0.05, 0.01], [10, 10, 10, 10]
    s = owl_block_sparsities(ratios, sizes, 0.7, 0.08)
    assert sum(s) / 4 == pytest.approx(0.7, abs=1e-12)
    assert max(s) - min(s) == pytest.approx(0.16, abs=1e-12)  # the code's formula spans 2 * lambda
    assert sorted(range(4), key=lambda i: s[i]) == sorted(range(4), key=lambda i: -ratios[i])
    # unequal block sizes: the parameter-weighted mean is the target
    s = owl_block_sparsities(ratios, [1, 2, 3, 4], 0.7, 0.08)
    assert sum(a * b for a, b in zip(s, [1, 2, 3, 4])) / 10 == pytest.approx(0.7, abs=1e-12)
    assert owl_block_sparsities([0.3, 0.3], [5, 5], 0.5, 0.08) == [0.5, 0.5]
    with pytest.raises(ValueError, match="smaller lambda"):
        owl_block_sparsities(ratios, sizes, 0.1, 0.2)


def test_owl_outlier_ratios_match_brute_force():
    model = tiny_llama(layers=3)
    ctx = _ctx(model)
    inputs = {}
    hooks = [m.register_forward_hook(lambda mod, a, o, n=n: inputs.setdefault(n, []).append(a[0].reshape(-1, a[0].shape[-1])))
             for n, m in prunable_linears(model).items()]
    with torch.no_grad():
        model(ctx.calib_ids)
    for h in hooks:
        h.remove()
    expected = []
    for b in range(3):
        scores = torch.cat([(m.weight.abs().double() * torch.cat(inputs[n]).double().norm(dim=0)).flatten()
                            for n, m in prunable_linears(model).items() if n.startswith(f"{b}.")])
        expected.append(float((scores > 5 * scores.mean()).double().mean()))
    assert outlier_ratios(ctx, 5.0) == pytest.approx(expected, abs=2e-4)


def test_owl_gives_the_outlier_heavy_block_the_lowest_sparsity():
    model = tiny_llama(layers=4)
    with torch.no_grad():  # 800 of block 2's 36,864 weights made 12x larger (q_proj: the residual stays tame)
        w = find_blocks(model)[1][2].self_attn.q_proj.weight
        w.view(-1)[torch.randperm(w.numel(), generator=torch.Generator().manual_seed(1))[:800]] *= 12
    allocation = ALLOCATORS["owl"].allocate(_ctx(model, sparsity=0.7))
    ratios, blocks = allocation.info["outlier_ratios"], allocation.info["block_sparsity"]
    assert max(range(4), key=lambda i: ratios[i]) == 2
    assert min(range(4), key=lambda i: blocks[i]) == 2
    assert sorted(range(4), key=lambda i: blocks[i]) == sorted(range(4), key=lambda i: -ratios[i])


@pytest.mark.parametrize("method", SCORERS)
def test_owl_composes_and_hits_the_target(method):
    model = tiny_llama(layers=3)
    ctx = _ctx(model, method=method, sparsity=0.7)
    allocation = ALLOCATORS["owl"].allocate(ctx)
    assert _weighted_mean(allocation, model) == pytest.approx(0.7, abs=1e-12)
    prune_model(model, METHODS[method], ctx.calib_ids, 0.7, plan=allocation, progress=False)
    report = sparsity_report(prunable_linears(model))
    # the per-row masks floor each row's count: at most one weight per row below the exact target
    assert 0 <= 0.7 * report["params"] - report["zeros"] <= _rows(model)
    for key, value in report["per_layer"].items():
        assert value == pytest.approx(allocation(key), abs=1 / 64)


# ---------------------------------------------------------------- NeuroAL building blocks
def test_clip_keep_mean_and_depth_schedule():
    v = clip_keep_mean(torch.tensor([0.0, 0.5, 0.9, 1.2], dtype=torch.float64))
    assert float(v.mean()) == pytest.approx(0.65, abs=1e-12) and v.min() >= 0.01 and v.max() <= 0.99
    s = depth_schedule(5, [1] * 5, 0.7, 0.1)
    assert s == pytest.approx([0.6, 0.65, 0.7, 0.75, 0.8], abs=1e-12)  # S - lambda + 2 lambda i / (L - 1)
    s = depth_schedule(4, [1] * 4, 0.8, 0.25)  # last block would be 1.05: clipped, mean kept
    assert max(s) == pytest.approx(0.99) and sum(s) / 4 == pytest.approx(0.8, abs=1e-12)


def test_exact_row_counts_and_row_sparsities():
    fractions = torch.tensor([0.1, 0.52, 0.77, 0.9], dtype=torch.float64)  # x10 = 1, 5.2, 7.7, 9
    assert exact_row_counts(fractions, 10, 22).tolist() == [1, 5, 7, 9]  # the floors already sum to 22
    assert exact_row_counts(fractions, 10, 23).tolist() == [1, 5, 8, 9]  # + the largest remainder
    assert exact_row_counts(fractions, 10, 20).tolist() == [0, 5, 7, 8]  # - the smallest remainders
    diff = torch.tensor([3.0, -1.0, 0.0, 1.0, 2.0])
    rows = row_sparsities(diff, 0.6, 0.1, 64)
    assert int((rows * 64).round().sum()) == 5 * int(64 * 0.6)  # exactly the uniform rule's count
    assert torch.argmin(rows) == 0 and torch.argmax(rows) == 1  # largest drop -> fewest pruned
    assert torch.allclose(row_sparsities(diff, 0.6, 0.0, 64), torch.full((5,), 38 / 64, dtype=torch.float64))


def test_misalignment_by_hand():
    a, b = torch.tensor([1.0, 1.0, 2.0]), torch.tensor([1.0, 3.0, 0.0])
    expected = float(((a / 4 - b / 4) ** 2).sum().sqrt() / 3)
    assert misalignment(a, b) == pytest.approx(expected)
    assert misalignment(a, 2 * a) == 0.0  # scale-free


@pytest.mark.parametrize("build,expected", [
    (tiny_llama, {"q_proj": "o_proj", "o_proj": "gate_proj", "gate_proj": "down_proj", "up_proj": "down_proj"}),
    (tiny_opt, {"k_proj": "out_proj", "v_proj": "out_proj", "q_proj": "out_proj", "out_proj": "fc1", "fc1": "fc2"}),
])
def test_alignment_pass_consumers_zero_terms_and_restore(build, expected):
    model = build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = _ctx(model, method="stade")
    plan = {k: 0.6 for k in prunable_linears(model)}
    F, diffs, consumers = alignment_pass(model, ctx.method, ctx.calib_ids, plan.__getitem__, 0.6, 4, ctx.device)
    short = {k.rsplit(".", 1)[1]: v.rsplit(".", 1)[1] for k, v in consumers.items()
             if k.startswith("0.")}
    assert short == expected  # tiny_llama has GQA: k/v outputs are narrower than o_proj's input -> no consumer
    first = [k for k in diffs if k.startswith("1.") and k.endswith(("q_proj", "k_proj", "v_proj"))]
    assert first and all(diffs[k].abs().max() == 0 for k in first)  # same input in the dense and pruned pass
    assert F > 0
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


# ---------------------------------------------------------------- NeuroAL end to end
def test_neuroal_selects_the_grid_minimum_and_keeps_the_means():
    model = tiny_llama(layers=3)
    ctx = _ctx(model, allocator="neuroal", sparsity=0.6, search_samples=4)
    allocation = ALLOCATORS["neuroal"].allocate(ctx)
    info = allocation.info
    sizes = block_params(model)
    # re-evaluate the block grid independently
    objective = []
    for lam in BLOCK_GRID:
        s = depth_schedule(3, sizes, 0.6, lam)
        plan = {k: s[int(k.split(".")[0])] for k in prunable_linears(model)}
        objective.append(alignment_pass(model, ctx.method, ctx.calib_ids[:4], plan.__getitem__, 0.6, 4,
                                        ctx.device)[0])
    assert info["block_objective"] == pytest.approx(objective, rel=1e-9)
    assert info["block_lambda"] == BLOCK_GRID[objective.index(min(objective))]
    assert info["row_objective"][info["row_grid"].index(info["row_lambda"])] == min(info["row_objective"])
    assert info["alignment_passes"] == len(BLOCK_GRID) + 15 and info["search_samples"] == 4
    # every layer keeps its block's sparsity on average, with exactly the uniform rule's weight count
    layers = prunable_linears(model)
    for key, value in allocation.sparsities.items():
        block_s = info["block_sparsity"][int(key.split(".")[0])]
        width, rows = layers[key].in_features, layers[key].out_features
        if isinstance(value, torch.Tensor):
            assert int((value * width).round().sum()) == rows * int(width * block_s)
        else:
            assert value == block_s
    assert sum(b * n for b, n in zip(info["block_sparsity"], sizes)) / sum(sizes) == pytest.approx(0.6, abs=1e-12)
    assert any(isinstance(v, torch.Tensor) for v in allocation.sparsities.values())
    assert all(not isinstance(v, torch.Tensor) for k, v in allocation.sparsities.items() if k.startswith("2."))


def test_neuroal_block_only_for_sparsegpt():
    model = tiny_llama()
    allocation = ALLOCATORS["neuroal"].allocate(_ctx(model, method="sparsegpt", allocator="neuroal",
                                                     search_samples=2))
    assert "skipped" in allocation.info["row_step"]
    assert all(isinstance(v, float) for v in allocation.sparsities.values())


# ---------------------------------------------------------------- pipeline and errors
@pytest.mark.parametrize("allocator,args", [("owl", None), ("neuroal", {"search_samples": 2, "steps": "block"})])
def test_pipeline_records_the_allocation(llama_dir, corpus_file, allocator, args):
    spec = f"text:{corpus_file}"
    config = PruneConfig(model=str(llama_dir), method="magnitude", sparsity=0.6, allocator=allocator,
                         allocator_args=args, calib=spec, eval=(spec,), nsamples=4, seqlen=32, eval_windows=2,
                         batch_size=2, device="cpu")
    row = run(config, progress=False)
    assert row["allocator"] == allocator and row["allocation"]["block_sparsity"]
    assert row["config"]["allocator_args"] == ALLOCATORS[allocator].resolve_args(args)
    assert row["sparsity_layer_range"][0] < row["sparsity_layer_range"][1]
    assert row["calibration"]["nsamples"] == 4  # magnitude needs no data, the allocator does


@pytest.mark.parametrize("kw,message", [
    (dict(allocator="owl", pattern="2:4", sparsity=None), "does not combine with the N:M"),
    (dict(allocator="owl", allocator_args={"m": 5}), r"no argument\(s\) \['m'\]; it accepts: M=5.0, lambda=0.08"),
    (dict(allocator="neuroal", allocator_args={"lambda": 1}), "accepts: search_samples=8, steps=block"),
    (dict(allocator="owlx"), "Did you mean 'owl'"),
])
def test_allocator_bad_input(kw, message):
    with pytest.raises((ValueError, KeyError), match=message):
        PruneConfig(**{"method": "wanda", "sparsity": 0.5, **kw}).validate()


def test_uniform_run_keys_unchanged():
    """Adding allocator arguments must not change the keys of the uniform runs already in results/."""
    assert "allocator_args" not in PruneConfig().validate().defining_fields()


def test_block_runner_needs_data():
    with pytest.raises(ValueError, match="needs calibration data"):
        BlockRunner(tiny_llama(), torch.empty(0, 4, dtype=torch.long), 2, torch.device("cpu"))
