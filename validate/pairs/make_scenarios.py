#!/usr/bin/env python3
"""Writes the case scenarios of a pairs experiment from the imported scenarios of the same GPU
(scenarios/imported/GPU-*.toml): each case's clients as imported, under the case's sharing and
thread percentages, running closed-loop (one step after another, as step_client.py's clients
do) for a simulated 3 s after one warm-up step. Run it again after
`bash tools/import-examples.sh` regenerates the imported scenarios.

    python3 validate/pairs/make_scenarios.py            (h200: pairs-h200/ and pairs-h200-replayed.toml)
    python3 validate/pairs/make_scenarios.py h100       (pairs-h100/, pairs-h100.toml and
                                                         pairs-h100-replayed.toml)
    python3 validate/pairs/make_scenarios.py h100 prefill   (prefill-h100/, prefill-h100.toml and
                                                         prefill-h100-replayed.toml: the decode
                                                         beside a 1024-token prefill step)

For each GPU it writes two experiments over the same cases and scenarios: `pairs-GPU` (for the H200 written by hand earlier), whose
clients are the torch steps themselves (validate/pairs/step_client.py), and
`pairs-GPU-replayed`, whose clients have no command, so that `simgpu validate run` replays
their imported kernels. The first judges the simulator against the real workload; the second
judges it against the replayer; side by side, they judge the replayer against the workload.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXP = os.path.join(ROOT, "validate", "experiments")
A, B = "qwen7b-decode-b1-eager", "bge-base-b64-s256"
# The pairs: the experiment's stem, the second client, the name of its alone case, how the
# experiment describes the pair (short and long), and what the choices call the second client.
# The decode is always the first client.
PAIRS = {
    "pairs": (B, "alone-bge", "an encoder batch (bge-base, 64x256)", "a bge-base-shaped encoder batch (64 x 256)",
              "encoder"),
    "prefill": ("qwen7b-prefill-1024", "alone-prefill", "a 1024-token prefill (Qwen2.5-7B shape)",
                "a 1024-token prefill step of the same Qwen2.5-7B shape (batch 1, eager)", "prefill"),
}
sys.path.insert(0, HERE)
from run_pairs import CASES  # noqa: E402  (one list of cases for the card and the simulator)

PROFILE = {"h100": "h100-sxm", "h200": "h200"}


def client_block(gpu, name, pct):
    text = open(os.path.join(ROOT, "scenarios", "imported", f"{gpu}-{name}.toml")).read()
    block = text[text.index("[[clients]]"):]
    lines = block.split("\n")
    # Closed loop for the scenario's duration: the imported request count goes.
    assert lines[2].startswith("requests = "), lines[2]
    del lines[2]
    if pct is not None:
        lines.insert(2, f"mps_thread_percentage = {pct}")
    return "\n".join(lines)


def cases(pair):
    """run_pairs.CASES with the second client's alone case named for it."""
    alone_b = PAIRS[pair][1]
    return [(alone_b if c == "alone-bge" else c, *rest) for c, *rest in CASES]


def clients_of(pair, case):
    b, alone_b = PAIRS[pair][:2]
    return [A] if case == "alone-decode" else [b] if case == alone_b else [A, b]


def scenarios(gpu, pair):
    b = PAIRS[pair][0]
    out = os.path.join(EXP, f"{pair}-{gpu}")
    os.makedirs(out, exist_ok=True)
    for case, sharing, pa, pb in cases(pair):
        pct = {A: pa, b: pb}
        head = (f"# Case `{case}` of validate/experiments/{pair}-{gpu}*.toml, written by\n"
                f"# validate/pairs/make_scenarios.py from scenarios/imported/{gpu}-*.toml (do not edit by hand).\n"
                f'name = "{pair}-{gpu}-{case}"\ngpu = "{PROFILE[gpu]}"\nsharing = "{sharing}"\nduration_s = 3.0\n\n')
        body = "\n".join(client_block(gpu, n, pct[n]) for n in clients_of(pair, case))
        with open(os.path.join(out, f"{case}.toml"), "w") as f:
            f.write(head + body)


def experiment(gpu, pair, replayed):
    b, _, short, long, noun = PAIRS[pair]
    name = f"{pair}-{gpu}" + ("-replayed" if replayed else "")
    who = ("the imported kernels replayed by simgpu's kernel replayer (no command: `simgpu validate run` "
           "launches each kernel with its grid, block, residency, FLOPs, DRAM bytes and host gaps)"
           if replayed else "the torch steps themselves (validate/pairs/step_client.py)")
    o = [f"# The import issue's traced {gpu.upper()} workloads in pairs: a launch-bound eager decode step of a",
         f"# Qwen2.5-7B-shaped model (batch 1) beside {long}, alone,",
         "# time-sliced, under MPS and under MPS with thread percentages. On the card the clients are",
         f"# {who}.",
         f"# Written by validate/pairs/make_scenarios.py {gpu} (do not edit by hand).",
         f'name = "{name}"',
         f'description = "eager decode (Qwen2.5-7B shape, batch 1) beside {short} on an '
         f'{gpu.upper()}, {"replayed kernels" if replayed else "torch"}"',
         f'gpu = "{PROFILE[gpu]}"', ""]
    for case, _, _, _ in cases(pair):
        o += ["[[cases]]", f'name = "{case}"', f'scenario = "{pair}-{gpu}/{case}.toml"', "measure = ["]
        for c in clients_of(pair, case):
            for m in ("p50_us", "p90_us", "throughput_per_s"):
                o.append(f'    {{ client = "{c}", metric = "{m}" }},')
        o += ["]", ""]
    shared = ", ".join(f'"{c}"' for c, *_ in cases(pair) if not c.startswith("alone-"))
    o += ["# Which sharing serves each workload best. Cases within `tolerance` of the best count as equally good.",
          "[[choices]]", f'question = "sharing that keeps the decode step fastest beside the {noun}"',
          f"cases = [{shared}]", f'client = "{A}"', 'metric = "p50_us"', 'best = "lowest"', "tolerance = 0.05", "",
          "[[choices]]", f'question = "sharing that gives the {noun} the most throughput beside the decode"',
          f"cases = [{shared}]", f'client = "{b}"', 'metric = "throughput_per_s"', 'best = "highest"',
          "tolerance = 0.05", ""]
    if not replayed:
        o.append("# How each client runs on the card: the traced workload's torch step, timed by the client itself.")
        for c in (A, b):
            o += [f"[clients.{c}]", f'command = ["python3", "../pairs/step_client.py", "{c}"]', ""]
    with open(os.path.join(EXP, f"{name}.toml"), "w") as f:
        f.write("\n".join(o))


def main():
    gpu = sys.argv[1] if len(sys.argv) > 1 else "h200"
    pair = sys.argv[2] if len(sys.argv) > 2 else "pairs"
    scenarios(gpu, pair)
    # pairs-h200.toml itself predates this script (and carries notes of its own runs).
    if gpu != "h200" or pair != "pairs":
        experiment(gpu, pair, replayed=False)
    experiment(gpu, pair, replayed=True)


if __name__ == "__main__":
    main()
