"""The offline zero-shot suite: lm-eval tasks generated from the embedded *evaluation* corpus.

No benchmark data set is reachable offline, so the default scale evaluates zero-shot ability on two tasks built
deterministically (seeded) from the evaluation split of `wiki_vital` (never from a calibration split):
  stade_lastword   LAMBADA-style: a passage of 2-4 sentences whose final word already occurred earlier in the
                   passage (LAMBADA's "inferable from context" idea); predict that word. Metric: acc = the whole
                   word is the greedy continuation (lm-eval `loglikelihood`, `is_greedy`). Chance is ~0.
  stade_nextsent   two consecutive sentences; choose the true next sentence among it and 3 distractors, sentences at
                   the same position in other articles with a similar length. Metric: acc (chance 25%); acc_norm is
                   recorded too.
The files go to the cache (`<cache>/lm_eval_tasks/stade_offline/`), with a manifest (source corpus and split, item
counts, a hash of the items). Paper-scale tasks come from lm-eval's own registry and need the Hub.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Optional

from .data import get_corpus
from .atomic import read_json, write_bytes, write_json
from .paths import cache_dir

SOURCE = ("wiki_vital", "eval")  # (corpus, role): the evaluation split, never the calibration one
OFFLINE_TASKS = ("stade_lastword", "stade_nextsent")
CHANCE = {"stade_lastword": 0.0, "stade_nextsent": 0.25}
SIZES = {"stade_lastword": 600, "stade_nextsent": 1000}  # lastword: all ~590 passages that qualify
# 1,600 items: a paired difference of two pruned models has a standard error near 1.3 points (issue 21)
SEED = 1234
VERSION = 4  # bump when the generator changes: a cached suite of another version is rebuilt
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_WORD = re.compile(r"[A-Za-z]{4,}")


def suite_dir() -> Path:
    return cache_dir() / "lm_eval_tasks" / "stade_offline"


def sentences(text: str) -> list[str]:
    """The leading run of sentences (split on final punctuation followed by a capital) that have 6-45 words;
    stops at the first one outside that range, so a passage is always contiguous text."""
    out = []
    for s in _SENTENCE.split(text):
        if not 6 <= len(s.split()) <= 45:
            break
        out.append(s.strip())
    return out


def lastword_items(docs: list[str], n: int, rng: random.Random) -> list[dict]:
    items = []
    for doc in docs:
        sents = sentences(doc)
        for k in (4, 3, 2):  # the longest passage that qualifies
            if len(sents) < k:
                continue
            passage = " ".join(sents[:k])
            body = passage.rstrip(".!?\"')")
            words = body.split()
            target = words[-1]
            if not _WORD.fullmatch(target) or not re.search(rf"\b{re.escape(target)}\b", " ".join(words[:-1])):
                continue
            # lm-eval scores a loglikelihood target as given: the word boundary is part of the target
            items.append({"context": " ".join(words[:-1]), "target": " " + target})
            break
    rng.shuffle(items)
    return items[:n]


def nextsent_items(docs: list[str], n: int, rng: random.Random, distractors: int = 3) -> list[dict]:
    split = [sentences(d) for d in docs]
    pool = [(i, s[2]) for i, s in enumerate(split) if len(s) >= 3]
    items = []
    for i, sents in enumerate(split):
        if len(sents) < 3:
            continue
        true = sents[2]
        similar = [s for j, s in pool if j != i and 0.7 <= len(s.split()) / len(true.split()) <= 1.4]
        if len(similar) < distractors:
            continue
        choices = rng.sample(similar, distractors) + [true]
        rng.shuffle(choices)
        items.append({"context": f"{sents[0]} {sents[1]}", "choices": choices, "answer": choices.index(true)})
    rng.shuffle(items)
    return items[:n]


_FIELDS = {  # how lm-eval reads our JSONL rows, and what it reports, per output type
    "loglikelihood": ("doc_to_text: context\ndoc_to_target: target\n", ("acc", "mean", "true"),
                      ("perplexity", "perplexity", "false")),
    "multiple_choice": ('doc_to_text: context\ndoc_to_choice: choices\ndoc_to_target: answer\ntarget_delimiter: " "\n',
                        ("acc", "mean", "true"), ("acc_norm", "mean", "true")),
}


def write_task(out: Path, name: str, rows: list[dict], output_type: str) -> str:
    """Write an lm-eval task `name` (YAML + JSONL rows) into `out`; returns the JSONL text.
    loglikelihood rows: {"context", "target"} (the target includes its leading space);
    multiple_choice rows: {"context", "choices", "answer"} (index of the right choice)."""
    fields, *metrics = _FIELDS[output_type]
    data = out / f"{name}.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    write_bytes(data, text.encode())
    metric_list = "".join(f"  - metric: {m}\n    aggregation: {agg}\n    higher_is_better: {better}\n"
                          for m, agg, better in metrics)
    write_bytes(out / f"{name}.yaml", (
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
        f"test_split: test\noutput_type: {output_type}\n{fields}metric_list:\n{metric_list}"
        "metadata:\n  version: 1.0\n").encode())
    return text


def build_suite(out: Optional[Path] = None, force: bool = False, docs: Optional[list[str]] = None) -> dict:
    """Write the two tasks (YAML + JSONL) and a manifest; idempotent unless `force`. Returns the manifest."""
    out = Path(out or suite_dir())
    manifest_path = out / "manifest.json"
    if not force and docs is None:
        manifest = read_json(manifest_path)  # a corrupt one is set aside and the suite rebuilt
        if isinstance(manifest, dict) and manifest.get("version") == VERSION:
            return manifest
    corpus, role = SOURCE
    docs = docs if docs is not None else get_corpus(corpus).documents(role)
    rng = random.Random(SEED)
    items = {"stade_lastword": (lastword_items(docs, SIZES["stade_lastword"], rng), "loglikelihood"),
             "stade_nextsent": (nextsent_items(docs, SIZES["stade_nextsent"], rng), "multiple_choice")}
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"version": VERSION, "source": {"corpus": corpus, "role": role}, "seed": SEED, "tasks": {}}
    for task, (rows, output_type) in items.items():
        if not rows:
            raise ValueError(f"the evaluation corpus yielded no items for {task}")
        text = write_task(out, task, rows, output_type)
        manifest["tasks"][task] = {"items": len(rows), "chance": CHANCE[task],
                                   "sha256": hashlib.sha256(text.encode()).hexdigest()}
    write_json(manifest_path, manifest)  # last, atomically: marks a complete suite
    return manifest
