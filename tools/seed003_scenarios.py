#!/usr/bin/env python3
"""Writes scenarios/seed003/: seed 003's two-GPU question (a generative decode stream and an
embedding encoder) as layouts on two H200s and on two H100s, from `simgpu generate` output.

  A:  the generative model (TP=1) alone on GPU 0, the encoder alone on GPU 1;
  B1: the generative model at TP=2 over both GPUs, the encoder beside rank 1 under MPS;
  B2: the generative model at TP=2, an encoder replica beside each rank under MPS.

Both run closed-loop until the horizon, so that throughputs cover one window. Run from the
repository root after `cargo build --release`: python3 tools/seed003_scenarios.py
"""
import subprocess

SIMGPU = "target/release/simgpu"
GEN = ["--model", "llama-3.1-8b", "--phase", "decode", "--batch", "8", "--context", "1024", "--launch", "graph"]
EMB = ["--model", "e5-large-v2", "--phase", "encode", "--batch", "32", "--tokens", "256", "--launch", "graph"]
DURATION_S = 2.0


def generate(args):
    out = subprocess.run([SIMGPU, "generate", *args], check=True, capture_output=True, text=True).stdout
    return out


def client_block(text, name):
    """The generated [[clients]] table and its kernels, renamed, running until the horizon."""
    body = text[text.index("[[clients]]"):]
    if "\n[[gpus]]" in body:
        body = body[: body.index("\n[[gpus]]")]
    lines = body.rstrip("\n").split("\n")
    out, renamed = [], False
    for line in lines:
        if not renamed and line.startswith("name = "):
            out.append(f'name = "{name}"')
            renamed = True
        elif line.startswith("requests = "):
            continue
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def partition(clients, sharing="dedicated"):
    names = ", ".join(f'"{c}"' for c in clients)
    return f"[[gpus.partitions]]\nsharing = \"{sharing}\"\nclients = [{names}]\n"


def main():
    for gpu in ["h200", "h100-sxm"]:
        g = ["--gpu", gpu]
        tp1 = generate(GEN + g)
        tp2 = generate(GEN + g + ["--tp", "2"])
        emb = generate(EMB + g)
        cmds = [
            "simgpu generate " + " ".join(GEN + g),
            "simgpu generate " + " ".join(GEN + g + ["--tp", "2"]),
            "simgpu generate " + " ".join(EMB + g),
        ]
        cases = {
            "a-dedicated": (
                "A: the generative model (TP=1) alone on GPU 0, the encoder alone on GPU 1.",
                [client_block(tp1, "gen"), client_block(emb, "embed")],
                [partition(["gen"]), partition(["embed"])],
            ),
            "b1-tp2-embed-mps-on-one": (
                "B1: the generative model at TP=2 over both GPUs (NVLink all-reduces), the encoder beside rank 1 under MPS.",
                [client_block(tp2, "gen"), client_block(emb, "embed")],
                [partition(["gen"]), partition(["gen", "embed"], "mps")],
            ),
            "b2-tp2-embed-mps-on-both": (
                "B2: the generative model at TP=2 over both GPUs, an encoder replica beside each rank under MPS.",
                [client_block(tp2, "gen"), client_block(emb, "embed-0"), client_block(emb, "embed-1")],
                [partition(["gen", "embed-0"], "mps"), partition(["gen", "embed-1"], "mps")],
            ),
        }
        for case, (what, clients, gpus) in cases.items():
            name = f"{gpu}-{case}"
            head = [
                f"# Seed 003's two-GPU question on two {gpu} GPUs. {what}",
                "# Llama 3.1 8B decode (batch 8, context 1024, CUDA graphs) and e5-large-v2 (batch 32 x 256 tokens),",
                "# both closed-loop until the horizon; written by tools/seed003_scenarios.py from:",
                *[f"#   {c}" for c in cmds],
                f'name = "{name}"',
                f'gpu = "{gpu}"',
                f"duration_s = {DURATION_S}",
                "",
            ]
            text = "\n".join(head) + "\n".join(clients) + "".join("\n[[gpus]]\n" + p for p in gpus)
            with open(f"scenarios/seed003/{name}.toml", "w") as f:
                f.write(text)
            print(f"scenarios/seed003/{name}.toml")


if __name__ == "__main__":
    main()
