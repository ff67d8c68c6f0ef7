"""One pruning run from a config: validate -> load -> preflight -> calibrate -> prune -> evaluate -> a result row.

Every check a run needs (config, device, output and save targets, whether the architecture can keep the biases a
method adds, layer names, N:M widths, finite weights, the engine's stream) happens before the first calibration
pass; a failed save after all the work still returns the row (with `save_error`), so nothing measured is lost.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict
from typing import Any, Iterator, Optional

import torch

from .offload import execution_device
from .base import ALLOCATORS, AllocationContext, Method
from .blocks import UnsupportedArchitecture, find_blocks, find_linears, prunable_linears
from .config import PruneConfig
from .data import calibration_samples, eval_windows, tokenizer_bos
from .engine import check_finite_weights, prune_model
from .stream import BlockRunner
from .evaluate import perplexity, zero_shot
from .masks import Pattern, sparsity_report
from .models import LoadedModel, load_model
from .results import git_commit, peak_rss_mb, provenance, run_key
from .stats import GRAM_DTYPES
from .saving import bias_plan, biased_modules, check_save_target, needed_bias_modules, refusal, save_model
from .structured import discover_units, head_dim_of, prune_structured
from .synthesis import GENERATED

__all__ = ["PruneConfig", "run", "eval_only", "prune_loaded", "calibration_ids", "evaluate_model"]


@contextlib.contextmanager
def cpu_threads(threads: Optional[int]) -> Iterator[None]:
    """torch's CPU thread count for the block (the presets fix it: float32 reductions depend on it)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_context(loaded: LoadedModel, *lengths: int) -> None:
    ctx = loaded.context_length
    for length in lengths:
        if ctx is not None and length > ctx:
            raise ValueError(f"seqlen {length} exceeds the model's context length {ctx}")


def only_layers(model: torch.nn.Module, layers: Optional[str], sparsity: float):
    """A plan that prunes only the named linears of every block (the STADE paper's single-sublayer study);
    None when every layer is pruned. Unknown names are an error that lists the block's linears."""
    if layers is None:
        return None
    chosen = {n.strip() for n in layers.split(",") if n.strip()}
    known = set(find_linears(find_blocks(model)[1][0]))
    if chosen - known:
        raise ValueError(f"--layers {sorted(chosen - known)} are not linears of this model's blocks; they are: "
                         f"{', '.join(sorted(known))}")
    return lambda key: sparsity if key.split(".", 1)[1] in chosen else 0.0


def _probe_block(loaded: LoadedModel) -> Any:
    """Block 0's statistics collector on a 16-token probe: the execution order, shared inputs and norm-fed layers
    (and, through BlockRunner, the check that the engine's stream equals the model's own forward)."""
    device = execution_device(loaded.model)
    ids = torch.randint(0, max(2, min(len(loaded.tokenizer), 1000)), (1, 16), generator=torch.Generator().manual_seed(0))
    runner = BlockRunner(loaded.model, ids, 1, device)
    collector, _ = runner.run(runner.blocks[0], collect=True)
    return collector


def preflight(config: PruneConfig, loaded: LoadedModel, method: Method, save: Optional[str]) -> Optional[Any]:
    """Everything about this model that can stop the run, checked before any calibration; returns the layer plan."""
    model = loaded.model
    check_context(loaded, config.seqlen, config.eval_seqlen or config.seqlen)
    if not config.allow_nonfinite:
        check_finite_weights(model)
    plan = only_layers(model, config.layers, config.sparsity) if method.kind == "weights" else None
    pattern = Pattern.parse(config.pattern)
    for key, layer in prunable_linears(model).items():
        if plan is None or plan(key):
            pattern.check_width(layer.in_features, key)
    collector = _probe_block(loaded) if (method.uses_data or save or method.kind == "structured") else None
    if method.kind == "structured":
        discover_units(collector, head_dim_of(model.config))  # an architecture it cannot cut fails here
    if save:
        check_save_target(save)
        if method.may_add_bias:
            infos = collector.layer_infos(0)
            names = [n for n in collector.order
                     if (method.kind == "weights" and method.for_layer(infos[n]).adds_bias
                         and (plan is None or plan(f"0.{n}")))
                     or (method.kind == "structured" and not infos[n].normalized_input)]
            bias = bias_plan(model.config, needed_bias_modules(model, names) | biased_modules(model))
            if bias.unsupported:
                raise UnsupportedArchitecture(refusal(model, bias, method.name))
    return plan


def calibration_ids(config: PruneConfig, loaded: LoadedModel,
                    progress: bool = True) -> tuple[torch.Tensor, Optional[dict]]:
    """[nsamples, seqlen] calibration ids: windows of a corpus, or a generated source (drawn from the still-dense
    model for `synthetic`), with what the generator measured."""
    if config.calib in GENERATED:
        source = GENERATED[config.calib]
        return source.draw(loaded.model, loaded.tokenizer, config.nsamples, config.seqlen, config.seed,
                           source.resolve_args(config.calib_args), loaded.provenance, progress)
    return calibration_samples(config.calib, loaded.tokenizer, config.nsamples, config.seqlen, config.seed,
                               config.calib_data_files, bos=config.eval_bos), None


