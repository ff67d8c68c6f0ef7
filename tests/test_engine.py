"""The engine against a naive reference, determinism, layer routing and propagation modes."""
import copy

import pytest
import torch

from methods import METHODS, Pattern, prune_layer, prune_model
from methods.data import calibration_samples
from methods.models import UnsupportedArchitecture, find_blocks, find_linears, load_model, prunable_linears
from methods.stats import LayerStats

from conftest import tiny_llama, tiny_opt

UNNORMALIZED = {"self_attn.o_proj", "mlp.down_proj", "self_attn.out_proj", "fc2"}  # test-only knowledge


def naive_prune(model, method, ids, sparsity, pattern):
    """Reference: for each block, run the WHOLE model on all calibration data at once, materialise every
    linear's full input matrix, build its statistics in one step, prune, and go on to the next block."""
    _, blocks = find_blocks(model)
    for b, block in enumerate(blocks):
        linears = find_linears(block)
        inputs = {}
        hooks = [m.register_forward_hook(lambda mod, a, o, n=n: inputs.__setitem__(n, a[0].detach().clone()))
                 for n, m in linears.items()]
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)
        for h in hooks:
            h.remove()
        for name, layer in linears.items():
            x = inputs[name].reshape(-1, layer.in_features)
            stats = LayerStats(layer.in_features, gram=method.uses_gram)
            stats.update(x)
            from methods.base import LayerInfo
            chosen = method.for_layer(LayerInfo(name, b, normalized_input=name not in UNNORMALIZED))
            prune_layer(layer, chosen, stats, sparsity, pattern, name)


@pytest.mark.parametrize("builder", [tiny_llama, tiny_opt], ids=["llama", "opt"])
@pytest.mark.parametrize("method,pattern", [("wanda", Pattern()), ("stade", Pattern()), ("stade_all", Pattern(2, 4)),
                                            ("sparsegpt", Pattern()), ("magnitude", Pattern(4, 8))])
def test_engine_matches_naive_reference(builder, method, pattern):
    ids = torch.randint(0, 260, (7, 32), generator=torch.Generator().manual_seed(0))
    engine_model, naive_model = builder(), builder()
    report = prune_model(engine_model, METHODS[method], ids, 0.5, pattern, batch_size=3, progress=False)
    naive_prune(naive_model, METHODS[method], ids, 0.5, pattern)
    a, b = prunable_linears(engine_model), prunable_linears(naive_model)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name].weight == 0, b[name].weight == 0), name
        torch.testing.assert_close(a[name].weight, b[name].weight, atol=2e-5, rtol=1e-4)
        if b[name].bias is not None:
            torch.testing.assert_close(a[name].bias, b[name].bias, atol=2e-5, rtol=1e-4)
    for key, info in report.layers.items():
        assert info["pruned"] == info["numel"] // 2, key


@pytest.mark.parametrize("builder", [tiny_llama, tiny_opt], ids=["llama", "opt"])
def test_norm_fed_layers_are_found_generically(builder):
    model = builder()
    ids = torch.randint(0, 260, (2, 16))
    report = prune_model(model, METHODS["stade"], ids, 0.5, batch_size=2, progress=False)
    for key, info in report.layers.items():
        name = key.split(".", 1)[1]
        assert info["normalized_input"] == (name not in UNNORMALIZED), key
        assert info["method"] == ("stade_all" if name in UNNORMALIZED else "wanda"), key


