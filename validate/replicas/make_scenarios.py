#!/usr/bin/env python3
"""Writes validate/experiments/replicas-h200.toml and its case scenarios: N replicas (N = 1, 2, 4,
8) of a small eager decode step (Qwen2.5-0.5B, batch 1, 512 tokens of context), time-sliced, under
MPS and under MPS at 100/N percent of the threads each (seed 002's rule). The step is what
`simgpu generate` writes for that model on the H200 with the H200 machine's measured eager host
cost; every replica runs it closed-loop (one step after another, as step_client.py does) for a
simulated 3 s after one warm-up step. Run it again after the generator changes:

    python3 validate/replicas/make_scenarios.py [SIMGPU]      (default target/release/simgpu)
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXP = os.path.join(ROOT, "validate", "experiments")
OUT = os.path.join(EXP, "replicas-h200")
WORKLOAD = "qwen0.5b-decode-b1-eager"  # tools/capture/torch_traces.py, run by step_client.py
GENERATE = ["generate", "--model", "qwen2.5-0.5b", "--phase", "decode", "--batch", "1", "--context", "512",
            "--gpu", "h200", "--launch", "eager", "--host", "h200-lease-torch-eager"]


def cases():
    """(case, sharing, replicas, thread percentage per replica or None)."""
    yield "alone", "dedicated", 1, None
    for n in (2, 4, 8):
        yield f"timeslice-{n}", "timeslice", n, None
        yield f"mps-{n}", "mps", n, None
        yield f"mps-{n}-p{100 // n}", "mps", n, 100 // n


def client_block(generated, name, pct):
    block = generated[generated.index("[[clients]]"):]
    lines = block.split("\n")
    assert lines[1].startswith("name = "), lines[1]
    lines[1] = f'name = "{name}"'
    # Closed loop for the scenario's duration: the generated request count goes.
    assert lines[2].startswith("requests = "), lines[2]
    del lines[2]
    if pct is not None:
        lines.insert(2, f"mps_thread_percentage = {pct}")
    return "\n".join(lines).rstrip("\n") + "\n"


def experiment():
    out = [
        "# N replicas of a small eager decode step (Qwen2.5-0.5B shape, batch 1, 512 tokens of context),",
        "# N = 1, 2, 4, 8: time-sliced, under MPS, and under MPS at 100/N percent each. Written by",
        "# validate/replicas/make_scenarios.py (do not edit by hand); the case scenarios are",
        "# `simgpu " + " ".join(GENERATE) + "`",
        "# composed. On the card every replica is validate/pairs/step_client.py running the same step in",
        "# torch. The GPU's power and SM clock come from NVML (sampled by simgpu itself).",
        "# On the H200 machine the step's own time depends on the vCPU its process lands on (12.3 to",
        "# 24.1 ms alone, validate/replicas/host-probe-h200-2026-12-04.txt): replicas of one case differ",
        "# by the host, which simgpu's named host (one measured eager cost per kernel) does not vary.",
        'name = "replicas-h200"',
        'description = "N replicas (1, 2, 4, 8) of an eager Qwen2.5-0.5B decode step on an H200: time-sliced, MPS, MPS at 100/N"',
        'gpu = "h200"',
    ]
    for case, _sharing, n, _pct in cases():
        out += ["", "[[cases]]", f'name = "{case}"', f'scenario = "replicas-h200/{case}.toml"', "measure = ["]
        for r in range(1, n + 1):
            out += [f'    {{ client = "r{r}", metric = "p50_us" }},', f'    {{ client = "r{r}", metric = "throughput_per_s" }},']
        out += ['    { client = "gpu", metric = "power_w" },', '    { client = "gpu", metric = "sm_clock_mhz" },', "]"]
    for n in (2, 4, 8):
        names = ", ".join(f'"{c}"' for c, _s, k, _p in cases() if k == n)
        out += ["", "[[choices]]", f'question = "sharing that gives each of {n} replicas the most steps per second"',
                f"cases = [{names}]", 'client = "r1"', 'metric = "throughput_per_s"', 'best = "highest"',
                "tolerance = 0.05"]
    out += ["", "# Every replica runs the same torch step (validate/pairs/step_client.py, the line protocol)."]
    for r in range(1, 9):
        out += [f"[clients.r{r}]", f'command = ["python3", "../pairs/step_client.py", "{WORKLOAD}"]']
    return "\n".join(out) + "\n"


def main():
    simgpu = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "simgpu")
    generated = subprocess.run([simgpu] + GENERATE, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    os.makedirs(OUT, exist_ok=True)
    for case, sharing, n, pct in cases():
        head = (f"# Case `{case}` of validate/experiments/replicas-h200.toml, written by\n"
                f"# validate/replicas/make_scenarios.py from `simgpu {' '.join(GENERATE)}`\n"
                f"# (do not edit by hand).\n"
                f'name = "replicas-h200-{case}"\ngpu = "h200"\nsharing = "{sharing}"\nduration_s = 3.0\n')
        body = "\n".join(client_block(generated, f"r{r}", pct) for r in range(1, n + 1))
        with open(os.path.join(OUT, f"{case}.toml"), "w") as f:
            f.write(head + "\n" + body)
    with open(os.path.join(EXP, "replicas-h200.toml"), "w") as f:
        f.write(experiment())


if __name__ == "__main__":
    main()
