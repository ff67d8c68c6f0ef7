"""Calibration data the model writes itself (Ji et al. 2024, "Beware of Calibration Data for Pruning LLMs",
Sec. 4), and the other generated calibration sources.

Self-generating synthesis, as the official code runs it (`generate_data.py`, `sample_ppl.py`, `get_selfgen`):
  1. prompts: the first `prefix_tokens` = 2 tokens of each of G source texts (the paper: 5,000 Wikipedia texts);
  2. generation by the model being pruned: sampling with temperature 0.6, top-p 0.95, top-k 50, repetition penalty
     1.2, up to `new_tokens` (2048) new tokens; left padding, pad = EOS; the text keeps its prefix;
  3. filter: each sample's perplexity under the same model, PPL(x) = exp(mean_t CE(x_t | x_<t)); the share
     `drop` = 20% with the highest perplexity is removed (exactly floor(G * drop) samples here, where the
     official `ppl < percentile(ppl, 80)` rule removes about that many);
  4. calibration: the kept texts joined with ' ' into one token stream, then N random windows of L tokens with
     `random.seed(seed)`, i = randint(0, len - L - 1), the same draw as every other corpus (methods/data.py).
Generated sets are cached on disk (generation is the expensive part) as JSON, keyed by a fingerprint of the model's
weights and tokenizer, the parameters and the seed; the cache holds the kept texts, every perplexity and the
generation time.

Other generated sources: `random` draws uniform random token ids, the floor every real source must beat.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn
from tqdm import tqdm

from .offload import execution_device
from .atomic import read_json, write_json
from .paths import cache_dir
from .registry import Registry


@dataclass(frozen=True)
class SynthesisParams:
    """Every knob of the synthesis; defaults are the official code's except the sizes, set per run."""

    generations: int = 0  # G; 0 = automatic: ceil(oversupply * N * L / new_tokens / (1 - drop))
    oversupply: float = 2.0  # generations stop at EOS: 2x the bare need keeps the N windows from overlapping much
    new_tokens: int = 0  # 0 = the run's seqlen (the official 2048 is its seqlen), capped by the context
    prefix_tokens: int = 2
    prompt_source: str = "wiki_vital"  # the official code prompts with Wikipedia texts
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.2
    drop: float = 0.2
    batch_size: int = 16

    def resolve(self, nsamples: int, seqlen: int, context: Optional[int]) -> "SynthesisParams":
        """Check the parameters against the run and fill in `generations`."""
        if nsamples <= 0:
            raise ValueError(f"synthetic calibration needs nsamples >= 1, got {nsamples}")
        if not 0.0 <= self.drop < 1.0:
            raise ValueError(f"the filter's drop share must be in [0, 1), got {self.drop}")
        if self.new_tokens < 0 or self.prefix_tokens < 1 or self.batch_size < 1:
            raise ValueError("new_tokens must be >= 0 (0 = seqlen); prefix_tokens and batch_size must be positive")
        if self.new_tokens == 0:  # the run's seqlen, within the context once the prefix is counted
            fit = seqlen if context is None else max(1, min(seqlen, context - self.prefix_tokens))
            return SynthesisParams(**{**asdict(self), "new_tokens": fit}).resolve(nsamples, seqlen, context)
        if self.generations < 0 or self.oversupply < 1.0:
            raise ValueError(f"generations must be >= 0 (0 = automatic) and oversupply >= 1, got {self.generations}, "
                             f"{self.oversupply}")
        if context is not None and self.prefix_tokens + self.new_tokens > context:
            raise ValueError(f"prefix_tokens + new_tokens = {self.prefix_tokens + self.new_tokens} exceeds the model's "
                             f"context of {context} tokens")
        if context is not None and seqlen > context:
            raise ValueError(f"seqlen {seqlen} exceeds the model's context of {context} tokens")
        if self.generations:
            return self
        needed = math.ceil(self.oversupply * nsamples * seqlen / self.new_tokens / (1.0 - self.drop) - 1e-9)
        return SynthesisParams(**{**asdict(self), "generations": needed})