def test_same_seed_same_masks_and_seed_changes_samples(llama_dir, corpus_file):
    loaded = load_model(str(llama_dir), device="cpu")
    spec = f"text:{corpus_file}"
    a = calibration_samples(spec, loaded.tokenizer, 6, 48, seed=0)
    b = calibration_samples(spec, loaded.tokenizer, 6, 48, seed=0)
    c = calibration_samples(spec, loaded.tokenizer, 6, 48, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    masks = []
    for _ in range(2):
        model = copy.deepcopy(loaded.model)
        prune_model(model, METHODS["stade"], a, 0.5, progress=False)
        masks.append({k: (m.weight == 0) for k, m in prunable_linears(model).items()})
    assert all(torch.equal(masks[0][k], masks[1][k]) for k in masks[0])


def test_dense_propagation_differs_and_skips_recompute():
    ids = torch.randint(0, 260, (4, 32), generator=torch.Generator().manual_seed(0))
    seq, dense = tiny_llama(), tiny_llama()
    r1 = prune_model(seq, METHODS["wanda"], ids, 0.5, progress=False)
    r2 = prune_model(dense, METHODS["wanda"], ids, 0.5, propagate="dense", progress=False)
    assert r1.forward_passes == 2 and r2.forward_passes == 1 and r2.seconds["recompute"] == 0
    first, second = prunable_linears(seq), prunable_linears(dense)
    assert all(torch.equal(first[k].weight, second[k].weight) for k in first if k.startswith("0."))
    assert any(not torch.equal(first[k].weight, second[k].weight) for k in first if k.startswith("1."))
    with pytest.raises(ValueError, match="propagate"):
        prune_model(tiny_llama(), METHODS["wanda"], ids, 0.5, propagate="sideways", progress=False)


def test_data_free_and_dense_methods():
    model = tiny_llama()
    before = {k: m.weight.clone() for k, m in prunable_linears(model).items()}
    prune_model(model, METHODS["dense"], None, 0.5, progress=False)
    assert all(torch.equal(before[k], m.weight) for k, m in prunable_linears(model).items())
    prune_model(model, METHODS["magnitude"], None, 0.5, progress=False)
    assert all(float((m.weight == 0).float().mean()) == 0.5 for m in prunable_linears(model).values())
    with pytest.raises(ValueError, match="calibration data"):
        prune_model(tiny_llama(), METHODS["wanda"], None, 0.5, progress=False)


def test_per_layer_plan_and_bad_plan():
    ids = torch.randint(0, 260, (2, 16))
    model = tiny_llama()
    prune_model(model, METHODS["wanda"], ids, 0.5, plan=lambda key: 0.25 if key.startswith("0.") else 0.75,
                progress=False)
    for key, m in prunable_linears(model).items():
        assert float((m.weight == 0).float().mean()) == (0.25 if key.startswith("0.") else 0.75)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        prune_model(tiny_llama(), METHODS["wanda"], ids, 0.5, plan=lambda key: 1.2, progress=False)


def test_unsupported_architecture_names_the_class():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=32))
    with pytest.raises(UnsupportedArchitecture, match="GPT2LMHeadModel"):
        find_blocks(model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_engine_on_cuda_matches_cpu():
    ids = torch.randint(0, 260, (4, 32), generator=torch.Generator().manual_seed(0))
    cpu, gpu = tiny_llama(), tiny_llama().cuda()
    prune_model(cpu, METHODS["stade"], ids, 0.5, progress=False)
    prune_model(gpu, METHODS["stade"], ids, 0.5, device="cuda", progress=False)
    a, b = prunable_linears(cpu), prunable_linears(gpu)
    for k in a:
        assert (a[k].weight == 0).eq(b[k].weight.cpu() == 0).float().mean() > 0.999


@pytest.mark.parametrize("method,trims", [("sparsegpt", 1), ("wanda", 0)])
def test_heap_is_trimmed_once_per_solved_block_only(monkeypatch, method, trims):
    """After a block a solver pruned (its 4 groups q/k/v, o, gate/up, down reuse each other's pages) the engine hands
    freed heap pages back, once; after a scorer it does not (refaulting the pages would cost more than they are
    worth)."""
    import methods.engine as engine

    calls = []
    monkeypatch.setattr(engine, "trim_heap", lambda: calls.append(1) or True)
    model = tiny_llama(layers=2)
    prune_model(model, METHODS[method], torch.randint(0, 260, (2, 16)), 0.5, batch_size=2, progress=False)
    assert len(calls) == trims * 2


def test_gram_precision_reaches_the_solver_and_keeps_exact_sparsity(monkeypatch):
    """gram_dtype sets the precision SparseGPT factorises and sweeps in (float64 on CPU by default, float32 when
    asked: the papers' and the GPU path's); either way every layer is pruned to exactly 50%, and the float32 masks
    stay close to the float64 ones (the mask decisions only move on near-ties)."""
    import methods.sparsegpt as sparsegpt

    seen = []
    original = sparsegpt.upper_cholesky_of_inverse
    monkeypatch.setattr(sparsegpt, "upper_cholesky_of_inverse",
                        lambda H, **kw: seen.append(H.dtype) or original(H, **kw))
    ids = torch.randint(0, 260, (4, 32), generator=torch.Generator().manual_seed(0))
    models = {}
    for name, dtype in (("default", None), ("float32", torch.float32)):
        models[name] = tiny_llama()
        prune_model(models[name], METHODS["sparsegpt"], ids, 0.5, batch_size=2, progress=False, gram_dtype=dtype)
    assert set(seen[:len(seen) // 2]) == {torch.float64} and set(seen[len(seen) // 2:]) == {torch.float32}
    a, b = prunable_linears(models["default"]), prunable_linears(models["float32"])
    for key in a:
        assert int((a[key].weight == 0).sum()) == int((b[key].weight == 0).sum()) == a[key].weight.numel() // 2
    agree = sum(int(((a[k].weight == 0) == (b[k].weight == 0)).sum()) for k in a) / sum(a[k].weight.numel() for k in a)
    assert agree > 0.97


def test_layers_reading_one_tensor_share_one_statistics_update_from_the_first_batch(monkeypatch):
    """q/k/v and gate/up read one tensor each: the collector updates one statistics object per input and batch (4
    per llama block), the first batch included, so no Gram matrix is computed twice; the followers read the
    leader's object."""
    from methods.stream import BlockRunner
    import methods.stats as stats

    updates = []
    original = stats.LayerStats.update
    monkeypatch.setattr(stats.LayerStats, "update", lambda self, x: updates.append(id(self)) or original(self, x))
    runner = BlockRunner(tiny_llama(layers=1), torch.randint(0, 260, (4, 16)), 2, torch.device("cpu"))
    collector, _ = runner.run(runner.blocks[0], collect=True, needs={"gram"})
    assert len(updates) == 4 * 2 and len(set(updates)) == 4
    assert collector.stats["self_attn.k_proj"] is collector.stats["self_attn.q_proj"]
    assert collector.stats["mlp.up_proj"] is collector.stats["mlp.gate_proj"]
    assert collector.stats["self_attn.q_proj"].count == 4 * 16
