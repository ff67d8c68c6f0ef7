#!/usr/bin/env bash
# Set up everything and reproduce every table and figure on the chosen scale.
#   bash run_all.sh                    # default scale: embedded SmolLM2-135M (+ a smoke cell on Gemma-3 and Qwen2.5), < 2 h
#   bash run_all.sh --scale full       # every grid point, 5 seeds, three families: many CPU hours (README time table)
#   bash run_all.sh --scale tiny       # minutes: every script on a tiny random model (plumbing, determinism)
#   bash run_all.sh --scale paper      # the papers' models and data: needs a GPU and Hugging Face Hub access
#   bash run_all.sh --only main_perplexity,zero_shot     # some stages (also: theory, analysis, and the optional
#                                                        # benchmarks peer_benchmark, reproducibility, fresh_clone)
#   bash run_all.sh --add-method ria   # a new baseline beside Wanda (Wanda-sp) in every experiment's grid
# The stages are the experiments of experiments/specs.py, in order, then the theory checks and the analysis. Every
# stage is resumable: rerunning skips the result rows that already exist, so an interrupted run is finished by running
# the same command again. $STADE_RESULTS_DIR moves results/ elsewhere.
set -euo pipefail
cd "$(dirname "$0")"
SCALE=default
ONLY=""
ADD_METHOD=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="${2:-}"; shift 2 ;;
    --only) ONLY="${2:-}"; shift 2 ;;
    --add-method) ADD_METHOD="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "error: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$SCALE" in tiny|default|full|paper) ;; *) echo "error: --scale must be tiny, default, full or paper" >&2; exit 2 ;; esac
SPECS="python3 experiments/specs.py"  # pure Python: runs before the virtual environment exists
read -r -a EXPERIMENTS <<< "$($SPECS stages --scale "$SCALE")"
read -r -a OPTIONAL <<< "$($SPECS optional --scale "$SCALE")"  # benchmarks run only when named with --only
KNOWN="${EXPERIMENTS[*]} ${OPTIONAL[*]-} theory analysis"
IFS=, read -r -a ONLY_LIST <<< "$ONLY"
for name in ${ONLY_LIST[@]+"${ONLY_LIST[@]}"}; do
  case " $KNOWN " in *" $name "*) ;;
    *) echo "error: no stage named '$name'; stages: $KNOWN" >&2; exit 2 ;; esac
done
selected() { [ -z "$ONLY" ] || case ",$ONLY," in *",$1,"*) true ;; *) false ;; esac; }
stages=()
for e in "${EXPERIMENTS[@]}"; do
  if selected "$e"; then stages+=("$e"); fi
done
for e in ${OPTIONAL[@]+"${OPTIONAL[@]}"}; do
  if [ -n "$ONLY" ] && selected "$e"; then stages+=("$e"); fi
done
EXTRA=()
if [ "$SCALE" = paper ]; then
  cat <<'MSG'
Paper scale runs the papers' models (LLaMA-7B, Llama-2-7B, OPT-125M, Qwen3-1.7B, ...) with 128 x 2048 C4
calibration tokens and the full WikiText-2 test set, in float16. It needs: a CUDA GPU with >= 40 GB for 7B
models, Hugging Face Hub access (and accepted licences for gated models), ~100 GB of disk for weights, and
several GPU-hours. Hub downloads are switched on (--online).
MSG
  EXTRA=(--online)
fi
if [ -n "$ADD_METHOD" ]; then EXTRA+=(--add-method "$ADD_METHOD"); fi

START=$(date +%s)
bash scripts/setup_env.sh "$($SPECS models --scale "$SCALE")"
export TOKENIZERS_PARALLELISM=false
PY=.venv/bin/python
if [ -n "$ADD_METHOD" ]; then  # an unknown name stops here, before any stage runs
  $PY - "$ADD_METHOD" <<'CHECK' || exit 2
import sys
import methods
try:
    [methods.METHODS[name] for name in sys.argv[1].split(",")]
except KeyError as err:
    sys.exit(f"error: --add-method: {err.args[0]}")
CHECK
fi
RESULTS=${STADE_RESULTS_DIR:-results}  # tests point this at a temporary folder
case "$SCALE" in tiny|full) OUT_DIR=$RESULTS/$SCALE ;; *) OUT_DIR=$RESULTS ;; esac  # as experiments/common.py
mkdir -p "$OUT_DIR"
TIMES="$OUT_DIR/run_all_times_$SCALE.json"  # longest wall time per stage, for the estimate below
$PY scripts/stage_times.py record "$TIMES" setup $(( $(date +%s) - START ))
if selected theory && [ "$SCALE" != full ]; then stages+=(theory); fi  # timed and estimated like an experiment
i=0
for stage in ${stages[@]+"${stages[@]}"}; do
  i=$((i + 1))
  t0=$(date +%s)
  left=$($PY scripts/stage_times.py eta "$TIMES" "${stages[@]:$((i - 1))}")
  echo "=== [$i/${#stages[@]}] $stage (scale $SCALE; $((t0 - START))s elapsed, $left) ==="
  if [ "$stage" = theory ]; then  # numerical checks of the STADE derivations; synthetic layers are scale-free
    for check in theory/check_*.py; do
      (cd theory && ../$PY "$(basename "$check")" --scale "$SCALE")
    done
  else
    (cd experiments && ../$PY "$stage.py" --scale "$SCALE" --no-progress ${EXTRA[@]+"${EXTRA[@]}"})
  fi
  $PY scripts/stage_times.py record "$TIMES" "$stage" $(( $(date +%s) - t0 ))
done
if [ "$SCALE" != tiny ] && selected analysis; then
  ANALYSIS_SCALE=default; [ "$SCALE" = full ] && ANALYSIS_SCALE=full
  echo "=== analysis: tables and figures from $OUT_DIR/ ==="
  STADE_ANALYSIS_SCALE=$ANALYSIS_SCALE $PY analysis/run.py
fi
echo "=== done in $(( $(date +%s) - START ))s; results in $OUT_DIR/ ==="
