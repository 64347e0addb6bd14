#!/usr/bin/env bash
# The MPS launch path: a launch-bound stream (tools/capture/launch_probe.py) alternately without
# and with an MPS daemon, ROUNDS times, each in a fresh process. One JSON line per run on stdout.
# The daemon runs in its own directories and is always stopped, Ctrl-C included.
set -u
ROUNDS=${1:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
export CUDA_MPS_PIPE_DIRECTORY=$(mktemp -d /tmp/mps-pipe.XXXX) CUDA_MPS_LOG_DIRECTORY=$(mktemp -d /tmp/mps-log.XXXX)
stop() { echo quit | nvidia-cuda-mps-control >/dev/null 2>&1 || true; }
trap stop EXIT INT TERM
for r in $(seq "$ROUNDS"); do
  python3 "$HERE/launch_probe.py" "plain-$r"
  nvidia-cuda-mps-control -d
  python3 "$HERE/launch_probe.py" "mps-$r"
  stop
  sleep 1
done
