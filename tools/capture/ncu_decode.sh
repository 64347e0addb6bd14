#!/usr/bin/env bash
# Nsight Compute metrics for ONE eager decode step of the Qwen2.5-7B-shaped model
# at batch 1 (workload qwen7b-decode-b1-eager of torch_traces.py).
#
# Usage (from the repository root, on the GPU machine):
#
#     bash tools/capture/ncu_decode.sh traces/
#
# which runs, in effect:
#
#     ncu --csv --page raw --print-units base \
#         --metrics dram__bytes_read.sum,dram__bytes_write.sum,... \
#         --target-processes all --profile-from-start off \
#         --log-file traces/qwen7b-decode-b1-eager.ncu.log \
#         python3 tools/capture/torch_traces.py --ncu-step qwen7b-decode-b1-eager
#     grep '^"' traces/qwen7b-decode-b1-eager.ncu.log > traces/qwen7b-decode-b1-eager.ncu.csv
#
# torch_traces.py --ncu-step builds the model, runs warm-up steps with the
# profiler range closed, and brackets exactly one step with
# cudaProfilerStart/Stop; --profile-from-start off makes ncu measure only the
# kernels inside that bracket (weight initialisation and warm-up are skipped).
#
# Output: DIR/qwen7b-decode-b1-eager.ncu.csv, one row per kernel (the first two
# rows are the column names and their units; --print-units base keeps every
# value in bytes / ns / instructions instead of auto-scaled KB/MB/us).
# DIR/qwen7b-decode-b1-eager.ncu.log keeps ncu's full output, ==PROF== lines included.
#
# Notes:
#  - ncu replays every kernel once per metric pass, so one decode step (over a
#    thousand kernels) takes a few minutes.
#  - ncu locks clocks to base by default (--clock-control base), so
#    gpu__time_duration.sum is at base clock, not boost; set
#    NCU_EXTRA="--clock-control none" to measure at the running clocks.
#  - ERR_NVGPUCTRPERM means performance counters are restricted to admin users:
#    run as root, or with the driver option NVreg_RestrictProfilingToAdminUsers=0.
set -euo pipefail

OUT_DIR=${1:?usage: $0 OUT_DIR [WORKLOAD]}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${2:-qwen7b-decode-b1-eager}
NCU=${NCU:-ncu}
PYTHON=${PYTHON:-python3}

METRICS=dram__bytes_read.sum,dram__bytes_write.sum,smsp__inst_executed.sum
METRICS+=,launch__grid_size,launch__block_size,launch__registers_per_thread
METRICS+=,launch__shared_mem_per_block_static,launch__shared_mem_per_block_dynamic
METRICS+=,gpu__time_duration.sum,sm__sass_thread_inst_executed_op_ffma_pred_on.sum

mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/$NAME.ncu.log"
CSV="$OUT_DIR/$NAME.ncu.csv"

# Application replay (the step is re-run once per metric pass) profiles every kernel of a step;
# kernel replay stopped with an error after 921 of the decode step's 1250 on the H100.
# shellcheck disable=SC2086  # NCU_EXTRA is a list of flags
"$NCU" --csv --page raw --print-units base \
    --metrics "$METRICS" \
    --target-processes all \
    --profile-from-start off \
    --replay-mode application ${NCU_EXTRA:-} \
    --log-file "$LOG" \
    "$PYTHON" "$HERE/torch_traces.py" --ncu-step "$NAME"

# The log mixes ==PROF==/==WARNING== lines with the report; every CSV line is quoted.
grep '^"' "$LOG" > "$CSV" || true
ROWS=$(($(wc -l < "$CSV") - 2))
if [ "$ROWS" -le 0 ]; then
    echo "no kernel rows in $CSV; see $LOG" >&2
    exit 1
fi
echo "$CSV: $ROWS kernels"
