"""Checkpoints that survive kills, corruption and restarts, on top of tf.compat.v1.train.Saver.

What Saver leaves to us (measured on TF 2.21 before this module was written): it never falls back to an older
checkpoint, forgets its retention list across restarts, leaves temp files behind after a kill,
and restores a checkpoint of another shape into resource variables without a word. So:
- candidates are found by scanning for `.index` files (the commit marker), newest first;
- names and shapes are compared with the graph before any restore;
- an unreadable newest checkpoint falls back to the previous one, and says so;
- retention and temp-file clean-up are done here, at start-up and after every save;
- one trainer per folder, enforced with an exclusive flock that dies with its process.
"""

import fcntl
import glob
import json
import os
import re

from gan import tf_quiet  # noqa: F401  (before TensorFlow)
import tensorflow as tf

from gan.errors import CheckpointError
from gan.files import atomic_write_bytes, why_write_failed

v1 = tf.compat.v1

PREFIX = "model.ckpt"
CONFIG_FILE = "config.json"
LOCK_FILE = "train.lock"
READ_ERRORS = (tf.errors.OpError, RuntimeError, ValueError)  # what damaged files raise
# Runs saved before the data left the checkpoints hold these too; they are never restored.
OLD_DATA_VARIABLES = ("dataset", "labels", "order")


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


def write_state_file(folder, upto):
    steps = [s for s in checkpoint_steps(folder) if s <= upto]
    if steps:
        v1.train.update_checkpoint_state(
            folder, checkpoint_path(folder, steps[0]),
            [checkpoint_path(folder, s) for s in reversed(steps)])


def prune(folder, keep, upto):
    """Keep the newest `keep` checkpoints up to step `upto` (the one just saved), across
    restarts too. A checkpoint of a later step can only be one the restore found unreadable:
    it is left alone, and never counts as one of the kept."""
    for step in [s for s in checkpoint_steps(folder) if s <= upto][keep:]:
        remove_checkpoint(folder, step)
    write_state_file(folder, upto)


def save(sess, saver, folder, step, keep):
    """Save step; on failure (disk full, read-only folder) the older checkpoints are untouched."""
    try:
        saver.save(sess, os.path.join(folder, PREFIX), global_step=step,
                   write_meta_graph=True, write_state=False)
        prune(folder, keep, step)
    except (tf.errors.OpError, OSError) as e:
        remove_stale_temp_files(folder)
        older = [s for s in checkpoint_steps(folder) if s != step]
        kept = f"the newest good one is step {older[0]}" if older else "no checkpoint is kept"
        raise CheckpointError(f"could not save the step-{step} checkpoint in {folder} "
                              f"({why_write_failed(e, folder)}); {kept}. Free disk space or fix "
                              f"the folder's permissions, then run again to resume")


def compare_with_graph(path, graph_shapes, allow_extra=False):
    """None if the checkpoint at path holds the graph's variables and shapes, else why not.

    allow_extra: the checkpoint may hold more (a sampler needs no optimizer slots)."""
    saved = {name: shape for name, shape in tf.train.list_variables(path)
             if name not in OLD_DATA_VARIABLES}
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
                f"script or with other settings; use its own settings, or another "
                f"--checkpoint-dir")
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
                              f"(newest: step {steps[0]}); move them away, or pass another "
                              f"--checkpoint-dir")
    return None


def read_config(folder):
    """config.json's JSON (not yet checked: config.check_saved does that), or None if absent."""
    path = os.path.join(folder, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path} is not readable JSON ({str(e)[:100]}); fix or delete it")


def write_config(folder, config):
    atomic_write_bytes(os.path.join(folder, CONFIG_FILE),
                       json.dumps(config, indent=2, sort_keys=True).encode())


class RunLock:
    """One trainer per folder: an exclusive flock on folder/train.lock. The kernel takes and
    releases it atomically, also when the process is killed, so two trainers started in the
    same instant cannot both hold it and no lock is ever left stale. The file holds the
    owner's PID, for the message."""

    def __init__(self, folder, flag="--checkpoint-dir"):
        self.folder, self.flag = folder, flag
        self.path = os.path.join(folder, LOCK_FILE)
        self.fd = None

    def __enter__(self):
        os.makedirs(self.folder, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise CheckpointError(f"another training run (pid {owner}) is using {self.folder}; "
                                  f"wait for it, stop it, or pass another {self.flag}")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock; the file stays, so a waiting opener sees one inode
