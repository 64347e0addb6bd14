#!/usr/bin/env python3
"""One client of `simgpu validate run` (docs/validate.md, the line protocol): builds one of
tools/capture/torch_traces.py's workloads (random bf16 weights, no network), warms it up, prints
`simgpu ready`, waits for `go` on stdin, times steps for $SIMGPU_SECONDS (a synchronize on both
sides of each step, as the traces' unprofiled step times are taken) and prints
`simgpu result {...}` with p50_us, p90_us, mean_us, throughput_per_s and samples.

    python3 step_client.py WORKLOAD          (run by simgpu, from the experiment's directory)
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(name, seconds, ready, wait_go):
    """Builds and warms up `name`, calls ready(), wait_go(), then times steps for `seconds`."""
    sys.path.insert(0, os.path.join(ROOT, "tools", "capture"))
    import torch
    import torch_traces as tt
    with torch.inference_mode():
        device = torch.device("cuda")
        models = tt.Models(device, torch.bfloat16, tiny=False)
        step = tt.build_step(models, name)
        for _ in range(tt.WARMUP_STEPS):
            step()
        tt.sync(device)
        ready()
        wait_go()
        times = []
        t_start = time.perf_counter()
        t_end = t_start + seconds
        while time.perf_counter() < t_end:
            tt.sync(device)
            t0 = time.perf_counter()
            step()
            tt.sync(device)
            times.append((time.perf_counter() - t0) * 1e6)
        elapsed = time.perf_counter() - t_start
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    return {"client": name, "steps": len(times), "mean_us": sum(times) / len(times), "p50_us": pick(0.5),
            "p90_us": pick(0.9), "seconds": elapsed, "torch": torch.__version__}


def main():
    name = sys.argv[1]
    seconds = float(os.environ.get("SIMGPU_SECONDS", "5"))

    def ready():
        print("simgpu ready", flush=True)

    def wait_go():
        line = sys.stdin.readline().strip()
        if line != "go":
            sys.exit(f"expected `go`, got {line!r}")

    r = measure(name, seconds, ready, wait_go)
    out = {"samples": r["steps"], "p50_us": r["p50_us"], "p90_us": r["p90_us"], "mean_us": r["mean_us"],
           "throughput_per_s": r["steps"] / r["seconds"]}
    print("simgpu result " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
