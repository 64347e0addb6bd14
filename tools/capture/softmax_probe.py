#!/usr/bin/env python3
"""Seed 000's softmax (torch cunn_SoftMaxForward, fp32) timed over shapes, to see what bounds it:
rows (one 1024-thread block per row, one SM each) and columns (bytes per block). Each shape is run
in a loop on the same input, as seed 000's loop does (the input stays in L2), and timed with CUDA
events around each launch; the median of 200 launches after 20 warm-up ones. One JSON line per
shape to stdout, with the GPU, driver and torch version.

    python3 tools/capture/softmax_probe.py > softmax-probe.jsonl
    ncu --cache-control none --section SpeedOfLight --section MemoryWorkloadAnalysis \
        --section WarpStateStats --section Occupancy --launch-skip 20 --launch-count 1 \
        python3 tools/capture/softmax_probe.py --once 16 128256
"""
import json
import statistics
import sys

import torch


def time_shape(rows, cols, launches=200):
    x = torch.rand([rows, cols], device="cuda")
    for _ in range(20):
        x.softmax(dim=-1, dtype=torch.float32)
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(launches):
        s.record()
        x.softmax(dim=-1, dtype=torch.float32)
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) * 1000.0)
    return statistics.median(times), min(times)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--once":
        x = torch.rand([int(sys.argv[2]), int(sys.argv[3])], device="cuda")
        for _ in range(25):
            x.softmax(dim=-1, dtype=torch.float32)
        torch.cuda.synchronize()
        return
    p = torch.cuda.get_device_properties(0)
    meta = {"gpu": p.name, "torch": torch.__version__, "sms": p.multi_processor_count}
    shapes = [(r, 128256) for r in (1, 2, 4, 8, 16, 33, 66, 132, 264)]
    shapes += [(16, c) for c in (1024, 4096, 8192, 16384, 32768, 65536, 256512, 513024)]
    for rows, cols in shapes:
        med, best = time_shape(rows, cols)
        print(json.dumps(dict(meta, rows=rows, cols=cols, bytes_per_row=4 * cols, median_us=med, min_us=best)),
              flush=True)


if __name__ == "__main__":
    main()
