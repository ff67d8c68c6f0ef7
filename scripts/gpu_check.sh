#!/usr/bin/env bash
# The GPU check of issue 20 (scripts/gpu_check.py): pruning time at LLaMA-2-7B shapes, --offload on the same model,
# a 2:4 GEMM micro-benchmark; rows to results/gpu_*.jsonl. Needs no network; < 8 minutes on one H100/H200.
#   bash scripts/gpu_check.sh            # on a CUDA machine (uses .venv if there, else python3 with torch+CUDA)
#   bash scripts/gpu_check.sh --smoke    # tiny shapes on any device: the code path only (the tests run this)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
PY=python3
# The project's .venv when it has torch (gpu_check.py itself refuses a machine without CUDA, in one line).
if [ -x .venv/bin/python ] && .venv/bin/python -c "import torch" 2>/dev/null; then
  PY=.venv/bin/python
fi
exec timeout "${GPU_CHECK_TIMEOUT:-480}" "$PY" scripts/gpu_check.py "$@"
