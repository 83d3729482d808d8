"""What machine this is, in words: the CPU's model name (figures and digests are per CPU kind)."""

import os
import platform


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or f"{os.cpu_count()}-core CPU"
