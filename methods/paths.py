"""Where the project keeps what it builds: the cache of offline assets ($STADE_CACHE_DIR, default
~/.cache/stade-replication) and, inside it, the corpora, models, generated calibration sets and zero-shot suite.
Everything else imports its locations from here (the bottom of the import graph)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("STADE_CACHE_DIR", Path.home() / ".cache" / "stade-replication"))


def corpus_dir(name: str) -> Path:
    return cache_dir() / "corpora" / name


def models_dir() -> Path:
    return cache_dir() / "models"


def downloads_dir() -> Path:
    return cache_dir() / "downloads"
