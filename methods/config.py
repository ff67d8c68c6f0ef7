"""PruneConfig: everything that defines one run, and the checks that need nothing loaded (every name exists, every
number is in range, every option applies), so a bad run stops with one line before any work."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from .base import ALLOCATORS, METHODS, get_method
from .data import BOS_MODES, get_corpus
from .evaluate import check_zero_shot_spec
from .masks import Pattern, check_sparsity
from .models import EMBEDDED, resolve_device, resolve_dtype
from .offload import MODES as OFFLOAD_MODES
from .stats import GRAM_DTYPES
from .structured import check_ratio
from .synthesis import GENERATED


@dataclass
class PruneConfig:
    """Everything that defines a run. Defaults are the embedded default scale (SmolLM2 on 2 CPU cores)."""

    model: str = EMBEDDED
    method: str = "wanda"
    method_args: Optional[dict] = None  # e.g. {"a": 0.5} for RIA; resolved to all of the method's defaults
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
    eval_bos: str = "every"  # "every": BOS first in every window (tokenizers that add one); "first": the papers' stream
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
    threads: Optional[int] = None  # CPU threads (torch.set_num_threads); fixed by the scale presets, recorded
    allow_nonfinite: bool = False  # record NaN/inf weights, statistics or losses instead of stopping (research)
    offload: Optional[str] = None  # "cpu" | "disk": decoder blocks stay off the device, one at a time on it
    offload_folder: Optional[str] = None  # where --offload disk writes pruned blocks (default: a temporary folder)
    gram_dtype: Optional[str] = None  # "float32" | "float64": the Gram X^T X (SparseGPT's Hessian, LSQ, ADMM) and its
    # factorisation; None = float64 on CPU (thread- and BLAS-independent digits), float32 on accelerators (the papers')

    @property
    def bound_method(self):
        return get_method(self.method, self.method_args)

    @property
    def kind(self) -> str:
        return METHODS[self.method].kind

    def validate(self) -> "PruneConfig":
        """Check everything that can be checked before loading the model; returns self with sparsity resolved."""
        method = METHODS[self.method]  # unknown names: a KeyError with the closest match
        if self.method_args and not method.params:
            raise ValueError(f"method {method.name!r} takes no arguments (got --method-args {self.method_args})")
        self.method_args = dict(method.with_args(self.method_args).args) if method.params else None
        allocator = ALLOCATORS[self.allocator]
        if self.allocator_args and allocator.allocate is None:
            raise ValueError(f"allocator {allocator.name!r} takes no arguments (got --allocator-args "
                             f"{self.allocator_args}); pick an allocator that does (owl, neuroal, alpha)")
        self.allocator_args = allocator.resolve_args(self.allocator_args) if allocator.allocate else None
        if method.kind == "structured":
            self._validate_structured()
        else:
            self._validate_weights(method, allocator)
        self._validate_run()
        self._validate_offload(method)
        return self._validate_data()

    def _validate_weights(self, method, allocator) -> None:
        pattern = Pattern.parse(self.pattern)
        if pattern.is_nm and not method.nm:
            raise ValueError(f"method {method.name!r} does not support N:M patterns")
        if pattern.is_nm and allocator.allocate is not None:
            raise ValueError(f"allocator {allocator.name!r} sets unstructured sparsities; it does not combine with "
                             f"the N:M pattern {pattern}")
        if pattern.is_nm:
            if self.sparsity is not None and abs(self.sparsity - pattern.sparsity) > 1e-9:
                raise ValueError(f"pattern {pattern} fixes the sparsity at {pattern.sparsity}; got --sparsity "
                                 f"{self.sparsity}")
            self.sparsity = pattern.sparsity
        elif method.kind == "dense":
            if allocator.allocate is not None:
                raise ValueError("the dense reference prunes nothing; it takes no allocator")
            self.sparsity = 0.0
        elif self.sparsity is None:
            raise ValueError("unstructured pruning needs a sparsity (--sparsity)")
        check_sparsity(self.sparsity)
        if allocator.allocate is not None and self.sparsity == 0.0:
            raise ValueError(f"allocator {allocator.name!r} redistributes a non-zero sparsity; got 0")
        if self.layers is not None and (allocator.allocate is not None or pattern.is_nm or not self.layers.strip(",")):
            raise ValueError("--layers names the linears to prune (e.g. 'mlp.down_proj'); it does not combine with an "
                             "allocator or an N:M pattern and must not be empty")

    def _validate_structured(self) -> None:
        """Structured methods remove whole heads/channels: the sparsity is the share of parameters removed."""
        if Pattern.parse(self.pattern).is_nm or self.allocator != "uniform" or self.layers:
            raise ValueError(f"structured method {self.method!r} removes whole heads and channels; it takes no N:M "
                             f"pattern, allocator or --layers (got {self.pattern!r}, {self.allocator!r}, "
                             f"{self.layers!r})")
        if self.sparsity is None:
            raise ValueError("structured pruning needs a ratio (--sparsity, the share of parameters removed)")
        check_ratio(self.sparsity)

    def _validate_run(self) -> None:
        for name, value, low in (("batch_size", self.batch_size, 1), ("nsamples", self.nsamples, 1),
                                 ("seqlen", self.seqlen, 2), ("threads", self.threads, 1),
                                 ("eval_windows", self.eval_windows, 1), ("eval_seqlen", self.eval_seqlen, 2)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.eval_bos not in BOS_MODES:
            raise ValueError(f"eval_bos must be one of {BOS_MODES}, got {self.eval_bos!r}")
        if self.propagate not in ("pruned", "dense"):
            raise ValueError(f"propagate must be 'pruned' or 'dense', got {self.propagate!r}")
        if self.gram_dtype not in GRAM_DTYPES:
            raise ValueError(f"gram_dtype must be float32 or float64 (or unset: float64 on CPU, float32 on "
                             f"accelerators), got {self.gram_dtype!r}")
        resolve_dtype(self.dtype, resolve_device(self.device))

    def _validate_offload(self, method) -> None:
        if self.offload is None:
            if self.offload_folder is not None:
                raise ValueError("--offload-folder is where --offload disk keeps pruned blocks; pass --offload disk")
            return
        if self.offload not in OFFLOAD_MODES:
            raise ValueError(f"--offload must be one of {', '.join(OFFLOAD_MODES)}; got {self.offload!r}")
        if method.kind == "structured":
            raise ValueError(f"--offload prunes weights in place; structured method {method.name!r} changes the "
                             "blocks' shapes, so it runs without --offload")
        if "grad" in method.all_needs:
            raise ValueError(f"method {method.name!r} needs gradients of the whole model at once (a backward pass), "
                             "which --offload cannot hold; run it without --offload")
        if self.model.startswith("random:"):
            raise ValueError("--offload streams weights from a checkpoint on disk; a random: model has none (save it "
                             "with save_pretrained and pass the folder)")
        if self.offload == "cpu" and self.offload_folder is not None:
            raise ValueError("--offload-folder is for --offload disk; --offload cpu keeps the blocks in CPU memory")

    def _validate_data(self) -> "PruneConfig":
        if self.needs_calibration:
            if self.calib in GENERATED:
                self.calib_args = GENERATED[self.calib].resolve_args(self.calib_args)
            else:
                get_corpus(self.calib)
        if self.calib_args is not None and self.calib not in GENERATED:
            raise ValueError(f"--calib-args are for generated calibration sources ({', '.join(GENERATED)}); "
                             f"{self.calib!r} is a corpus")
        for corpus in self.eval:
            get_corpus(corpus)
        if self.zero_shot is not None:
            check_zero_shot_spec(self.zero_shot)
        if self.zero_shot_limit is not None and self.zero_shot_limit < 1:
            raise ValueError(f"zero_shot_limit must be a positive number of examples, got {self.zero_shot_limit}")
        return self

    @property
    def needs_calibration(self) -> bool:
        return METHODS[self.method].uses_data or ALLOCATORS[self.allocator].needs_data

    def defining_fields(self) -> dict[str, Any]:
        """The fields that change results (not the device, batch size, thread count, offloading or the non-finite
        escape)."""
        out = asdict(self)
        for k in ("device", "batch_size", "threads", "allow_nonfinite", "offload", "offload_folder"):
            out.pop(k)
        # unset optional fields stay out of the key, so the key only names what the run actually sets
        for name in ("allocator_args", "zero_shot", "zero_shot_limit", "calib_args", "layers", "method_args",
                     "gram_dtype"):
            if out[name] is None:
                out.pop(name)
        return out


def split_method_spec(spec: str) -> tuple[str, Optional[str], Optional[str], Optional[str]]:
    """"method[+allocator][@offload][:gram_dtype]" -> (method, allocator, offload, gram_dtype), None where unset.

    The one parser of the benchmarks' method specs ("wanda+owl", "wanda@disk", "sparsegpt:float32"), shared by the
    experiment that writes them and the table that orders them."""
    rest, _, gram_dtype = spec.partition(":")
    rest, _, offload = rest.partition("@")
    method, _, allocator = rest.partition("+")
    return method, allocator or None, offload or None, gram_dtype or None
