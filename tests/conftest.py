"""Shared fixtures: tiny random models (Llama- and OPT-style, 2 blocks, hidden 64), a byte-level tokenizer and a
small synthetic English-like corpus, all built in the test process. Nothing touches the network."""
from __future__ import annotations

import os
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest

from methods.assets import embedded_available
from methods.models import byte_tokenizer
from methods.random_models import random_model

WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when if so no will more can who out some "
         "river city music theory model layer weight input mean variance signal pruning history science king war "
         "language north south early later great small large number system water light north people").split()

requires_embedded = pytest.mark.skipif(not embedded_available(),
                                       reason="embedded model/corpora not installed (run `python -m methods setup`)")


def make_text(n_docs: int = 12, words: tuple[int, int] = (150, 400), seed: int = 0) -> str:
    """Deterministic pseudo-English documents separated by blank lines."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        n = rng.randint(*words)
        sentence = [rng.choice(WORDS) for _ in range(n)]
        docs.append(" ".join(sentence).capitalize() + ".")
    return "\n\n".join(docs)




def tiny_llama(seed: int = 0, layers: int = 2):
    return random_model("llama", seed, layers)


def tiny_opt(seed: int = 0):
    return random_model("opt", seed)


@pytest.fixture(scope="session")
def tokenizer():
    return byte_tokenizer()


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(make_text())
    return path


def _save(model, tokenizer, path):
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session", params=["llama", "opt"])
def model_dir(request, tmp_path_factory, tokenizer):
    """A saved tiny model directory (loaded through the same path as any local Hugging Face model)."""
    builder = {"llama": tiny_llama, "opt": tiny_opt}[request.param]
    return _save(builder(), tokenizer, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory, tokenizer):
    return _save(tiny_llama(), tokenizer, tmp_path_factory.mktemp("llama_only"))
