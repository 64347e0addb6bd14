#!/usr/bin/env python3
"""Summarise one profiled step of a torch_traces.py Chrome trace, small enough to keep.

For the first ProfilerStep in the trace: its host wall time, the GPU span (first kernel start to
last kernel end), and per (launching aten op, kernel, grid, block) the launches and their total
GPU time. Kernels are tied to the op that launched them through the profiler's External id.
The whole trace of a mixture-of-experts step is too big to bring back from the GPU machine;
this is what the generator is compared with (docs/workloads.md).

Usage: python3 trace_summary.py TRACE.json > TRACE.summary.json
"""
import collections, json, re, sys


def short(name):
    # Template arguments and parameter lists make names unreadable and unique per dtype.
    name = re.sub(r"\(.*", "", name.replace("(anonymous namespace)", "anon"))
    depth, out = 0, []
    for ch in name:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out).replace("void ", "").strip()


def main():
    ev = json.load(open(sys.argv[1]))["traceEvents"]
    steps = sorted((e for e in ev if e.get("cat") == "user_annotation" and e["name"].startswith("ProfilerStep")),
                   key=lambda e: e["ts"])
    step = steps[0]
    t0, t1 = step["ts"], step["ts"] + step["dur"]
    # Innermost aten op per External id (the op whose launch the kernel carries).
    ops = {}
    for e in ev:
        if e.get("cat") == "cpu_op" and t0 <= e["ts"] <= t1:
            eid = e.get("args", {}).get("External id")
            if eid is not None:
                ops[eid] = e["name"]
    # Kernels launched inside the step: their runtime call lies in the step's host span.
    launched = {e["args"]["correlation"] for e in ev
                if e.get("cat") in ("cuda_runtime", "cuda_driver") and t0 <= e["ts"] <= t1
                and "correlation" in e.get("args", {})}
    kernels = [e for e in ev if e.get("cat") in ("kernel", "gpu_memset", "gpu_memcpy")
               and e.get("args", {}).get("correlation") in launched]
    kernels.sort(key=lambda e: e["ts"])
    rows = collections.OrderedDict()
    for k in kernels:
        a = k.get("args", {})
        key = (ops.get(a.get("External id"), "?"), k["cat"], short(k["name"]),
               str(a.get("grid")), str(a.get("block")))
        r = rows.setdefault(key, [0, 0.0])
        r[0] += 1
        r[1] += k["dur"]
    syncs = sum(1 for e in ev if e.get("cat") == "cuda_runtime" and t0 <= e["ts"] <= t1
                and re.search(r"Synchronize|cudaMemcpy(?!Async)|StreamSynchronize", e["name"]))
    memcpys = sum(1 for e in ev if e.get("cat") == "cuda_runtime" and t0 <= e["ts"] <= t1 and "Memcpy" in e["name"])
    out = {
        "trace": sys.argv[1].rsplit("/", 1)[-1],
        "step": step["name"],
        "host_step_us": step["dur"],
        "gpu_span_us": (kernels[-1]["ts"] + kernels[-1]["dur"] - kernels[0]["ts"]) if kernels else 0.0,
        "gpu_busy_us": sum(k["dur"] for k in kernels),
        "launches": len(kernels),
        "kernel_launches": sum(1 for k in kernels if k["cat"] == "kernel"),
        "memcpy_calls": memcpys,
        "sync_calls": syncs,
        "rows": [{"op": k[0], "cat": k[1], "kernel": k[2], "grid": k[3], "block": k[4],
                  "launches": v[0], "total_us": round(v[1], 3)} for k, v in rows.items()],
    }
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
