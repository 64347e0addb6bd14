#!/usr/bin/env python3
"""Print a GPU's MIG GPU-instance profile table as NVML reports it, without changing the card.

nvmlDeviceGetGpuInstanceProfileInfo and nvmlDeviceGetGpuInstancePossiblePlacements_v2 are
read-only queries: they describe what the card could be partitioned into whether or not MIG
mode is on. The output (JSON) is the source of the [[mig.profiles]] tables in models/gpus/.

    python3 tools/mig_table.py [device index]
"""
import ctypes
import datetime
import json
import sys

NVML_SUCCESS = 0
# nvml.h: NVML_GPU_INSTANCE_PROFILE_1_SLICE .. the REV variants (media extensions, 1g with 2 memory slices).
PROFILE_IDS = range(0, 16)


class ProfileInfo(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint),
        ("isP2pSupported", ctypes.c_uint),
        ("sliceCount", ctypes.c_uint),
        ("instanceCount", ctypes.c_uint),
        ("multiprocessorCount", ctypes.c_uint),
        ("copyEngineCount", ctypes.c_uint),
        ("decoderCount", ctypes.c_uint),
        ("encoderCount", ctypes.c_uint),
        ("jpegCount", ctypes.c_uint),
        ("ofaCount", ctypes.c_uint),
        ("memorySizeMB", ctypes.c_ulonglong),
    ]


class ProfileInfoV2(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint)] + ProfileInfo._fields_ + [("name", ctypes.c_char * 96)]


class Placement(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint), ("size", ctypes.c_uint)]


def main():
    index = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
    check = lambda rc, what: rc == NVML_SUCCESS or print(f"{what}: NVML error {rc}", file=sys.stderr)
    if not check(nvml.nvmlInit_v2(), "nvmlInit"):
        sys.exit(1)
    dev = ctypes.c_void_p()
    nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(dev))
    buf = ctypes.create_string_buffer(96)
    nvml.nvmlDeviceGetName(dev, buf, 96)
    name = buf.value.decode()
    nvml.nvmlSystemGetDriverVersion(buf, 96)
    driver = buf.value.decode()
    cur, pend = ctypes.c_uint(), ctypes.c_uint()
    mig_rc = nvml.nvmlDeviceGetMigMode(dev, ctypes.byref(cur), ctypes.byref(pend))
    out = {
        "gpu": name,
        "driver": driver,
        "date": datetime.date.today().isoformat(),
        "command": "python3 tools/mig_table.py " + str(index),
        "mig_mode_rc": mig_rc,
        "mig_mode_current": cur.value,
        "profiles": [],
    }
    v2 = getattr(nvml, "nvmlDeviceGetGpuInstanceProfileInfoV", None)
    for p in PROFILE_IDS:
        rec = None
        if v2 is not None:
            info = ProfileInfoV2()
            # nvml.h: NVML_STRUCT_VERSION(GpuInstanceProfileInfo, 2) = sizeof | (2 << 24).
            info.version = ctypes.sizeof(ProfileInfoV2) | (2 << 24)
            if v2(dev, p, ctypes.byref(info)) == NVML_SUCCESS:
                rec = info
        if rec is None:
            info = ProfileInfo()
            if nvml.nvmlDeviceGetGpuInstanceProfileInfo(dev, p, ctypes.byref(info)) != NVML_SUCCESS:
                continue
            rec = info
        placements = (Placement * 16)()
        n = ctypes.c_uint(16)
        prc = nvml.nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, rec.id, placements, ctypes.byref(n))
        row = {f: getattr(rec, f) for f, _ in ProfileInfo._fields_}
        row["profile_enum"] = p
        row["name"] = rec.name.decode() if hasattr(rec, "name") else None
        row["placements_rc"] = prc
        row["placements"] = [[placements[i].start, placements[i].size] for i in range(n.value)] if prc == 0 else []
        out["profiles"].append(row)
    print(json.dumps(out, indent=1))
    nvml.nvmlShutdown()


if __name__ == "__main__":
    main()
