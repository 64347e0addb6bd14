#!/usr/bin/env python3
"""Writes scenarios/seed001/: seed 001's scaling study (docs/design.md, "Seed 001"): two identical
vLLM engines on one H100 under MPS against one engine serving the same load, for Qwen2.5 0.5B,
1.5B, 3B and 7B at contexts of 128 to 8192 tokens, decode and prefill. `simgpu seeds
validate/seeds/seed001.toml` judges the gains against the seed's claims.

What the seed states is used as stated (H100, Qwen2.5 sizes, vLLM, two engines against one,
perfectly balanced homogeneous load). What it leaves out is fixed here once, before any
comparison:

- the load: 32 sequences decoding (one engine: batch 32; two engines: 16 each), and for prefill
  two prompts of the context's length at a time (one engine: batch 2; two engines: 1 each);
- vLLM's engine under CUDA graphs (`--engine vllm --launch graph`: one graph launch per step;
  vLLM's scheduler time is not modelled, so the host-overhead case is not restated here). vLLM
  captures graphs for decode only (up to 512 tokens a step by default): its prefills run eagerly,
  which with one graph launch per prefill step here leaves the host's part out;

Run from the repository root after `cargo build --release`: python3 tools/seed001_scenarios.py
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed003_scenarios import client_block  # noqa: E402  (the same client table, renamed)

SIMGPU = "target/release/simgpu"
GPU = "h100-sxm"
MODELS = ["qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b"]
CONTEXTS = [128, 512, 2048, 8192]
# phase: (total batch, simulated seconds, generate's flags for a batch and a context)
PHASES = {
    "decode": (32, 0.5, lambda b, c: ["--phase", "decode", "--batch", str(b), "--context", str(c)]),
    "prefill": (2, 2.0, lambda b, c: ["--phase", "prefill", "--batch", str(b), "--tokens", str(c)]),
}
LAUNCH = ["--engine", "vllm", "--launch", "graph", "--gpu", GPU]


def generate(args):
    return subprocess.run([SIMGPU, "generate", *args], check=True, capture_output=True, text=True).stdout


def main():
    os.makedirs("scenarios/seed001", exist_ok=True)
    for phase, (batch, seconds, flags) in PHASES.items():
        for model in MODELS:
            size = model.split("-")[1]
            for ctx in CONTEXTS:
                one = ["--model", model] + flags(batch, ctx) + LAUNCH
                half = ["--model", model] + flags(batch // 2, ctx) + LAUNCH
                cases = {
                    "one": ("one engine", "dedicated", [(one, "engine")]),
                    "mps2": ("two engines under MPS, the load split evenly", "mps", [(half, "engine-0"), (half, "engine-1")]),
                }
                for case, (what, sharing, clients) in cases.items():
                    name = f"{phase}-{size}-ctx{ctx}-{case}"
                    cmds = sorted({" ".join(a) for a, _ in clients})
                    head = [
                        f"# Seed 001: Qwen2.5-{size.upper()} {phase}, context {ctx}, on an H100: {what}.",
                        "# Closed loops until the horizon; written by tools/seed001_scenarios.py (its docstring says",
                        "# what the seed leaves out and what is taken instead) from:",
                        *[f"#   simgpu generate {c}" for c in cmds],
                        f'name = "seed001-{name}"',
                        f'gpu = "{GPU}"',
                        f'sharing = "{sharing}"',
                        f"duration_s = {seconds}",
                        "",
                    ]
                    blocks = [client_block(generate(a), n) for a, n in clients]
                    with open(f"scenarios/seed001/{name}.toml", "w") as f:
                        f.write("\n".join(head) + "\n".join(blocks))
                    print(f"scenarios/seed001/{name}.toml")


if __name__ == "__main__":
    main()