def evaluate_model(loaded: LoadedModel, corpora: tuple[str, ...], seqlen: int, max_windows: Optional[int],
                   batch_size: int = 4, data_files: Optional[dict] = None, progress: bool = True,
                   zero_shot_tasks: Optional[str] = None, zero_shot_limit: Optional[int] = None,
                   bos: str = "every", allow_nonfinite: bool = False) -> dict:
    """Perplexity per corpus (with every window's mean NLL and token count) and, optionally, zero-shot accuracy
    (with every item's result)."""
    device = execution_device(loaded.model)
    ppl, windows_out, sizes = {}, {}, {}
    first = tokenizer_bos(loaded.tokenizer)
    for corpus in corpora:
        windows = eval_windows(corpus, loaded.tokenizer, seqlen, max_windows, data_files, bos=bos)
        result = perplexity(loaded.model, windows, batch_size, device, progress, desc=f"ppl {corpus}",
                            allow_nonfinite=allow_nonfinite)
        ppl[corpus] = result.ppl
        windows_out[corpus] = {"nll": result.window_nll, "tokens": result.window_tokens}
        sizes[corpus] = {"windows": windows.shape[0], "seqlen": seqlen, "tokens": windows.numel(),
                         "bos": bos if first is not None else "none"}
    out = {"ppl": ppl, "ppl_windows": windows_out, "eval_sizes": sizes}
    if zero_shot_tasks:
        out["zero_shot"] = zero_shot(loaded.model, loaded.tokenizer, zero_shot_tasks, limit=zero_shot_limit)
    return out


def _prune_weights(config: PruneConfig, method: Method, loaded: LoadedModel, calib: Optional[torch.Tensor],
                   plan, device: torch.device, progress: bool, seconds: dict) -> dict[str, Any]:
    """Unstructured / N:M pruning through the engine (after the allocator, if any)."""
    allocation = None
    allocator = ALLOCATORS[config.allocator]
    if allocator.allocate is not None:
        t = time.perf_counter()
        allocation = allocator.allocate(AllocationContext(loaded.model, method, calib, config.sparsity,
                                                          config.batch_size, device, config.allocator_args, progress))
        seconds["allocate"] = time.perf_counter() - t
        plan = allocation
    report = prune_model(loaded.model, method, calib if method.uses_data else None, config.sparsity,
                         Pattern.parse(config.pattern), batch_size=config.batch_size, device=device,
                         propagate=config.propagate, plan=plan, progress=progress,
                         allow_nonfinite=config.allow_nonfinite, check_weights=False,  # preflight checked them
                         gram_dtype=GRAM_DTYPES[config.gram_dtype])
    seconds.update({f"prune_{k}": v for k, v in report.seconds.items()})
    achieved = sparsity_report(prunable_linears(loaded.model))
    layer_methods = {}
    for key, info in report.layers.items():
        layer_methods.setdefault(key.split(".", 1)[1], info["method"])
    return {"allocation": allocation.info if allocation else None, "layer_methods": layer_methods,
            "forward_passes": report.forward_passes, "sparsity_achieved": achieved["overall"],
            "sparsity_layer_range": [min(achieved["per_layer"].values()), max(achieved["per_layer"].values())]}


def _prune_structures(config: PruneConfig, method: Method, loaded: LoadedModel, calib: Optional[torch.Tensor],
                      device: torch.device, progress: bool) -> dict[str, Any]:
    """Structured pruning: heads and channels physically removed; the achieved ratio is in parameters."""
    report = prune_structured(loaded.model, method, calib if method.needs_data else None, config.sparsity,
                              batch_size=config.batch_size, device=device, progress=progress)
    shares = [l["params_removed"] / l["params_before"] for l in report.layers]
    per_block = [{"groups_removed": len(l["groups_removed"]), "groups": l["groups"],
                  "groups_removable": l["groups_removable"], "channels_removed": l["channels_removed"],
                  "channels": l["channels"]} for l in report.layers]
    return {"allocation": None, "layer_methods": {}, "forward_passes": 1 if method.needs_data else 0,
            "sparsity_achieved": report.ratio, "sparsity_layer_range": [min(shares), max(shares)],
            "structured": {"params_before": report.params_before, "params_after": report.params_after,
                           "head_groups_removed": sum(b["groups_removed"] for b in per_block),
                           "channels_removed": sum(b["channels_removed"] for b in per_block),
                           "layers": per_block}}


def prune_loaded(config: PruneConfig, loaded: LoadedModel, calib: Optional[torch.Tensor], plan=None,
                 progress: bool = True, seconds: Optional[dict] = None) -> dict[str, Any]:
    """The prune step of a run on an already loaded model and calibration set (also what the pruning-cost benchmark
    times): the engine for weights, the structured driver for heads and channels, nothing for the dense row."""
    seconds = {} if seconds is None else seconds
    method = config.bound_method
    device = execution_device(loaded.model)
    if method.kind == "structured":
        return _prune_structures(config, method, loaded, calib, device, progress)
    return _prune_weights(config, method, loaded, calib, plan, device, progress, seconds)


