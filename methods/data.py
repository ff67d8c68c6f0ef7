"""Corpora, calibration sampling and evaluation token streams.

Protocols (Wanda / SparseGPT code, kept exactly):
- calibration: `random.seed(seed)`; for each sample draw a random document until one tokenizes to MORE than
  seqlen tokens, then a random window [i, i + seqlen) with i = randint(0, len - seqlen - 1). Corpora whose
  documents are short (WikiText-2, PTB) are first joined into one stream, as the reference loaders do.
- evaluation: the split's documents joined ("\n\n" for WikiText-2), tokenized once, cut into non-overlapping
  seqlen windows (the tail is dropped); C4 uses the first 1100 validation documents and 256 windows.
Corpora: the embedded offline pair (wiki_vital, enwiki_excerpt; see methods/assets.py), the Hub corpora of the
papers (wikitext2, c4, ptb; need network), and `text:PATH` for any local plain-text file (documents separated
by blank lines). Every Hub loader takes `data_files` to read local files through the same code path.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from .paths import corpus_dir
from .registry import Registry


class CorpusError(ValueError):
    pass


@dataclass(frozen=True)
class Corpus:
    name: str
    summary: str
    hub_path: Optional[str] = None  # datasets.load_dataset path; None = embedded
    hub_name: Optional[str] = None
    hub_data_files: dict = field(default_factory=dict)
    hub_revision: Optional[str] = None
    text_field: str = "text"
    splits: dict = field(default_factory=lambda: {"calib": "train", "eval": "test"})
    calib_join: Optional[str] = None  # join all training documents into one stream first
    eval_join: str = "\n\n"
    eval_max_docs: Optional[int] = None
    eval_max_windows: Optional[int] = None

    def documents(self, role: str, data_files: Optional[dict] = None) -> list[str]:
        """Texts of the split used for `role` ("calib" or "eval")."""
        split = self.splits[role]
        if self.hub_path is None:
            docs = _embedded_documents(self.name, split)
        else:
            docs = _hub_documents(self, split, data_files)
        if role == "eval" and self.eval_max_docs:
            docs = docs[: self.eval_max_docs]
        if not docs or not any(d.strip() for d in docs):
            raise CorpusError(f"corpus {self.name!r} split {split!r} is empty")
        return docs


CORPORA: Registry[Corpus] = Registry("corpus")
for _c in (
    # lead sections are shorter than a calibration window: joined into one stream for calibration, as WikiText-2
    Corpus("wiki_vital", "Wikipedia vital-article lead sections (embedded; WikiText-2's role: evaluation)",
           calib_join="\n\n"),
    Corpus("enwiki_excerpt", "full Wikipedia articles from gensim's enwiki excerpt (embedded; C4's role: calibration)"),
    Corpus("wikitext2", "WikiText-2 raw (Hub)", hub_path="Salesforce/wikitext", hub_name="wikitext-2-raw-v1",
           calib_join="\n\n"),
    Corpus("c4", "C4 en, shard 0 for calibration, validation shard 0 for evaluation (Hub)", hub_path="allenai/c4",
           hub_data_files={"train": "en/c4-train.00000-of-01024.json.gz",
                           "validation": "en/c4-validation.00000-of-00008.json.gz"},
           splits={"calib": "train", "eval": "validation"}, eval_join=" ", eval_max_docs=1100, eval_max_windows=256),
    # The script-based `ptb_text_only` no longer loads in datasets >= 4; its Hub parquet conversion does.
    Corpus("ptb", "Penn Treebank (Hub, parquet conversion of ptb_text_only)", hub_path="ptb-text-only/ptb_text_only",
           hub_revision="refs/convert/parquet", text_field="sentence",
           hub_data_files={"train": "penn_treebank/train/0000.parquet", "test": "penn_treebank/test/0000.parquet"},
           calib_join=" ", eval_join=" "),
):
    CORPORA.add(_c.name, _c)


def get_corpus(spec: str) -> Corpus:
    """A registered corpus name, or `text:PATH` for a local plain-text file."""
    if spec.startswith("text:"):
        path = Path(spec[5:])
        if not path.is_file():
            raise CorpusError(f"text corpus file not found: {path}")
        return Corpus(spec, f"local text file {path}", hub_path="text", hub_data_files={"train": str(path),
                      "test": str(path)})
    return CORPORA[spec]


def _embedded_documents(name: str, split: str) -> list[str]:
    path = corpus_dir(name) / f"{split}.jsonl"
    if not path.exists():
        raise CorpusError(f"embedded corpus {name!r} is not installed at {path}; run `python -m methods setup`")
    with open(path) as f:
        return [json.loads(line)["text"] for line in f]


def _builder_for(path: str) -> str:
    suffixes = "".join(Path(path).suffixes)
    if ".parquet" in suffixes:
        return "parquet"
    if ".json" in suffixes:
        return "json"
    return "text"


def _hub_documents(corpus: Corpus, split: str, data_files: Optional[dict]) -> list[str]:
    """Load one split with `datasets`: from the Hub, or from local `data_files` through the same call."""
    import datasets

    if corpus.hub_path == "text":  # local plain text: one document per blank-line-separated paragraph
        path = Path(corpus.hub_data_files[split])
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise CorpusError(f"text corpus {path} is not UTF-8 text (byte {err.start}: {err.reason}); convert it, "
                              "e.g. iconv -f latin1 -t utf-8") from None
        return [p.strip() for p in text.split("\n\n") if p.strip()]
    if data_files is not None:
        if split not in data_files:
            raise CorpusError(f"data_files override for {corpus.name!r} has no {split!r} split")
        builder, kwargs = _builder_for(data_files[split]), {"data_files": {split: data_files[split]}}
    else:
        builder, kwargs = corpus.hub_path, {"name": corpus.hub_name, "revision": corpus.hub_revision}
        if corpus.hub_data_files:
            kwargs["data_files"] = {split: corpus.hub_data_files[split]}
    try:
        ds = datasets.load_dataset(builder, split=split, **{k: v for k, v in kwargs.items() if v is not None})
    except (ConnectionError, OSError, FileNotFoundError, ValueError) as err:
        raise CorpusError(f"could not load {corpus.name!r} ({builder}, split {split}): {err}. Hub corpora need "
                          "network access (pass --online) or local files (data_files=...).") from err
    return [str(t) for t in ds[corpus.text_field]]


_ENCODED: "OrderedDict[tuple, list[torch.Tensor]]" = OrderedDict()  # a few corpora's token ids, most recent last
_ENCODED_KEEP = 4


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Identifies what a tokenizer does (its serialised fast tokenizer), so two loads of one model share a cache."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else f"object-{id(tokenizer)}"
    return hashlib.sha1(f"{type(tokenizer).__name__}|{text}".encode()).hexdigest()


def encode(tokenizer: Any, text: str) -> torch.Tensor:
    """Token ids of one text as a 1-D tensor (the tokenizer's own special-token handling kept). Built from the
    plain id list: transformers' tensor conversion walks long sequences element by element in Python."""
    return torch.tensor(tokenizer(text).input_ids, dtype=torch.long)


def encoded_documents(tokenizer: Any, key: tuple, docs: list[str]) -> list[torch.Tensor]:
    """`docs` tokenized, memoised for the process under (tokenizer, key): every run of an experiment grid reads the
    same calibration and evaluation splits, and tokenizing them dominated small-model runs."""
    full_key = (tokenizer_fingerprint(tokenizer), *key)
    if full_key in _ENCODED:
        _ENCODED.move_to_end(full_key)
    else:
        _ENCODED[full_key] = [encode(tokenizer, d) for d in docs]
        while len(_ENCODED) > _ENCODED_KEEP:
            _ENCODED.popitem(last=False)
    return _ENCODED[full_key]


def _files_key(data_files: Optional[dict]) -> tuple:
    return tuple(sorted(data_files.items())) if data_files else ()


BOS_MODES = ("every", "first")


def tokenizer_bos(tokenizer: Any) -> Optional[int]:
    """The BOS id the tokenizer puts in front of every text it encodes (Gemma, LLaMA), or None (SmolLM2, Qwen)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return None
    ids = tokenizer("The").input_ids
    return bos if ids and ids[0] == bos else None


def _window_plan(tokenizer: Any, seqlen: int, bos: str) -> tuple[Optional[int], int]:
    """(BOS id to put first in every window or None, number of text tokens per window)."""
    if bos not in BOS_MODES:
        raise ValueError(f"bos must be one of {BOS_MODES}, got {bos!r}")
    first = tokenizer_bos(tokenizer) if bos == "every" else None
    return first, seqlen - 1 if first is not None else seqlen


def _strip(ids: torch.Tensor, bos: Optional[int]) -> torch.Tensor:
    return ids[1:] if bos is not None and len(ids) and int(ids[0]) == bos else ids


def _with_bos(windows: torch.Tensor, bos: Optional[int]) -> torch.Tensor:
    if bos is None:
        return windows
    return torch.cat([torch.full((windows.shape[0], 1), bos, dtype=windows.dtype), windows], dim=1)


def calibration_samples(spec: str, tokenizer: Any, nsamples: int, seqlen: int, seed: int = 0,
                        data_files: Optional[dict] = None, bos: str = "every") -> torch.Tensor:
    """[nsamples, seqlen] token ids drawn with the Wanda/SparseGPT protocol (see module docstring). With
    bos="every", a tokenizer that starts every text with BOS (Gemma) gets BOS + seqlen-1 text tokens per window, so
    every calibration sequence looks like the start of a text, as it does to the model in training; tokenizers
    without such a BOS are unaffected."""
    if nsamples <= 0 or seqlen <= 1:
        raise ValueError(f"need nsamples >= 1 and seqlen >= 2, got {nsamples}, {seqlen}")
    first, width = _window_plan(tokenizer, seqlen, bos)
    corpus = get_corpus(spec)
    docs = corpus.documents("calib", data_files)
    if corpus.calib_join is not None:
        docs = [corpus.calib_join.join(docs)]
    # Small corpora are tokenized up front so a corpus that cannot supply the samples fails with a clear error
    # (the draw order, and so the samples, are the same either way). Large Hub shards are tokenized lazily.
    encoded: dict[int, torch.Tensor] = {}
    if len(docs) <= 20_000:
        encoded = dict(enumerate(encoded_documents(tokenizer, (spec, "calib", _files_key(data_files)), docs)))
        usable = [len(_strip(e, first)) for e in encoded.values() if len(_strip(e, first)) > width]
        if not usable:
            raise CorpusError(f"corpus {spec!r}: no document is longer than seqlen={seqlen} tokens")
        if sum(usable) < nsamples * width:
            raise CorpusError(f"corpus {spec!r} is too short: {sum(usable)} tokens in documents longer than "
                              f"seqlen, but nsamples x seqlen = {nsamples} x {seqlen} = {nsamples * seqlen}")
    rng = random.Random(seed)
    samples, attempts = [], 0
    while len(samples) < nsamples:
        attempts += 1
        if attempts > 1000 * nsamples:
            raise CorpusError(f"corpus {spec!r}: found too few documents longer than seqlen={seqlen}")
        i = rng.randint(0, len(docs) - 1)
        ids = _strip(encoded[i] if i in encoded else encode(tokenizer, docs[i]), first)
        if len(ids) <= width:
            continue
        start = rng.randint(0, len(ids) - width - 1)
        samples.append(ids[start:start + width])
    return _with_bos(torch.stack(samples), first)


def eval_windows(spec: str, tokenizer: Any, seqlen: int, max_windows: Optional[int] = None,
                 data_files: Optional[dict] = None, bos: str = "every") -> torch.Tensor:
    """[n, seqlen] non-overlapping windows of the evaluation split, tokenized once (tail dropped). bos="every": for
    a tokenizer that starts texts with BOS, each window is BOS + the next seqlen-1 tokens of the stream (every window
    is scored as a fresh start, whatever the family); bos="first": the papers' stream, one BOS at its start."""
    first, width = _window_plan(tokenizer, seqlen, bos)
    corpus = get_corpus(spec)
    text = corpus.eval_join.join(corpus.documents("eval", data_files))
    ids = _strip(encoded_documents(tokenizer, (spec, "eval", _files_key(data_files)), [text])[0], first)
    n = ids.numel() // width
    limits = [x for x in (max_windows, corpus.eval_max_windows) if x]
    if limits:
        n = min(n, *limits)
    if n == 0:
        raise CorpusError(f"corpus {spec!r} evaluation split has {ids.numel()} tokens, fewer than seqlen={seqlen}")
    return _with_bos(ids[: n * width].reshape(n, width).clone(), first)  # a copy: the token ids stay cached
