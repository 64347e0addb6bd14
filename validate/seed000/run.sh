#!/usr/bin/env bash
# Replays every seed 000 case on this machine's GPU; MPS cases run under a daemon of our own,
# which is always stopped. Writes one JSON line per case to stdout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export CUDA_MPS_PIPE_DIRECTORY=/tmp/seed000-mps CUDA_MPS_LOG_DIRECTORY=/tmp/seed000-mps-log
stop_mps() { echo quit | nvidia-cuda-mps-control >/dev/null 2>&1; sleep 1; }
trap stop_mps EXIT
for case in alone timeslice-132 mps-132 mps-132-p50 mps-66 mps-66-p50; do
  if [[ $case == mps-* ]]; then
    mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
    nvidia-cuda-mps-control -d
    sleep 1
  fi
  timeout 200 python3 "$here/replay.py" "$case"
  [[ $case == mps-* ]] && stop_mps
done
