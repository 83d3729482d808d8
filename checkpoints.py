"""Checkpoints that survive kills, corruption and restarts, on top of tf.compat.v1.train.Saver.

What Saver leaves to us (see shared/spec/RELIABILITY.md): it never falls back to an older
checkpoint, forgets its retention list across restarts, leaves temp files behind after a kill,
and restores a checkpoint of another shape into resource variables without a word. So:
- candidates are found by scanning for `.index` files (the commit marker), newest first;
- names and shapes are compared with the graph before any restore;
- an unreadable newest checkpoint falls back to the previous one, and says so;
- retention and temp-file clean-up are done here, at start-up and after every save;
- one trainer per folder, enforced with a lock file holding its PID.
"""

import glob
import json
import os
import re

import tensorflow as tf

from utils import atomic_write_bytes

v1 = tf.compat.v1

PREFIX = "model.ckpt"
CONFIG_FILE = "config.json"
LOCK_FILE = "train.lock"
READ_ERRORS = (tf.errors.OpError, RuntimeError, ValueError)  # what damaged files raise


class CheckpointError(Exception):
    """A checkpoint problem the user must act on; the message says how."""


def checkpoint_steps(folder):
    """Steps of the checkpoints in folder whose `.index` exists, newest first."""
    steps = []
    for path in glob.glob(os.path.join(folder, PREFIX + "-*.index")):
        match = re.fullmatch(re.escape(PREFIX) + r"-(\d+)\.index", os.path.basename(path))
        if match:
            steps.append(int(match.group(1)))
    return sorted(steps, reverse=True)


def checkpoint_path(folder, step):
    return os.path.join(folder, f"{PREFIX}-{step}")


def remove_stale_temp_files(folder):
    """A kill during a save leaves `*tempstate*` and our `.tmp-*` files; nothing else removes them."""
    for path in glob.glob(os.path.join(folder, "*tempstate*")) + glob.glob(
            os.path.join(folder, ".tmp-*")):
        try:
            os.remove(path)
        except OSError:
            pass


def remove_checkpoint(folder, step):
    # The .index goes first: without it the rest is no longer a checkpoint.
    prefix = checkpoint_path(folder, step)
    for path in [prefix + ".index"] + glob.glob(prefix + ".data-*") + [prefix + ".meta"]:
        if os.path.exists(path):
            os.remove(path)


def write_state_file(folder):
    steps = checkpoint_steps(folder)
    if steps:
        v1.train.update_checkpoint_state(
            folder, checkpoint_path(folder, steps[0]),
            [checkpoint_path(folder, s) for s in reversed(steps)])


def prune(folder, keep):
    """Keep the newest `keep` checkpoints, across restarts too."""
    for step in checkpoint_steps(folder)[keep:]:
        remove_checkpoint(folder, step)
    write_state_file(folder)


def save(sess, saver, folder, step, keep):
    """Save step; on failure (disk full, read-only folder) the older checkpoints are untouched."""
    try:
        saver.save(sess, os.path.join(folder, PREFIX), global_step=step,
                   write_meta_graph=True, write_state=False)
        prune(folder, keep)
    except (tf.errors.OpError, OSError) as e:
        remove_stale_temp_files(folder)
        older = [s for s in checkpoint_steps(folder) if s != step]
        kept = f"the newest good one is step {older[0]}" if older else "no checkpoint is kept"
        reason = getattr(e, "message", None) or str(e)
        raise CheckpointError(f"could not save the step-{step} checkpoint in {folder} "
                              f"({reason.splitlines()[0]}); {kept}. Free disk space or fix "
                              f"the folder's permissions, then run again to resume")


def graph_variable_shapes(var_list):
    return {v.op.name: v.shape.as_list() for v in var_list}


def compare_with_graph(path, graph_shapes, allow_extra=False):
    """None if the checkpoint at path holds the graph's variables and shapes, else why not.

    allow_extra: the checkpoint may hold more (a sampler needs no optimizer slots)."""
    saved = dict(tf.train.list_variables(path))
    for name, shape in sorted(graph_shapes.items()):
        if name not in saved:
            return f"it has no variable {name}"
        if list(saved[name]) != list(shape):
            return f"{name} has shape {list(saved[name])} there but {shape} in this graph"
    extra = sorted(set(saved) - set(graph_shapes))
    if extra and not allow_extra:
        return f"it holds variables this graph lacks, e.g. {extra[0]}"
    return None


def restore_newest(sess, saver, folder, graph_shapes, log=print, allow_extra=False):
    """Restore the newest readable checkpoint and return its step, or None if there is none.

    A checkpoint of another model or shape stops with CheckpointError (it is not damage, and
    falling back would only find more of the same); an unreadable one falls back to the older.
    """
    steps = checkpoint_steps(folder)
    skipped = []
    for step in steps:
        path = checkpoint_path(folder, step)
        try:
            mismatch = compare_with_graph(path, graph_shapes, allow_extra)
        except READ_ERRORS as e:
            skipped.append((step, e))
            continue
        if mismatch:
            raise CheckpointError(
                f"the checkpoint {path} does not fit this model: {mismatch}. It was made by another "
                f"script or with other settings; use its own settings, another --checkpoint-dir, "
                f"or --fresh to start over")
        try:
            saver.restore(sess, path)
        except READ_ERRORS as e:
            skipped.append((step, e))
            continue
        for bad_step, error in skipped:
            reason = (getattr(error, "message", None) or str(error)).splitlines()[0]
            log(f"warning: checkpoint step {bad_step} is unreadable ({reason[:120]}); "
                f"restored step {step} instead")
        return step
    if steps:
        raise CheckpointError(f"none of the {len(steps)} checkpoints in {folder} is readable "
                              f"(newest: step {steps[0]}); delete them or pass --fresh")
    return None


def read_config(folder):
    path = os.path.join(folder, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not readable JSON ({e}); fix or delete it")


def write_config(folder, config):
    atomic_write_bytes(os.path.join(folder, CONFIG_FILE),
                       json.dumps(config, indent=2, sort_keys=True).encode())


class RunLock:
    """One trainer per checkpoint folder: a lock file holding the owner's PID."""

    def __init__(self, folder):
        self.path = os.path.join(folder, LOCK_FILE)

    def __enter__(self):
        try:
            with open(self.path) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and process_alive(pid):
            raise CheckpointError(f"another training run (pid {pid}) is using "
                                  f"{os.path.dirname(self.path)}; wait for it, stop it, or pass "
                                  f"another --checkpoint-dir")
        atomic_write_bytes(self.path, str(os.getpid()).encode())
        return self

    def __exit__(self, *exc):
        try:
            os.remove(self.path)
        except OSError:
            pass


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
