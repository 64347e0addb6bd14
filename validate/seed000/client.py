#!/usr/bin/env python3
"""Seed 000's two clients for `simgpu validate run` (docs/validate.md, the line protocol):

    python3 client.py softmax               torch softmax over [16, 128256] fp32, each step timed
                                            with CUDA events (as in the forum thread)
    python3 client.py compute BLOCKS ITERS  the seed's FMA kernel (cupy RawKernel, 1024 threads per
                                            block), one launch per step, host-timed with a sync

Each warms up, prints `simgpu ready`, waits for `go`, runs steps for $SIMGPU_SECONDS and prints
`simgpu result {...}` (p50_us, p90_us, p99_us, throughput_per_s, samples).
"""
import json
import os
import sys
import time

FMA = r'''
extern "C" __global__ void compute_kernel(float *a, float *b, float *c, long long num_itrs)
{
    float op1 = a[threadIdx.x];
    float op2 = b[threadIdx.x];
    float op3 = 1.0f, op4 = 1.0f, op5 = 1.0f, op6 = 1.0f;
    for (long long i = 0; i < num_itrs; i++) {
        op3 = __fmaf_rn(op1, op2, op3);
        op4 = __fmaf_rn(op1, op2, op4);
        op5 = __fmaf_rn(op1, op2, op5);
        op6 = __fmaf_rn(op1, op2, op6);
    }
    c[threadIdx.x] = op3 + op4 + op5 + op6;
}
'''


def protocol(warm, step):
    """warm() once; `simgpu ready`; `go`; step() -> microseconds, for the window; the result."""
    warm()
    print("simgpu ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("expected `go`")
    seconds = float(os.environ.get("SIMGPU_SECONDS", "5"))
    times = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        times.append(step())
    elapsed = time.perf_counter() - t0
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    out = {"samples": len(times), "p50_us": pick(0.5), "p90_us": pick(0.9), "p99_us": pick(0.99),
           "throughput_per_s": len(times) / elapsed}
    print("simgpu result " + json.dumps(out), flush=True)


def softmax():
    import torch
    logits = torch.rand([16, 128256]).cuda()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def warm():
        for _ in range(20):
            logits.softmax(dim=-1, dtype=torch.float32)
        torch.cuda.synchronize()

    def step():
        s.record()
        logits.softmax(dim=-1, dtype=torch.float32)
        e.record()
        torch.cuda.synchronize()
        return s.elapsed_time(e) * 1000.0

    protocol(warm, step)


def compute(blocks, itrs):
    import cupy as cp
    k = cp.RawKernel(FMA, "compute_kernel")
    a, b = cp.ones(1024, dtype=cp.float32), cp.ones(1024, dtype=cp.float32)
    c = cp.zeros(1024, dtype=cp.float32)

    def warm():
        k((blocks,), (1024,), (a, b, c, cp.int64(1000)))
        cp.cuda.Device().synchronize()

    def step():
        t0 = time.perf_counter()
        k((blocks,), (1024,), (a, b, c, cp.int64(itrs)))
        cp.cuda.Device().synchronize()
        return (time.perf_counter() - t0) * 1e6

    protocol(warm, step)


if __name__ == "__main__":
    if sys.argv[1] == "softmax":
        softmax()
    elif sys.argv[1] == "compute":
        compute(int(sys.argv[2]), int(float(sys.argv[3])))
    else:
        sys.exit(f"unknown client {sys.argv[1]!r}")
