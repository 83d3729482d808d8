"""Memory checked before a big allocation: the figure it needs against what this process may
still take, so that running out is one line that names the size and what to change, not a
hang, a MemoryError traceback or a signal.

    available()          -> (bytes, where the figure comes from)
    check(need, what, fix) raises OutOfMemory if `need` bytes do not fit
"""

import os
import resource

from gan.errors import UserError


class OutOfMemory(UserError):
    """More memory asked for than this machine (or this process's limits) leaves."""


def gib(n):
    return f"{n / 2 ** 30:.1f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MiB"


def meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def address_space_left():
    """What RLIMIT_AS (ulimit -v) leaves beside this process's present size, or None."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, ValueError, StopIteration):
        size = 0
    return max(0, soft - size)


def cgroup_left():
    """What the cgroup (v2) memory limit of a container leaves, or None."""
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as f:
            return max(0, int(limit) - int(f.read().strip()))
    except (OSError, ValueError):
        return None


def available():
    """(bytes this process can still allocate, where the figure comes from); (None, None) if
    nothing tells."""
    found = [(n, name) for n, name in ((meminfo_available(), "MemAvailable in /proc/meminfo"),
                                       (address_space_left(), "the ulimit -v (RLIMIT_AS) left"),
                                       (cgroup_left(), "the container's memory limit left"))
             if n is not None]
    return min(found) if found else (None, None)


def check(need, what, fix):
    """Refuse (OutOfMemory, one line) if `need` bytes for `what` exceed what is available."""
    have, where = available()
    if have is not None and need > have:
        raise OutOfMemory(f"{what} needs about {gib(need)} of memory and {gib(have)} is "
                          f"available ({where}); {fix}")
