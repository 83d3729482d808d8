"""Memory checked before a big allocation: the figure it needs against what this process may
still take, so that running out is one line that names the size and what to change, not a
hang, a MemoryError traceback or a signal.

    available()          -> (bytes, where the figure comes from)
    check(need, what, fix) raises OutOfMemory if `need` bytes do not fit
"""

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


def tensor_bytes(tensor):
    shape = tensor.shape
    if shape.rank is None or not shape.is_fully_defined():
        return 0
    try:
        size = tensor.dtype.size
    except (TypeError, ValueError):  # resource handles, variants: no bytes of their own
        return 0
    n = 1
    for d in shape.as_list():
        n *= d
    return n * size


NOT_ACTIVATIONS = {"ReadVariableOp", "VarHandleOp", "VariableV2", "Identity", "Const",
                   "Placeholder", "PlaceholderWithDefault", "Shape", "Reshape", "NoOp",
                   "AssignVariableOp", "Assign"}


def graph_bytes(graph):
    """(bytes, its largest tensor's name and size) a training step of graph needs, roughly:
    every variable (weights, Adam's slots, averages, the in-graph data) and as much again for
    their gradients and updates, plus every forward activation twice (kept for the backward
    pass, and its gradient). Only tensors whose shape is known when the graph is built count
    (the sampler's, fed at any batch size, do not)."""
    import tensorflow as tf
    variables = (graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
                 + graph.get_collection(tf.compat.v1.GraphKeys.LOCAL_VARIABLES))
    weights = sum(tensor_bytes(v) for v in variables)
    activations, largest = 0, (0, "")
    for op in graph.get_operations():
        scopes = op.name.split("/")
        if (op.type in NOT_ACTIVATIONS or any(s.startswith("gradients") for s in scopes)
                or not any(s.startswith(("generator", "discriminator")) for s in scopes[:-1])):
            continue  # only G's and D's forward activations
        for t in op.outputs:
            n = tensor_bytes(t)
            activations += n
            largest = max(largest, (n, t.name))
    for v in variables:
        largest = max(largest, (tensor_bytes(v), v.op.name))
    return 2 * weights + 2 * activations, largest


GRAPH_FIX = ("use a smaller --batch-size or --z-dim (on pictures also a smaller --image-size "
             "or --base-channels)")


def check_graph(graph, fix=GRAPH_FIX):
    """Refuse, in one line, a graph whose tensors would not fit in memory."""
    need, (size, name) = graph_bytes(graph)
    check(need, f"this graph (its largest tensor, {name}, is {gib(size)})", fix)