def run(config: PruneConfig, *, save: Optional[str] = None, progress: bool = True,
        loaded: Optional[LoadedModel] = None) -> dict[str, Any]:
    """Prune and evaluate; returns the result row (see methods/results.py)."""
    config.validate()
    git_commit()  # the code's commit is read now, before the minutes a run takes
    if save:
        check_save_target(save)
    with cpu_threads(config.threads):
        return _run(config, save, progress, loaded)


def _run(config: PruneConfig, save: Optional[str], progress: bool, loaded: Optional[LoadedModel]) -> dict[str, Any]:
    method = config.bound_method
    torch.manual_seed(config.seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if loaded is None:
        loaded = load_model(config.model, device=config.device, dtype=config.dtype, revision=config.revision,
                            offload=config.offload, offload_folder=config.offload_folder)
    seconds["load"] = time.perf_counter() - t0
    plan = preflight(config, loaded, method, save)
    calib, calib_info = None, None
    if config.needs_calibration:
        t = time.perf_counter()
        calib, calib_info = calibration_ids(config, loaded, progress)
        seconds["calibration_data"] = time.perf_counter() - t
    t = time.perf_counter()
    pruned = prune_loaded(config, loaded, calib, plan, progress, seconds)
    seconds["prune"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluation = evaluate_model(loaded, tuple(config.eval), config.eval_seqlen or config.seqlen, config.eval_windows,
                                max(1, config.batch_size // 2), config.eval_data_files, progress, config.zero_shot,
                                config.zero_shot_limit, config.eval_bos, config.allow_nonfinite)
    seconds["eval"] = time.perf_counter() - t
    saved_to, save_error = None, None
    if save:
        try:
            save_model(loaded.model, loaded.tokenizer, save)
            saved_to = os.fspath(save)
        except (OSError, ValueError, RuntimeError) as err:  # the row is still returned, and says why
            save_error = f"{type(err).__name__}: {err}"
    pattern = "structured" if method.kind == "structured" else str(Pattern.parse(config.pattern))
    return {
        "key": run_key(config.defining_fields()),
        "config": asdict(config),
        "model": loaded.provenance,
        "method": config.method,
        "method_args": config.method_args,
        "allocator": config.allocator,
        "allocation": pruned["allocation"],
        "pattern": pattern,
        "sparsity_target": config.sparsity,
        "sparsity_achieved": pruned["sparsity_achieved"],
        "sparsity_layer_range": pruned["sparsity_layer_range"],
        "layer_methods": pruned["layer_methods"],
        **({"structured": pruned["structured"]} if "structured" in pruned else {}),
        "calibration": {"source": config.calib, "nsamples": config.nsamples, "seqlen": config.seqlen,
                        "seed": config.seed, "propagate": config.propagate,
                        **({"generated": calib_info} if calib_info else {})} if calib is not None else None,
        **evaluation,
        "seconds": seconds,
        "forward_passes": pruned["forward_passes"],
        "peak_rss_mb": peak_rss_mb(),
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        "provenance": provenance(),
        "saved_to": saved_to,
        **({"save_error": save_error} if save_error else {}),
    }


def eval_only(model: str, corpora: tuple[str, ...], *, seqlen: int = 512, max_windows: Optional[int] = 80,
              batch_size: int = 4, device: str = "auto", dtype: str = "auto", revision: Optional[str] = None,
              progress: bool = True, zero_shot_tasks: Optional[str] = None, bos: str = "every",
              threads: Optional[int] = None, offload: Optional[str] = None) -> dict[str, Any]:
    """Evaluate a dense or saved model; returns a result row. `offload`: as PruneConfig.offload."""
    for name, value in (("seqlen", seqlen), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if max_windows is not None and max_windows < 1:
        raise ValueError(f"eval_windows must be a positive integer (or 0 for all), got {max_windows}")
    with cpu_threads(threads):
        t = time.perf_counter()
        loaded = load_model(model, device=device, dtype=dtype, revision=revision, offload=offload)
        check_context(loaded, seqlen)
        load_s = time.perf_counter() - t
        evaluation = evaluate_model(loaded, corpora, seqlen, max_windows, batch_size, progress=progress,
                                    zero_shot_tasks=zero_shot_tasks, bos=bos)
        achieved = sparsity_report(prunable_linears(loaded.model))
    fields_ = {"model": model, "revision": revision, "eval": list(corpora), "seqlen": seqlen,
               "max_windows": max_windows, "dtype": dtype, "eval_bos": bos}
    if zero_shot_tasks:
        fields_["zero_shot"] = zero_shot_tasks
    return {"key": run_key(fields_), "config": fields_, "model": loaded.provenance, "method": "eval",
            "sparsity_achieved": achieved["overall"], **evaluation,
            "seconds": {"load": load_s, "eval": time.perf_counter() - t - load_s},
            "peak_rss_mb": peak_rss_mb(), "provenance": provenance()}