def prompts(params: SynthesisParams, tokenizer: Any, seed: int) -> list[list[int]]:
    """The first `prefix_tokens` tokens of G source texts, drawn without replacement under `seed`."""
    from .data import get_corpus

    docs = [d for d in get_corpus(params.prompt_source).documents("calib") if d.strip()]
    rng = random.Random(seed)
    order = rng.sample(range(len(docs)), k=min(params.generations, len(docs)))
    order += [rng.randrange(len(docs)) for _ in range(params.generations - len(order))]
    out = []
    for i in order:
        ids = tokenizer(docs[i]).input_ids[: params.prefix_tokens]
        if len(ids) < params.prefix_tokens:
            ids = (ids * params.prefix_tokens)[: params.prefix_tokens]  # a one-token text: repeat it
        out.append(ids)
    return out


@torch.no_grad()
def generate(model: nn.Module, tokenizer: Any, params: SynthesisParams, seed: int,
             progress: bool = True) -> list[torch.Tensor]:
    """Sample one continuation per prompt (batched, KV cache); returns prefix + new ids, padding removed."""
    device = execution_device(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    all_prompts = prompts(params, tokenizer, seed)
    torch.manual_seed(seed)
    samples = []
    for start in tqdm(range(0, len(all_prompts), params.batch_size), desc="generating calibration data",
                      disable=not progress):
        batch = all_prompts[start:start + params.batch_size]
        width = max(len(p) for p in batch)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], device=device)
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=params.temperature,
                             top_p=params.top_p, top_k=params.top_k, repetition_penalty=params.repetition_penalty,
                             max_new_tokens=params.new_tokens, pad_token_id=pad)
        for row, p in zip(out, batch):
            new = row[width:]
            ends = (new == tokenizer.eos_token_id).nonzero()
            if len(ends):  # stop at the first EOS, as decoding with skip_special_tokens would
                new = new[: int(ends[0])]
            samples.append(torch.cat([torch.tensor(p, device=device), new]).cpu())
    return samples


@torch.no_grad()
def sample_perplexities(model: nn.Module, samples: list[torch.Tensor]) -> list[float]:
    """PPL of each sample under the model: exp of the mean next-token cross-entropy over the sample."""
    device = execution_device(model)
    out = []
    for ids in samples:
        if len(ids) < 2:
            out.append(float("inf"))
            continue
        logits = model(ids[None].to(device)).logits[0, :-1].float()
        out.append(math.exp(float(nn.functional.cross_entropy(logits, ids[1:].to(device)))))
    return out


def keep_lowest_perplexity(ppls: list[float], drop: float) -> list[int]:
    """Indices (in generation order) of the samples left after removing the floor(n * drop) highest perplexities
    (ties: the later sample is removed first)."""
    if not 0.0 <= drop < 1.0:
        raise ValueError(f"the filter's drop share must be in [0, 1), got {drop}")
    n_drop = int(len(ppls) * drop)
    ranked = sorted(range(len(ppls)), key=lambda i: (ppls[i], i))
    return sorted(ranked[: len(ppls) - n_drop])


def weights_fingerprint(model: nn.Module) -> str:
    """sha256 over every parameter's name, shape, dtype and bytes: two models share a fingerprint only if their
    weights are identical, wherever they were loaded from."""
    digest = hashlib.sha256()
    for name, param in sorted(model.state_dict().items()):
        t = param.detach().cpu().contiguous()
        digest.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _cache_path(model: nn.Module, tokenizer: Any, params: SynthesisParams, seed: int) -> Path:
    """The cache file of a generated set, keyed by content: the weights' and the tokenizer's fingerprints, every
    parameter and the seed (not the path the model came from, which may hold other weights tomorrow)."""
    from .data import tokenizer_fingerprint

    blob = json.dumps({"weights": weights_fingerprint(model), "tokenizer": tokenizer_fingerprint(tokenizer),
                       "params": asdict(params), "seed": seed, "format": 2}, sort_keys=True)
    return cache_dir() / "synthetic" / f"{hashlib.sha256(blob.encode()).hexdigest()[:24]}.json"


