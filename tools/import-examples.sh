#!/usr/bin/env bash
# Regenerates scenarios/imported/ from the traces in tests/data/import/ (run from the repository
# root after `cargo build --release`). Host gaps are scaled to each workload's step time measured
# without the profiler (<name>.unprofiled.json, mean_step_us).
set -euo pipefail
BIN=${BIN:-target/release/simgpu}
mkdir -p scenarios/imported
for gpu in h100 h200; do
  for trace in tests/data/import/$gpu/*.json.gz; do
    name=$(basename "$trace" .json.gz)
    step_us=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mean_step_us'])" \
      "tests/data/import/$gpu/$name.unprofiled.json")
    extra=()
    # The CUDA-graph step launches the same kernels as the eager one: the eager step's Nsight
    # Compute rows serve both.
    ncu="tests/data/import/$gpu/${name/-graph/-eager}.ncu.csv.gz"
    if [ -f "$ncu" ]; then
      extra+=("$ncu")
    fi
    "$BIN" import "$trace" "${extra[@]}" --host-step-us "$step_us" \
      --out "scenarios/imported/$gpu-$name.toml" > "scenarios/imported/$gpu-$name.import.txt"
  done
done
