#!/usr/bin/env python3
"""cuBLASLt's choices for F.linear over transformer shapes: which kernel, grid, block, registers
and shared memory, and how long it runs, for M from 1 to 16384 and (N, K) of the projections of
the models in models/workloads/. Judges simgpu-workloads' GEMM rule (workloads/src/kernels.rs)
on shapes it was not read from, and feeds the GEMM-efficiency calibration.

Runs on a GPU machine with torch (no network):

    python3 tools/capture/gemm_sweep.py --out gemm-sweep.jsonl

One JSON object per line: m, n, k, dtype, the host time per call, and the kernels of one call
(name, grid, block, registers, shared memory) with the median device time of each over --reps
calls, L2-cold (flushed before each call) and L2-warm.
"""

import argparse
import json
import sys
import time
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

# (N, K) of q/k/o, gate/up and down projections and LM heads of the bundled configs.
NK = [
    (3584, 3584), (512, 3584), (18944, 3584), (3584, 18944),   # Qwen2.5-7B
    (4096, 4096), (1024, 4096), (14336, 4096), (4096, 14336),  # Llama-3.1-8B
    (2048, 2048), (512, 2048), (8192, 2048), (2048, 8192),     # Llama-3.2-1B
    (896, 896), (128, 896), (4864, 896), (896, 4864),          # Qwen2.5-0.5B
    (1024, 1024), (4096, 1024), (1024, 4096),                  # e5-large-v2
    (152064, 3584), (128256, 2048),                            # LM heads
]
L2_TIMES = 4
MS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]


def trace_kernels(body, tmp):
    """Every kernel `body` launches, in order, with grid, block, registers, shared memory and
    device duration, read from the profiler's Chrome trace."""
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        body()
        torch.cuda.synchronize()
    prof.export_chrome_trace(tmp)
    with open(tmp) as f:
        ev = json.load(f)["traceEvents"]
    out = []
    for e in sorted((e for e in ev if e.get("cat") == "kernel"), key=lambda e: e["ts"]):
        a = e.get("args", {})
        out.append({"name": e["name"], "grid": a.get("grid"), "block": a.get("block"),
                    "regs": a.get("registers per thread"), "smem": a.get("shared memory"),
                    "us": e.get("dur")})
    return out


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def measured(fn, flush, flush_names, reps, tmp):
    """The kernels of one call, with the median device time of each over `reps` calls, once with
    L2 flushed before every call (weights come from HBM, as in a model step that reads each
    weight once) and once L2-warm; and the host time per call while the GPU keeps up."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    host = (time.perf_counter() - t0) * 1e6 / reps
    torch.cuda.synchronize()

    def runs(cold):
        def body():
            for _ in range(reps):
                if cold:
                    flush()
                fn()
        ks = [k for k in trace_kernels(body, tmp) if k["name"] not in flush_names]
        per = len(ks) // reps
        if per == 0 or per * reps != len(ks):
            raise RuntimeError(f"{len(ks)} kernels over {reps} calls")
        return ks[:per], [median([ks[i * per + j]["us"] for i in range(reps)]) for j in range(per)]

    kernels, cold = runs(True)
    _, warm = runs(False)
    for k, c, w in zip(kernels, cold, warm):
        k["cold_us"], k["warm_us"] = c, w
        del k["us"]
    return kernels, host


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--max-bytes", type=float, default=4e9, help="skip shapes whose operands exceed this")
    args = ap.parse_args()
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    # What one process's CUDA context takes before any tensor of its own: device memory in use
    # (the card runs nothing else) less what torch's allocator holds, after cuBLAS has run once.
    x = torch.randn(64, 64, device=dev, dtype=torch.bfloat16)
    float((x @ x).sum())
    free, total = torch.cuda.mem_get_info()
    context = total - free - torch.cuda.memory_reserved()
    del x
    meta = {"gpu": props.name, "sms": props.multi_processor_count, "torch": torch.__version__,
            "cuda": torch.version.cuda, "total_bytes": total, "context_bytes": context}
    tmp = args.out + ".trace.tmp.json"
    # Reading a buffer four times L2's size evicts the weights and leaves clean lines (a fill_
    # left dirty ones, whose write-back slowed the GEMM by ~2 us); its own kernels are left out.
    scratch = torch.ones(int(L2_TIMES * props.L2_cache_size) // 4, device=dev, dtype=torch.float32)
    total = torch.empty((), device=dev, dtype=torch.float32)
    flush = lambda: torch.sum(scratch, dim=0, out=total)
    flush_names = {k["name"] for k in trace_kernels(flush, tmp)}
    meta["l2_bytes"] = props.L2_cache_size
    with open(args.out, "w") as out:
        out.write(json.dumps({"meta": meta}) + "\n")
        for n, k in NK:
            w = torch.randn(n, k, device=dev, dtype=torch.bfloat16) * 0.02
            w8 = w.to(torch.float8_e4m3fn) if hasattr(torch, "float8_e4m3fn") else None
            for m in MS:
                if (m * k + n * k + m * n) * 2 > args.max_bytes:
                    continue
                x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
                cases = [("bf16", lambda: F.linear(x, w))]
                if w8 is not None and m % 16 == 0 and n % 16 == 0 and k % 16 == 0:
                    x8 = x.to(torch.float8_e4m3fn)
                    one = torch.ones((), device=dev, dtype=torch.float32)
                    cases.append(("fp8", lambda: torch._scaled_mm(x8, w8.t(), scale_a=one, scale_b=one,
                                                                  out_dtype=torch.bfloat16)))
                for dtype, fn in cases:
                    try:
                        ks, host_us = measured(fn, flush, flush_names, args.reps, tmp)
                    except Exception as e:  # an fp8 shape cuBLASLt refuses
                        out.write(json.dumps({"m": m, "n": n, "k": k, "dtype": dtype, "error": str(e)[:200]}) + "\n")
                        continue
                    out.write(json.dumps({"m": m, "n": n, "k": k, "dtype": dtype,
                                          "host_us_per_call": round(host_us, 3),
                                          "kernels": ks}) + "\n")
                out.flush()
                del x
            del w, w8
            torch.cuda.empty_cache()
            print(f"n={n} k={k} done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
