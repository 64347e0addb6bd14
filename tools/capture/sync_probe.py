#!/usr/bin/env python3
"""What a host-side read of a device value costs eager PyTorch, the GPU already idle.

`.item()`, `int(tensor)` and `torch.nonzero` copy a value to the host and wait for it. The
simulator already models the wait for the GPU (a kernel marked `sync`); this is the host time
on top, after the GPU has finished: the copy's launch, the stream wait and the return to Python.
Each sample: one tiny kernel, `torch.cuda.synchronize()` so the GPU is idle, then the timed
read. Also times a `torch.nonzero` of 128 flags the same way (its kernels, its count copied
back, the result's allocation). Prints one JSON line of medians and quartiles.
Usage: python3 sync_probe.py [samples]
"""
import json, statistics, sys, time

import torch

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
x = torch.zeros(4096, device="cuda")
flags = torch.zeros(128, device="cuda", dtype=torch.bool)
flags[::16] = True


def sample(read):
    out = []
    for _ in range(n):
        x.add_(1.0)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        read()
        t1 = time.perf_counter()
        out.append((t1 - t0) * 1e6)
    return out


def launch_only():
    # A launch with no read: what the framework spends per kernel, for scale.
    x.add_(1.0)


def q(v):
    v = sorted(v)
    return {"median": statistics.median(v), "p25": v[len(v) // 4], "p75": v[3 * len(v) // 4]}


for _ in range(3):  # warm the allocator and the kernels
    sample(lambda: x[0].item())
    sample(lambda: torch.nonzero(flags))
item = sample(lambda: x[0].item())
nz = sample(lambda: torch.nonzero(flags))
launch = sample(launch_only)
print(json.dumps({
    "gpu": torch.cuda.get_device_name(),
    "torch": torch.__version__,
    "samples": n,
    "item_us": q(item),
    "nonzero_128_us": q(nz),
    "launch_only_us": q(launch),
}))
