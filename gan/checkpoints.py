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

import contextlib
import errno
import fcntl
import json
import os
import re
import tempfile

from gan import tf_quiet  # noqa: F401  (before TensorFlow)
import tensorflow as tf

from gan.errors import CheckpointError
from gan.files import atomic_write_bytes, names_matching, why_write_failed

v1 = tf.compat.v1

PREFIX = "model.ckpt"
CONFIG_FILE = "config.json"
LOCK_FILE = "train.lock"
READ_ERRORS = (tf.errors.OpError, RuntimeError, ValueError)  # what damaged files raise
# Runs saved before the data left the checkpoints hold these too; they are never restored.
OLD_DATA_VARIABLES = ("dataset", "labels", "order")
MAX_CONFIG_BYTES = 1 << 20  # a config.json is about 1 kB; a bigger one is not ours


def checkpoint_steps(folder):
    """Steps of the checkpoints in folder whose `.index` exists, newest first."""
    pattern = re.escape(PREFIX) + r"-(\d+)\.index"
    return sorted((int(re.fullmatch(pattern, n).group(1)) for n in names_matching(folder, pattern)),
                  reverse=True)


def checkpoint_path(folder, step):
    return os.path.join(folder, f"{PREFIX}-{step}")


def remove_stale_temp_files(folder):
    """A kill during a save leaves `*tempstate*` and our `.tmp-*` files; nothing else removes them."""
    for name in names_matching(folder, r".*tempstate.*|\.tmp-.*"):
        try:
            os.remove(os.path.join(folder, name))  # a symlink is unlinked, never followed
        except OSError:
            pass


def remove_checkpoint(folder, step):
    # The .index goes first: without it the rest is no longer a checkpoint.
    prefix = checkpoint_path(folder, step)
    data = names_matching(folder, re.escape(f"{PREFIX}-{step}.data-") + r".*")
    for path in [prefix + ".index"] + [os.path.join(folder, n) for n in data] + [prefix + ".meta"]:
        if os.path.lexists(path):
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


GLOB_CHARACTERS = set("*?[]{}\\")


@contextlib.contextmanager
def plain_prefix(path):
    """Saver.restore matches a checkpoint prefix as a glob pattern (so `runs/lr[2e-3]/ck`
    would not find its own files): a prefix whose folder holds glob characters is reached
    through a symlink in a private temp folder, so the user's path is never a pattern."""
    folder = os.path.dirname(os.path.abspath(path))
    if not GLOB_CHARACTERS & set(folder):
        yield path
        return
    private = tempfile.mkdtemp(prefix="gan-restore-")
    link = os.path.join(private, "run")
    os.symlink(folder, link)
    try:
        yield os.path.join(link, os.path.basename(path))
    finally:
        os.remove(link)
        os.rmdir(private)


def compare_with_graph(path, graph_shapes, allow_extra=False):
    """None if the checkpoint at path holds the graph's variables and shapes, else why not.

    allow_extra: the checkpoint may hold more (a sampler needs no optimizer slots)."""
    with plain_prefix(path) as plain:
        listed = tf.train.list_variables(plain)
    saved = {name: shape for name, shape in listed if name not in OLD_DATA_VARIABLES}
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
            with plain_prefix(path) as plain:
                saver.restore(sess, plain)
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


def generator_only(folder):
    """True if the newest readable checkpoint in folder holds G alone (a folder written by
    --export-generator, such as the shipped pretrained/ ones): it can draw, not train."""
    for step in checkpoint_steps(folder):
        try:
            with plain_prefix(checkpoint_path(folder, step)) as plain:
                names = [name for name, _ in tf.train.list_variables(plain)]
        except READ_ERRORS:
            continue
        return not any(name.startswith("discriminator/") for name in names)
    return False


def read_config(folder):
    """config.json's JSON (not yet checked: config.check_saved does that), or None if absent."""
    path = os.path.join(folder, CONFIG_FILE)
    if not os.path.lexists(path):
        return None
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise CheckpointError(f"{path} is over {MAX_CONFIG_BYTES >> 20} MB, not a run's "
                                  f"settings (about 1 kB); move it away or pass another "
                                  f"--checkpoint-dir")
        return json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError, MemoryError) as e:
        raise CheckpointError(f"{path} is not readable JSON ({str(e)[:100]}); fix or delete it")


def write_config(folder, config):
    atomic_write_bytes(os.path.join(folder, CONFIG_FILE),
                       json.dumps(config, indent=2, sort_keys=True).encode())


class RunLock:
    """One trainer per folder: an exclusive flock on folder/train.lock. The kernel takes and
    releases it atomically, also when the process is killed, so two trainers started in the
    same instant cannot both hold it and no lock is ever left stale. The file holds the
    owner's PID, for the message. It is opened with O_NOFOLLOW: a symlink put in its place is
    refused, never truncated through. A start that fails and leaves the folder holding nothing
    but the lock removes the lock too (the holder checks, after the flock, that the name still
    names its file, so removing it is safe)."""

    def __init__(self, folder, flag="--checkpoint-dir"):
        self.folder, self.flag = folder, flag
        self.path = os.path.join(folder, LOCK_FILE)
        self.fd = None

    def open(self):
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP or os.path.islink(self.path):
                raise CheckpointError(f"{self.path} is a symlink, not this repository's lock "
                                      f"file; remove the link, or pass another {self.flag}")
            raise CheckpointError(f"cannot open {self.path} ({e.strerror}); fix the folder's "
                                  f"permissions, or pass another {self.flag}")

    def __enter__(self):
        os.makedirs(self.folder, exist_ok=True)
        while True:
            fd = self.open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise CheckpointError(f"another training run (pid {owner}) is using "
                                      f"{self.folder}; wait for it, stop it, or pass another "
                                      f"{self.flag}")
            try:
                same = os.path.samestat(os.fstat(fd), os.lstat(self.path))
            except OSError:
                same = False
            if same:
                break
            os.close(fd)  # the file was removed or replaced after we opened it: again
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, exc_type, *exc):
        try:
            if exc_type is not None and os.listdir(self.folder) == [LOCK_FILE]:
                os.remove(self.path)  # a failed start leaves nothing behind
        except OSError:
            pass
        os.close(self.fd)  # releases the lock
