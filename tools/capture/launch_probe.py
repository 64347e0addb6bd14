"""A launch-bound stream: steps of N tiny kernels (eager, one stream), timed by the host.

Prints one JSON line: per step, the host's enqueue time (launch calls only), and the step's wall
time to completion (enqueue plus the wait for the last kernel); medians and quartiles over the
steps, and the GPU-side time of one step from CUDA events. Run it with and without an MPS daemon
(tools/capture/mps_launch.sh) to see what the MPS launch path costs. Usage:
python3 launch_probe.py LABEL [kernels per step] [steps]
"""
import json, statistics, sys, time

import torch

label = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 400
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 300
x = torch.zeros(4096, device="cuda")


def step():
    for _ in range(n):
        x.add_(1.0)


for _ in range(20):
    step()
torch.cuda.synchronize()
enq, wall = [], []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    enq.append((t1 - t0) * 1e6)
    wall.append((t2 - t0) * 1e6)
a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
gpu = []
for _ in range(20):
    a.record()
    step()
    b.record()
    torch.cuda.synchronize()
    gpu.append(a.elapsed_time(b) * 1e3)


def q(v):
    s = sorted(v)
    return {"p25": s[len(s) // 4], "p50": statistics.median(s), "p75": s[3 * len(s) // 4]}


print(json.dumps({"label": label, "kernels_per_step": n, "steps": steps, "enqueue_us": q(enq), "step_us": q(wall),
                  "gpu_step_us": q(gpu), "per_kernel_enqueue_us": statistics.median(enq) / n,
                  "per_kernel_step_us": statistics.median(wall) / n}))
