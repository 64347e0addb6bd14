#!/usr/bin/env python3
"""Runs two of the import issue's traced workloads side by side on the GPU it runs on, alone,
time-sliced and under MPS (uncapped and with thread percentages), and writes one
`simgpu validate` record line per case (docs/validate.md).

The workloads are tools/capture/torch_traces.py's (random bf16 weights, no network): by default
qwen7b-decode-b1-eager (launch-bound, hundreds of small kernels per step) beside
bge-base-b64-s256 (an encoder batch). Each client is a process of its own: it builds its model,
warms up, says ready, and on `go` times steps for --seconds (a synchronize on both sides of each
step, as the traces' unprofiled step times are taken). MPS cases run under a control daemon in
directories of their own, always stopped (Ctrl-C included); time-sliced cases run with no daemon.

    python3 validate/pairs/run_pairs.py --out validate/records/pairs-h200-DATE.jsonl

This script wrote the first pairs record; `simgpu validate run validate/experiments/pairs-h200.toml`
runs the same cases with the same clients (validate/pairs/step_client.py) and is the way now.
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
A, B = "qwen7b-decode-b1-eager", "bge-base-b64-s256"
# (case, sharing, thread percentage of A, of B); None: no percentage set. Alone cases run one client.
CASES = [
    ("alone-decode", "dedicated", None, None),
    ("alone-bge", "dedicated", None, None),
    ("timeslice", "timeslice", None, None),
    ("mps", "mps", None, None),
    ("mps-50-50", "mps", 50, 50),
    ("mps-25-75", "mps", 25, 75),
    ("mps-75-25", "mps", 75, 25),
]


def worker(name, ready, go, seconds):
    sys.path.insert(0, HERE)
    from step_client import measure

    def wait_go():
        while not os.path.exists(go):
            time.sleep(0.001)

    r = measure(name, seconds, lambda: open(ready, "w").close(), wait_go)
    print(json.dumps(r), flush=True)


def smi(field):
    out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip().splitlines()[0].strip()


class Mps:
    """An MPS control daemon in directories of its own; `stop` is idempotent."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pairs-mps-")
        self.env = dict(os.environ, CUDA_MPS_PIPE_DIRECTORY=f"{self.dir}/pipe",
                        CUDA_MPS_LOG_DIRECTORY=f"{self.dir}/log")
        os.makedirs(f"{self.dir}/pipe"); os.makedirs(f"{self.dir}/log")
        subprocess.run(["nvidia-cuda-mps-control", "-d"], env=self.env, check=True, timeout=30)
        self.running = True

    def stop(self):
        if self.running:
            subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True, env=self.env, timeout=30)
            self.running = False
            time.sleep(1)


def run_case(case, sharing, pa, pb, seconds):
    clients = [A] if case == "alone-decode" else [B] if case == "alone-bge" else [A, B]
    pct = {A: pa, B: pb}
    mps = Mps() if sharing == "mps" else None
    procs = []
    tmp = tempfile.mkdtemp(prefix="pairs-")
    try:
        go = f"{tmp}/go"
        for i, c in enumerate(clients):
            env = dict(mps.env if mps else os.environ)
            env.pop("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", None)
            if pct[c] is not None:
                env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = str(pct[c])
            procs.append(subprocess.Popen([sys.executable, __file__, "--worker", c, f"{tmp}/r{i}", go, str(seconds)],
                                          stdout=subprocess.PIPE, env=env))
        t_end = time.time() + 180
        while not all(os.path.exists(f"{tmp}/r{i}") for i in range(len(clients))):
            if time.time() > t_end or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"{case}: a client did not get ready")
            time.sleep(0.01)
        open(go, "w").close()
        res = []
        for p in procs:
            out, _ = p.communicate(timeout=seconds + 120)
            res.append(json.loads(out.decode().strip().splitlines()[-1]))
        return res
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill(); p.wait()
        if mps:
            mps.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--out")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--experiment", default="../experiments/pairs-h200.toml")
    args = ap.parse_args()
    if args.worker:
        name, ready, go, seconds = args.worker
        return worker(name, ready, go, float(seconds))
    # Ctrl-C and SIGTERM unwind through the finally blocks (children killed, daemon stopped).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    prov = {"gpu": smi("name"), "uuid": smi("uuid"), "driver": smi("driver_version"), "cuda": None,
            "date": datetime.date.today().isoformat(), "simgpu_version": None,
            "command": "python3 validate/pairs/run_pairs.py " + " ".join(sys.argv[1:])}
    lines = []
    for case, sharing, pa, pb in CASES:
        res = run_case(case, sharing, pa, pb, args.seconds)
        import torch
        prov["cuda"] = torch.version.cuda
        prov["tools"] = f"torch {res[0]['torch']} (tools/capture/torch_traces.py steps, host-timed with a synchronize on both sides)"
        measured = []
        for r in res:
            for m in ("p50_us", "p90_us"):
                measured.append({"client": r["client"], "metric": m, "value": round(r[m], 2), "samples": r["steps"]})
            measured.append({"client": r["client"], "metric": "throughput_per_s",
                             "value": round(r["steps"] / r["seconds"], 3), "samples": r["steps"]})
        line = {"experiment": args.experiment, "case": case, "provenance": dict(prov), "measured": measured}
        print(json.dumps(line), flush=True)
        lines.append(json.dumps(line))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
