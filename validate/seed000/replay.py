"""Replays seed 000 (a softmax beside the seed's FMA kernel) on the GPU it runs on.

Uses torch for the softmax (as the forum did) and a cupy RawKernel for the compute kernel.
One case per invocation: `python3 replay.py CASE` where CASE is alone, timeslice-132, mps-132,
mps-132-p50, mps-66, mps-66-p50. The caller starts/stops the MPS daemon for mps-* cases.
Prints one JSON line: per-iteration softmax times (CUDA events) taken while the compute kernel ran.
"""
import json, os, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import FMA  # noqa: E402  (the seed's kernel, one copy)

def compute(blocks, itrs, ready, go):
    import cupy as cp
    k = cp.RawKernel(FMA, 'compute_kernel')
    a = cp.ones(1024, dtype=cp.float32); b = cp.ones(1024, dtype=cp.float32); c = cp.zeros(1024, dtype=cp.float32)
    k((blocks,), (1024,), (a, b, c, cp.int64(1000)))
    cp.cuda.Device().synchronize()
    open(ready, 'w').close()
    while not os.path.exists(go):
        time.sleep(0.001)
    t0 = time.time()
    start, end = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    k((blocks,), (1024,), (a, b, c, cp.int64(itrs)))
    end.record()
    end.synchronize()
    print(json.dumps({"role": "compute", "t0": t0, "t1": time.time(), "kernel_ms": cp.cuda.get_elapsed_time(start, end)}), flush=True)

def softmax(ready, go, iters):
    import torch
    logits = torch.rand([16, 128256]).cuda()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(20):
        logits.softmax(dim=-1, dtype=torch.float32)
    torch.cuda.synchronize()
    open(ready, 'w').close()
    while not os.path.exists(go):
        time.sleep(0.001)
    time.sleep(0.3)
    out = []
    for _ in range(iters):
        w0 = time.time()
        s.record(); logits.softmax(dim=-1, dtype=torch.float32); e.record(); torch.cuda.synchronize()
        out.append((w0, time.time(), s.elapsed_time(e)))
    print(json.dumps({"role": "softmax", "torch": torch.__version__, "iters": out}), flush=True)

def main():
    if sys.argv[1] == "--compute":
        return compute(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    if sys.argv[1] == "--softmax":
        return softmax(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    case = sys.argv[1]
    itrs = int(float(os.environ.get("FMA_ITRS", "2e8")))
    tmp = f"/tmp/seed000-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    go = f"{tmp}/go"
    procs = [subprocess.Popen([sys.executable, __file__, "--softmax", f"{tmp}/r0", go, "60"], stdout=subprocess.PIPE)]
    readies = [f"{tmp}/r0"]
    if case != "alone":
        blocks = 132 if "132" in case else 66
        env = dict(os.environ)
        if case.endswith("-p50"):
            env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = "50"
        procs.append(subprocess.Popen([sys.executable, __file__, "--compute", str(blocks), str(itrs), f"{tmp}/r1", go], stdout=subprocess.PIPE, env=env))
        readies.append(f"{tmp}/r1")
    t_end = time.time() + 120
    while not all(os.path.exists(r) for r in readies) and time.time() < t_end:
        time.sleep(0.01)
    open(go, "w").close()
    res = {}
    for p in procs:
        out, _ = p.communicate(timeout=300)
        for line in out.decode().splitlines():
            d = json.loads(line); res[d["role"]] = d
    sm = res.get("softmax", {}); comp = res.get("compute")
    its = sm.get("iters", [])
    during = [ms for (w0, w1, ms) in its if comp is None or (w1 <= comp["t1"])]
    during.sort()
    def pct(v, q):
        return v[min(len(v) - 1, int(q * len(v)))] if v else None
    print(json.dumps({"case": case, "torch": sm.get("torch"), "n_during": len(during), "softmax_ms_p50": pct(during, 0.5),
                      "softmax_ms_p90": pct(during, 0.9), "compute_kernel_ms": comp and comp["kernel_ms"], "all_ms": [round(x[2], 4) for x in its]}))

if __name__ == "__main__":
    main()
