#!/usr/bin/env bash
# The test command (README, CI): sets up .venv and the embedded assets if needed, then runs pytest.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -k engine` or `bash tests/run.sh -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest -q "$@"
