"""One pruning run from a config: load -> calibrate -> prune -> evaluate -> a result row with provenance."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch

from .base import ALLOCATORS, METHODS, AllocationContext
from .data import calibration_samples, eval_windows, get_corpus
from .engine import prune_model
from .evaluate import check_zero_shot_spec, perplexity, zero_shot
from .masks import Pattern, check_sparsity, sparsity_report
from .models import EMBEDDED, LoadedModel, load_model, prunable_linears, save_model
from .results import peak_rss_mb, provenance, run_key
from .structured import STRUCTURED, check_ratio, prune_structured
from .synthesis import GENERATED

@dataclass
class PruneConfig:
    """Everything that defines a run. Defaults are the embedded default scale (SmolLM2 on 2 CPU cores)."""

    model: str = EMBEDDED
    method: str = "wanda"
    sparsity: Optional[float] = 0.5  # None with an N:M pattern means N/M
    pattern: str = "unstructured"
    allocator: str = "uniform"
    allocator_args: Optional[dict] = None  # e.g. {"M": 5, "lambda": 0.08} for OWL; resolved to all defaults
    calib: str = "enwiki_excerpt"  # a corpus, or a generated source: "synthetic" (the model's own text), "random"
    calib_args: Optional[dict] = None  # a generated source's parameters, e.g. {"drop": 0.2} for synthetic
    nsamples: int = 32
    seqlen: int = 512
    seed: int = 0
    eval: tuple[str, ...] = ("wiki_vital",)
    eval_seqlen: Optional[int] = None  # None = seqlen
    eval_windows: Optional[int] = 80
    zero_shot: Optional[str] = None  # "offline" | "paper" | "task1,task2" (lm-eval), None = perplexity only
    zero_shot_limit: Optional[int] = None  # first N examples of each zero-shot task (lm-eval --limit); None = all
    layers: Optional[str] = None  # prune only these linears of every block ("mlp.down_proj,fc2"); None = all
    propagate: str = "pruned"
    batch_size: int = 4
    device: str = "auto"
    dtype: str = "auto"
    revision: Optional[str] = None
    calib_data_files: Optional[dict] = None  # local files read through a Hub corpus' loader
    eval_data_files: Optional[dict] = field(default=None)

    def validate(self) -> "PruneConfig":
        """Check everything that can be checked before loading the model; returns self with sparsity resolved."""
        if self.method in STRUCTURED:
            self._validate_structured()
            return self._validate_data()
        method = METHODS[self.method]  # unknown names: a KeyError with the closest match
        allocator = ALLOCATORS[self.allocator]
        self.allocator_args = allocator.resolve_args(self.allocator_args) if allocator.allocate else None
        pattern = Pattern.parse(self.pattern)
        if pattern.is_nm and allocator.allocate is not None:
            raise ValueError(f"allocator {allocator.name!r} sets unstructured sparsities; it does not combine with "
                             f"the N:M pattern {pattern}")
        if pattern.is_nm:
            if self.sparsity is not None and abs(self.sparsity - pattern.sparsity) > 1e-9:
                raise ValueError(f"pattern {pattern} fixes the sparsity at {pattern.sparsity}; got --sparsity "
                                 f"{self.sparsity}")
            self.sparsity = pattern.sparsity
        elif method.score is None and method.solve is None and method.route is None:
            self.sparsity = 0.0  # the dense reference prunes nothing
        elif self.sparsity is None:
            raise ValueError("unstructured pruning needs a sparsity (--sparsity)")
        check_sparsity(self.sparsity)
        if allocator.allocate is not None and self.sparsity == 0.0:
            raise ValueError(f"allocator {allocator.name!r} redistributes a non-zero sparsity; got 0")
        if self.layers is not None and (allocator.allocate is not None or pattern.is_nm or not self.layers.strip(",")):
            raise ValueError("--layers names the linears to prune (e.g. 'mlp.down_proj'); it does not combine with an "
                             "allocator or an N:M pattern and must not be empty")
        return self._validate_data()

    def _validate_structured(self) -> None:
        """Structured methods remove whole heads/channels: the sparsity is the share of parameters removed."""
        if Pattern.parse(self.pattern).is_nm or self.allocator != "uniform":
            raise ValueError(f"structured method {self.method!r} removes whole heads and channels; it takes neither an "
                             f"N:M pattern nor an allocator (got {self.pattern!r}, {self.allocator!r})")
        if self.sparsity is None:
            raise ValueError("structured pruning needs a ratio (--sparsity, the share of parameters removed)")
        check_ratio(self.sparsity)
        self.allocator_args = None

    def _validate_data(self) -> "PruneConfig":
        if self.needs_calibration:
            if self.nsamples <= 0:
                raise ValueError(f"nsamples must be positive, got {self.nsamples}")
            if self.calib in GENERATED:
                self.calib_args = GENERATED[self.calib].resolve_args(self.calib_args)
            else:
                get_corpus(self.calib)
        if self.calib_args is not None and self.calib not in GENERATED:
            raise ValueError(f"--calib_args are for generated calibration sources ({', '.join(GENERATED)}); "
                             f"{self.calib!r} is a corpus")
        if self.seqlen <= 1:
            raise ValueError(f"seqlen must be at least 2, got {self.seqlen}")
        for corpus in self.eval:
            get_corpus(corpus)
        if self.propagate not in ("pruned", "dense"):
            raise ValueError(f"propagate must be 'pruned' or 'dense', got {self.propagate!r}")
        if self.zero_shot is not None:
            check_zero_shot_spec(self.zero_shot)
        if self.zero_shot_limit is not None and self.zero_shot_limit < 1:
            raise ValueError(f"zero_shot_limit must be a positive number of examples, got {self.zero_shot_limit}")
        return self

    @property
    def needs_calibration(self) -> bool:
        if self.method in STRUCTURED:
            return STRUCTURED[self.method].needs_data
        return METHODS[self.method].uses_data or ALLOCATORS[self.allocator].needs_data

    def defining_fields(self) -> dict[str, Any]:
        """The fields that change results (not the device or batch size)."""
        out = asdict(self)
        for k in ("device", "batch_size"):
            out.pop(k)
        # unset optional fields stay out of the key, so rows written before a field existed keep their keys
        for name in ("allocator_args", "zero_shot", "zero_shot_limit", "calib_args", "layers"):
            if out[name] is None:
                out.pop(name)
        return out


def check_context(loaded: LoadedModel, *lengths: int) -> None:
    ctx = loaded.context_length
    for length in lengths:
        if ctx is not None and length > ctx:
            raise ValueError(f"seqlen {length} exceeds the model's context length {ctx}")


def evaluate_model(loaded: LoadedModel, corpora: tuple[str, ...], seqlen: int, max_windows: Optional[int],
                   batch_size: int = 4, data_files: Optional[dict] = None, progress: bool = True,
                   zero_shot_tasks: Optional[str] = None, zero_shot_limit: Optional[int] = None) -> dict:
    device = next(loaded.model.parameters()).device
    ppl, sizes = {}, {}
    for corpus in corpora:
        windows = eval_windows(corpus, loaded.tokenizer, seqlen, max_windows, data_files)
        ppl[corpus] = perplexity(loaded.model, windows, batch_size, device, progress, desc=f"ppl {corpus}")
        sizes[corpus] = {"windows": windows.shape[0], "seqlen": seqlen, "tokens": windows.numel()}
    out = {"ppl": ppl, "eval_sizes": sizes}
    if zero_shot_tasks:
        out["zero_shot"] = zero_shot(loaded.model, loaded.tokenizer, zero_shot_tasks, limit=zero_shot_limit)
    return out


def only_layers(model: torch.nn.Module, layers: Optional[str], sparsity: float):
    """A plan that prunes only the named linears of every block (the STADE paper's single-sublayer study);
    None when every layer is pruned. Unknown names are an error that lists the block's linears."""
    if layers is None:
        return None
    from .models import find_blocks, find_linears
    chosen = {n.strip() for n in layers.split(",") if n.strip()}
    known = set(find_linears(find_blocks(model)[1][0]))
    if chosen - known:
        raise ValueError(f"--layers {sorted(chosen - known)} are not linears of this model's blocks; they are: "
                         f"{', '.join(sorted(known))}")
    return lambda key: sparsity if key.split(".", 1)[1] in chosen else 0.0


def _prune_weights(config: PruneConfig, loaded: LoadedModel, calib: Optional[torch.Tensor], device: torch.device,
                   pattern: Pattern, progress: bool, seconds: dict) -> dict[str, Any]:
    """Unstructured / N:M pruning through the engine (after the allocator, if any)."""
    method = METHODS[config.method]
    allocation = None
    allocator = ALLOCATORS[config.allocator]
    if allocator.allocate is not None:
        t = time.perf_counter()
        allocation = allocator.allocate(AllocationContext(loaded.model, method, calib, config.sparsity,
                                                          config.batch_size, device, config.allocator_args, progress))
        seconds["allocate"] = time.perf_counter() - t
    plan = allocation if allocation is not None else only_layers(loaded.model, config.layers, config.sparsity)
    report = prune_model(loaded.model, method, calib if method.uses_data else None, config.sparsity, pattern,
                         batch_size=config.batch_size, device=device, propagate=config.propagate, plan=plan,
                         progress=progress)
    seconds.update({f"prune_{k}": v for k, v in report.seconds.items()})
    achieved = sparsity_report(prunable_linears(loaded.model))
    layer_methods = {}
    for key, info in report.layers.items():
        layer_methods.setdefault(key.split(".", 1)[1], info["method"])
    return {"allocation": allocation.info if allocation else None, "layer_methods": layer_methods,
            "forward_passes": report.forward_passes, "sparsity_achieved": achieved["overall"],
            "sparsity_layer_range": [min(achieved["per_layer"].values()), max(achieved["per_layer"].values())]}


def _prune_structures(config: PruneConfig, loaded: LoadedModel, calib: Optional[torch.Tensor], device: torch.device,
                      progress: bool) -> dict[str, Any]:
    """Structured pruning: heads and channels physically removed; the achieved ratio is in parameters."""
    method = STRUCTURED[config.method]
    report = prune_structured(loaded.model, method, calib if method.needs_data else None, config.sparsity,
                              batch_size=config.batch_size, device=device, progress=progress)
    shares = [l["params_removed"] / l["params_before"] for l in report.layers]
    return {"allocation": None, "layer_methods": {}, "forward_passes": 1 if method.needs_data else 0,
            "sparsity_achieved": report.ratio, "sparsity_layer_range": [min(shares), max(shares)],
            "structured": {"params_before": report.params_before, "params_after": report.params_after,
                           "layers": loaded.model.config.structured_pruning["layers"]}}


def calibration_ids(config: PruneConfig, loaded: LoadedModel,
                    progress: bool = True) -> tuple[torch.Tensor, Optional[dict]]:
    """[nsamples, seqlen] calibration ids: windows of a corpus, or a generated source (drawn from the still-dense
    model for `synthetic`), with what the generator measured."""
    if config.calib in GENERATED:
        source = GENERATED[config.calib]
        return source.draw(loaded.model, loaded.tokenizer, config.nsamples, config.seqlen, config.seed,
                           source.resolve_args(config.calib_args), loaded.provenance, progress)
    return calibration_samples(config.calib, loaded.tokenizer, config.nsamples, config.seqlen, config.seed,
                               config.calib_data_files), None


def run(config: PruneConfig, *, save: Optional[str] = None, progress: bool = True,
        loaded: Optional[LoadedModel] = None) -> dict[str, Any]:
    """Prune and evaluate; returns the result row (see methods/results.py)."""
    config.validate()
    torch.manual_seed(config.seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if loaded is None:
        loaded = load_model(config.model, device=config.device, dtype=config.dtype, revision=config.revision)
    seconds["load"] = time.perf_counter() - t0
    eval_seqlen = config.eval_seqlen or config.seqlen
    check_context(loaded, config.seqlen, eval_seqlen)
    pattern = Pattern.parse(config.pattern)
    device = next(loaded.model.parameters()).device

    calib, calib_info = None, None
    if config.needs_calibration:
        t = time.perf_counter()
        calib, calib_info = calibration_ids(config, loaded, progress)
        seconds["calibration_data"] = time.perf_counter() - t
    t = time.perf_counter()
    if config.method in STRUCTURED:
        pruned = _prune_structures(config, loaded, calib, device, progress)
    else:
        pruned = _prune_weights(config, loaded, calib, device, pattern, progress, seconds)
    seconds["prune"] = time.perf_counter() - t

    t = time.perf_counter()
    evaluation = evaluate_model(loaded, tuple(config.eval), eval_seqlen, config.eval_windows,
                                max(1, config.batch_size // 2), config.eval_data_files, progress, config.zero_shot,
                                config.zero_shot_limit)
    seconds["eval"] = time.perf_counter() - t
    if save:
        save_model(loaded.model, loaded.tokenizer, save)
    return {
        "key": run_key(config.defining_fields()),
        "config": asdict(config),
        "model": loaded.provenance,
        "method": config.method,
        "allocator": config.allocator,
        "allocation": pruned["allocation"],
        "pattern": str(pattern),
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
        "saved_to": os.fspath(save) if save else None,
    }



def eval_only(model: str, corpora: tuple[str, ...], *, seqlen: int = 512, max_windows: Optional[int] = 80,
              batch_size: int = 4, device: str = "auto", dtype: str = "auto", revision: Optional[str] = None,
              progress: bool = True, zero_shot_tasks: Optional[str] = None) -> dict[str, Any]:
    """Evaluate a dense or saved model; returns a result row."""
    t = time.perf_counter()
    loaded = load_model(model, device=device, dtype=dtype, revision=revision)
    check_context(loaded, seqlen)
    load_s = time.perf_counter() - t
    evaluation = evaluate_model(loaded, corpora, seqlen, max_windows, batch_size, progress=progress,
                                zero_shot_tasks=zero_shot_tasks)
    achieved = sparsity_report(prunable_linears(loaded.model))
    fields_ = {"model": model, "revision": revision, "eval": list(corpora), "seqlen": seqlen,
               "max_windows": max_windows, "dtype": dtype}
    if zero_shot_tasks:
        fields_["zero_shot"] = zero_shot_tasks
    return {"key": run_key(fields_), "config": fields_, "model": loaded.provenance, "method": "eval",
            "sparsity_achieved": achieved["overall"], **evaluation,
            "seconds": {"load": load_s, "eval": time.perf_counter() - t - load_s},
            "peak_rss_mb": peak_rss_mb(), "provenance": provenance()}
