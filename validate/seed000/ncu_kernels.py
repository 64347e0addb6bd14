"""Launches seed 000's two kernels once each, for Nsight Compute to describe (grid, block,
registers, shared memory, instructions, DRAM bytes): what a user would put in a scenario."""
import torch, cupy as cp, sys
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from replay import FMA
x = torch.rand([16, 128256]).cuda()
for _ in range(3):
    x.softmax(dim=-1, dtype=torch.float32)
k = cp.RawKernel(FMA, 'compute_kernel')
a = cp.ones(1024, dtype=cp.float32); b = cp.ones(1024, dtype=cp.float32); c = cp.zeros(1024, dtype=cp.float32)
k((132,), (1024,), (a, b, c, cp.int64(100000)))
cp.cuda.Device().synchronize()
torch.cuda.synchronize()
