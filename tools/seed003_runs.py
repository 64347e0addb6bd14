#!/usr/bin/env python3
"""Writes scenarios/seed003/run{1,2,3}-*.toml: seed 003's three single-GPU runs (docs/design.md,
"Seed 003"), each as the generative model alone, both under MPS, both time-sliced, and the
embedding model alone, from `simgpu generate` output. `simgpu seeds validate/seeds/seed003.toml`
sets them beside the seed's tables.

What the seed states is used as stated: GPU, models, dtype, generative batch (run 1: 8; runs 2
and 3: concurrency 1), vLLM with its default CUDA graphs, run 3's embedding batch of 8 through
transformers. What it leaves out is fixed here once, for every run, before any comparison:

- decode context: 512 tokens (run 3's max_tokens is 512; the prompts are not given);
- prefill is not run here (decode steps only), so vLLM's CUDA graphs apply throughout;
- embedding batch of runs 1 and 2: 32, sentence-transformers' default `encode` batch;
- embedding sequence: 128 tokens, a guess (the seed gives none). It was chosen below the bound
  run 3's embedding-alone figure sets (350.5 sequences/s of Qwen3-Embedding-8B on an H200 allow
  at most about 170 tokens at the dense bf16 peak), so that figure is not independent of it;
- the embedding host: eager torch at the H200 lease's measured cost per kernel (the only hosts
  measured; the seed's machines were not).

Run from the repository root after `cargo build --release`: python3 tools/seed003_runs.py
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed003_scenarios import client_block  # noqa: E402  (the same client table, renamed)

SIMGPU = "target/release/simgpu"
DURATION_S = 3.0
CONTEXT = "512"
EMBED_TOKENS = "128"
HOST = "h200-lease-torch-eager"

RUNS = {
    "run1": (
        "Run 1: Qwen2.5-3B-Instruct (batch 8) with e5-large-v2 on an RTX 4090",
        "rtx-4090",
        ["--model", "qwen2.5-3b", "--phase", "decode", "--batch", "8", "--context", CONTEXT],
        ["--model", "e5-large-v2", "--phase", "encode", "--batch", "32", "--tokens", EMBED_TOKENS],
    ),
    "run2": (
        "Run 2: Llama 3.1 8B (concurrency 1) with e5-large-v2 on an RTX 4090",
        "rtx-4090",
        ["--model", "llama-3.1-8b", "--phase", "decode", "--batch", "1", "--context", CONTEXT],
        ["--model", "e5-large-v2", "--phase", "encode", "--batch", "32", "--tokens", EMBED_TOKENS],
    ),
    "run3": (
        "Run 3: Qwen3-30B-A3B fp8 (concurrency 1) with Qwen3-Embedding-8B (batch 8) on an H200",
        "h200",
        ["--model", "qwen3-30b-a3b", "--phase", "decode", "--batch", "1", "--context", CONTEXT, "--dtype", "fp8"],
        ["--model", "qwen3-embedding-8b", "--phase", "encode", "--batch", "8", "--tokens", EMBED_TOKENS],
    ),
}
GEN_LAUNCH = ["--engine", "vllm", "--launch", "graph"]
EMB_LAUNCH = ["--launch", "eager", "--host", HOST]

CASES = {
    "gen-alone": ("the generative model alone (step 1)", "dedicated", ["gen"]),
    "mps": ("both under MPS (step 2)", "mps", ["gen", "embed"]),
    "timesliced": ("both time-sliced (step 3)", "timeslice", ["gen", "embed"]),
    "embed-alone": ("the embedding model alone (step 4)", "dedicated", ["embed"]),
}


def generate(args):
    return subprocess.run([SIMGPU, "generate", *args], check=True, capture_output=True, text=True).stdout


def main():
    for run, (what, gpu, gen, emb) in RUNS.items():
        g = ["--gpu", gpu]
        gen_args, emb_args = gen + GEN_LAUNCH + g, emb + EMB_LAUNCH + g
        blocks = {"gen": client_block(generate(gen_args), "gen"), "embed": client_block(generate(emb_args), "embed")}
        for case, (label, sharing, clients) in CASES.items():
            name = f"{run}-{case}"
            head = [
                f"# Seed 003, {what}: {label}.",
                "# Closed loops until the horizon; written by tools/seed003_runs.py (its docstring says what the",
                "# seed leaves out and what is taken instead) from:",
                *[f"#   simgpu generate {' '.join(a)}" for a, c in ((gen_args, "gen"), (emb_args, "embed")) if c in clients],
                f'name = "seed003-{name}"',
                f'gpu = "{gpu}"',
                f'sharing = "{sharing}"',
                f"duration_s = {DURATION_S}",
                "",
            ]
            text = "\n".join(head) + "\n".join(blocks[c] for c in clients)
            with open(f"scenarios/seed003/{name}.toml", "w") as f:
                f.write(text)
            print(f"scenarios/seed003/{name}.toml")
    # The eager decode stream seed 003 traced with Nsight Systems (vLLM --enforce-eager).
    args = RUNS["run3"][2] + ["--engine", "vllm", "--launch", "eager", "--host", HOST, "--gpu", "h200"]
    head = [
        "# Seed 003, run 3's Nsight Systems trace: Qwen3-30B-A3B fp8 decode at concurrency 1 under vLLM",
        "# --enforce-eager, alone on an H200 (each kernel launched by the host at the H200 lease's eager cost).",
        "# Written by tools/seed003_runs.py from:",
        f"#   simgpu generate {' '.join(args)}",
        'name = "seed003-run3-gen-eager"',
        'gpu = "h200"',
        'sharing = "dedicated"',
        f"duration_s = {DURATION_S}",
        "",
    ]
    with open("scenarios/seed003/run3-gen-eager.toml", "w") as f:
        f.write("\n".join(head) + client_block(generate(args), "gen"))
    print("scenarios/seed003/run3-gen-eager.toml")


if __name__ == "__main__":
    main()
