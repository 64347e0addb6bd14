#!/usr/bin/env python3
"""Writes the case scenarios of validate/experiments/pairs-h200.toml from the imported H200
scenarios (scenarios/imported/h200-*.toml): each case's clients as imported, under the case's
sharing and thread percentages, running closed-loop (one step after another, as
run_pairs.py's clients do) for a simulated 3 s after one warm-up step. Run it again after
`bash tools/import-examples.sh` regenerates the imported scenarios.

    python3 validate/pairs/make_scenarios.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "validate", "experiments", "pairs-h200")
A, B = "qwen7b-decode-b1-eager", "bge-base-b64-s256"
sys_path = __import__("sys").path
sys_path.insert(0, HERE)
from run_pairs import CASES  # noqa: E402  (one list of cases for the card and the simulator)


def client_block(name, pct):
    text = open(os.path.join(ROOT, "scenarios", "imported", f"h200-{name}.toml")).read()
    block = text[text.index("[[clients]]"):]
    lines = block.split("\n")
    # Closed loop for the scenario's duration: the imported request count goes.
    assert lines[2].startswith("requests = "), lines[2]
    del lines[2]
    if pct is not None:
        lines.insert(2, f"mps_thread_percentage = {pct}")
    return "\n".join(lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    for case, sharing, pa, pb in CASES:
        clients = [(A, pa)] if case == "alone-decode" else [(B, pb)] if case == "alone-bge" else [(A, pa), (B, pb)]
        head = (f"# Case `{case}` of validate/experiments/pairs-h200.toml, written by\n"
                f"# validate/pairs/make_scenarios.py from scenarios/imported/h200-*.toml (do not edit by hand).\n"
                f'name = "pairs-h200-{case}"\ngpu = "h200"\nsharing = "{sharing}"\nduration_s = 3.0\n\n')
        body = "\n".join(client_block(n, p) for n, p in clients)
        with open(os.path.join(OUT, f"{case}.toml"), "w") as f:
            f.write(head + body)


if __name__ == "__main__":
    main()
