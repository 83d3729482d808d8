"""What machine this is: the CPU's model name (figures and digests are per CPU kind) and the
instruction-set flags that decide --precision auto."""

import os
import platform


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or f"{os.cpu_count()}-core CPU"


def cpu_flags():
    """The CPU's feature flags (avx512_bf16, amx_bf16, ...); empty where /proc/cpuinfo is not."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return []
