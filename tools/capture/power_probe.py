"""Power and clock of a card under steady loads, sampled through NVML every 10 ms.

For each load (idle, FMA on every SM, a device-to-device copy, bf16 GEMMs of several sizes, a GEMM
beside a copy, a transformer encoder step loop) it records NVML's power reading, the instantaneous
power field, the energy counter, the SM and memory clocks, the clock-event (throttle) reasons,
temperature, and the load's own throughput. Writes one JSON document. Nothing on the card is
changed. Usage: python3 power_probe.py OUT.json [seconds per load]
"""
import ctypes, json, sys, threading, time

import torch

OUT = sys.argv[1]
SECS = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0

nv = ctypes.CDLL("libnvidia-ml.so.1")
assert nv.nvmlInit_v2() == 0
dev = ctypes.c_void_p()
assert nv.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev)) == 0


class FieldValue(ctypes.Structure):
    _fields_ = [("fieldId", ctypes.c_uint), ("scopeId", ctypes.c_uint), ("timestamp", ctypes.c_longlong),
                ("latencyUsec", ctypes.c_longlong), ("valueType", ctypes.c_int), ("nvmlReturn", ctypes.c_int),
                ("value", ctypes.c_ulonglong)]


# nvml.h: NVML_FI_DEV_POWER_AVERAGE 185, _INSTANT 186, _CURRENT_LIMIT 190, _REQUESTED_LIMIT 192.
FIELDS = {"power_avg_field_mw": 185, "power_instant_mw": 186, "limit_current_mw": 190, "limit_requested_mw": 192}


def fields():
    arr = (FieldValue * len(FIELDS))()
    for i, f in enumerate(FIELDS.values()):
        arr[i].fieldId = f
    out = {}
    if nv.nvmlDeviceGetFieldValues(dev, len(FIELDS), arr) == 0:
        for i, k in enumerate(FIELDS):
            out[k] = int(arr[i].value) if arr[i].nvmlReturn == 0 else None
    return out


def u32(fn, *args):
    v = ctypes.c_uint()
    r = getattr(nv, fn)(dev, *args, ctypes.byref(v))
    return v.value if r == 0 else None


def u64(fn):
    v = ctypes.c_ulonglong()
    r = getattr(nv, fn)(dev, ctypes.byref(v))
    return v.value if r == 0 else None


def sample():
    s = {"t": time.perf_counter(), "power_mw": u32("nvmlDeviceGetPowerUsage"),
         "energy_mj": u64("nvmlDeviceGetTotalEnergyConsumption"), "sm_mhz": u32("nvmlDeviceGetClockInfo", 1),
         "mem_mhz": u32("nvmlDeviceGetClockInfo", 2), "reasons": u64("nvmlDeviceGetCurrentClocksEventReasons"),
         "temp_c": u32("nvmlDeviceGetTemperature", 0)}
    s.update(fields())
    return s


class Sampler:
    def __init__(self):
        self.samples, self.stop = [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(sample())
            time.sleep(0.01)

    def __enter__(self):
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.th.join()


def loop(step, secs, work_per_step):
    """Runs step() back to back for secs; returns (steps, seconds, work per second)."""
    step(); torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < secs:
        for _ in range(4):
            step()
        n += 4
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return n, dt, n * work_per_step / dt


import cupy as cp

FMA = cp.RawKernel(r'''
extern "C" __global__ void fma_loop(float* out, int iters) {
    float a = threadIdx.x * 1e-3f, b = 0.999f, c = 1e-4f, d = a + 1.0f;
    for (int i = 0; i < iters; i++) { a = fmaf(a, b, c); d = fmaf(d, b, c); }
    if (a + d == 12345.0f) out[0] = a + d;
}''', "fma_loop")
fma_out = cp.zeros(1, dtype=cp.float32)
FMA_ITERS = 1 << 16


def fma_step():
    # 132 x 4 blocks of 256 threads: every SM issue-bound on FP32.
    FMA((132 * 4,), (256,), (fma_out, cp.int32(FMA_ITERS)))


big_a = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
big_b = torch.empty_like(big_a)


def copy_step():
    big_b.copy_(big_a)


def gemm(n):
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    return lambda: torch.mm(a, b)


side = torch.cuda.Stream()


def gemm_with_copy():
    g = gemm(8192)

    def step():
        g()
        with torch.cuda.stream(side):
            big_b.copy_(big_a)
    return step


enc = torch.nn.TransformerEncoderLayer(1024, 16, 4096, batch_first=True, device="cuda", dtype=torch.bfloat16).eval()
x = torch.randn(64, 512, 1024, device="cuda", dtype=torch.bfloat16)


def enc_step():
    with torch.no_grad():
        enc(x)


loads = [
    ("idle", None, 0),
    ("fma", fma_step, 132 * 4 * 256 * FMA_ITERS * 4.0),
    ("copy_1GiB", copy_step, 2.0 * (1 << 30)),
    ("gemm_bf16_8192", gemm(8192), 2.0 * 8192 ** 3),
    ("gemm_bf16_4096", gemm(4096), 2.0 * 4096 ** 3),
    ("gemm_bf16_2048", gemm(2048), 2.0 * 2048 ** 3),
    ("gemm_8192_beside_copy", gemm_with_copy(), 2.0 * 8192 ** 3),
    ("encoder_b64_s512_h1024", enc_step, 0),
    ("idle_after", None, 0),
]

info = {"name": torch.cuda.get_device_name(0), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "enforced_limit_mw": u32("nvmlDeviceGetEnforcedPowerLimit"), "fields_at_start": fields()}
drv = ctypes.create_string_buffer(80)
nv.nvmlSystemGetDriverVersion(drv, 80)
info["driver"] = drv.value.decode()
results = []
for name, step, work in loads:
    with Sampler() as s:
        if step is None:
            time.sleep(min(SECS, 4.0))
            n, dt, rate = 0, min(SECS, 4.0), 0.0
        else:
            n, dt, rate = loop(step, SECS, work)
    results.append({"load": name, "steps": n, "seconds": dt, "work_per_s": rate, "samples": s.samples})
    print(f"{name:28s} steps {n:6d}  {rate/1e12:8.2f} T/s  samples {len(s.samples)}", flush=True)
    time.sleep(1.0)
json.dump({"info": info, "loads": results}, open(OUT, "w"))