def synthesize(model: nn.Module, tokenizer: Any, params: SynthesisParams, seed: int, model_id: dict,
               progress: bool = True) -> dict[str, Any]:
    """Generate and filter (or load the cached set): {"texts": the kept generations, "ppl", "kept", timings}.
    The cache is JSON (no pickle: nothing in it can run code), written atomically and validated on read."""
    path = _cache_path(model, tokenizer, params, seed)
    cached = read_json(path)
    if isinstance(cached, dict) and {"texts", "ppl", "kept", "generation_s", "filter_s"} <= cached.keys():
        return {**cached, "cache_hit": True}
    t = time.perf_counter()
    samples = generate(model, tokenizer, params, seed, progress)
    generation_s = time.perf_counter() - t
    t = time.perf_counter()
    ppls = sample_perplexities(model, samples)
    kept = keep_lowest_perplexity(ppls, params.drop)
    result = {"texts": [tokenizer.decode(samples[i], skip_special_tokens=True) for i in kept], "ppl": ppls,
              "kept": kept, "generated_tokens": sum(len(s) for s in samples), "generation_s": generation_s,
              "filter_s": time.perf_counter() - t, "params": asdict(params), "seed": seed, "model": model_id}
    write_json(path, result)  # atomically: a killed run never leaves half a cache entry
    return {**result, "cache_hit": False}


def windows_from_stream(stream: torch.Tensor, nsamples: int, seqlen: int, seed: int, what: str) -> torch.Tensor:
    """N random windows of L tokens from one token stream (random.seed(seed), i = randint(0, len - L - 1))."""
    from .data import CorpusError

    if len(stream) <= seqlen:
        raise CorpusError(f"{what}: the token stream has {len(stream)} tokens, not more than seqlen={seqlen}; "
                          "generate more (calib_args generations=... or new_tokens=...)")
    rng = random.Random(seed)
    starts = [rng.randint(0, len(stream) - seqlen - 1) for _ in range(nsamples)]
    return torch.stack([stream[i:i + seqlen] for i in starts])


@dataclass(frozen=True)
class GeneratedSource:
    """A calibration source that is produced, not read: draw(model, tokenizer, nsamples, seqlen, seed, args,
    model_id, progress) -> ([nsamples, seqlen] ids, info for the result row)."""

    name: str
    summary: str
    draw: Callable[..., tuple[torch.Tensor, dict[str, Any]]]
    defaults: dict[str, Any]
    needs_model: bool = True

    def resolve_args(self, given: Optional[dict]) -> dict[str, Any]:
        unknown = sorted(set(given or {}) - set(self.defaults))
        if unknown:
            raise ValueError(f"calibration source {self.name!r} has no argument(s) {unknown}; it accepts: "
                             f"{', '.join(sorted(self.defaults)) or 'none'}")
        out = dict(self.defaults)
        for k, v in (given or {}).items():
            out[k] = type(self.defaults[k])(v)
        return out


GENERATED: Registry[GeneratedSource] = Registry("generated calibration source")


def _draw_synthetic(model, tokenizer, nsamples, seqlen, seed, args, model_id, progress):
    from .data import encode

    context = getattr(model.config, "max_position_embeddings", None)
    params = SynthesisParams(**args).resolve(nsamples, seqlen, context)
    result = synthesize(model, tokenizer, params, seed, model_id, progress)
    stream = encode(tokenizer, " ".join(result["texts"]))
    ids = windows_from_stream(stream, nsamples, seqlen, seed, "synthetic calibration data")
    info = {"generated": params.generations, "kept": len(result["kept"]), "stream_tokens": len(stream),
            "stream_coverage": len(stream) / (nsamples * seqlen),  # < 1: the random windows must overlap
            "generated_tokens": result["generated_tokens"], "generation_s": result["generation_s"],
            "generation_s_per_sample": result["generation_s"] / params.generations, "filter_s": result["filter_s"],
            "median_ppl_kept": sorted(result["ppl"][i] for i in result["kept"])[len(result["kept"]) // 2],
            "cache_hit": result["cache_hit"], "params": asdict(params)}
    return ids, info


def _draw_random(model, tokenizer, nsamples, seqlen, seed, args, model_id, progress):
    if nsamples <= 0:
        raise ValueError(f"random calibration needs nsamples >= 1, got {nsamples}")
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, len(tokenizer), (nsamples, seqlen), generator=g), {"vocab": len(tokenizer)}


GENERATED.add("synthetic", GeneratedSource(
    "synthetic", "the model's own generations from 2-token Wikipedia prefixes, top-20%-perplexity filtered "
    "(Ji et al. 2024)", _draw_synthetic, {k: v for k, v in asdict(SynthesisParams()).items()}))
GENERATED.add("random", GeneratedSource("random", "uniform random token ids (a floor)", _draw_random, {},
                                        needs_model=False))
