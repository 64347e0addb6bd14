#!/usr/bin/env python3
"""Writes the replayed twin of an experiment whose clients are commands: the same cases, the same
scenarios and the same choices, without the `[clients.NAME]` tables and the cases' `commands`, so that `simgpu validate
run` replays every client's scenario kernels instead of running its command. Measured beside the
original, the twin shows how far the replayer is from the programs it imitates.

    python3 validate/replayed.py validate/experiments/seed000-h200.toml ...   (writes *-replayed.toml)
"""
import re
import sys


def main():
    for path in sys.argv[1:]:
        text = open(path).read()
        name = re.search(r'^name = "([^"]+)"', text, re.M).group(1)
        out, skip = [], False
        for line in text.split("\n"):
            if line.startswith("[clients."):
                skip = True
                continue
            if skip and (line.startswith("[") or line.startswith("#")):
                skip = False
            if skip or line.startswith("commands = "):
                continue
            if "kernel_mean_us" in line:
                sys.exit(f"{path}: kernel metrics need a per-kernel timer the replayer does not have")
            out.append(line)
        body = "\n".join(out)
        body = body.replace(f'name = "{name}"', f'name = "{name}-replayed"', 1)
        body = re.sub(r'^description = "(.*)"$', r'description = "\1 (replayed by simgpu)"', body, count=1, flags=re.M)
        head = (f"# The replayed twin of {path.split('/')[-1]}, written by validate/replayed.py (do not edit by hand):\n"
                "# the same cases and scenarios with no client commands, so that every client is simgpu's\n"
                "# kernel replayer. The original's notes follow.\n")
        target = path[:-len(".toml")] + "-replayed.toml"
        with open(target, "w") as f:
            f.write(head + re.sub(r"\n{3,}", "\n\n", body))
        print(target)


if __name__ == "__main__":
    main()
