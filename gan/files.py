"""Writing files so that a reader never sees half of one, and saying why a write failed.

The file-safety principles every command holds (README, Reliability):
- a path is a path: a user's folder is listed with os.listdir and matched exactly, never used
  as a glob, fnmatch or regex pattern (`runs/lr[2e-3]` is not `runs/lr2`);
- every output is written whole or not at all: a temp file in the same folder, then
  os.replace, which also replaces a symlink found there instead of writing through it;
- nothing is written, truncated or deleted through a symlink inside a run's folders.
"""

import errno
import io
import os
import re
import tempfile


class WriteFailed(OSError):
    """An output that could not be written; the file that was there, if any, is unchanged."""

    def __init__(self, path, error):
        super().__init__(getattr(error, "errno", None) or errno.EIO,
                         why_write_failed(error, path), path)
        self.path = path

    def __str__(self):
        return (f"could not write {self.path} ({self.strerror}); the file there before, if any, "
                f"is as it was")


def _write(f, data, path):
    """The one place output bytes reach a disk (tests make it fail mid-way)."""
    f.write(data)


def atomic_write_bytes(path, data):
    """Write through a temp file and rename, so a reader never sees half a file and a failure
    (disk full, a kill) leaves the previous file as it was. A symlink at path is replaced,
    never written through. Raises WriteFailed (an OSError) naming path."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
        with os.fdopen(fd, "wb") as f:
            _write(f, data, path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide samples from other users
        if os.path.isdir(path) and not os.path.islink(path):
            raise IsADirectoryError(errno.EISDIR, "a folder is in the way", path)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise e if isinstance(e, WriteFailed) else WriteFailed(path, e) from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.remove(tmp)


def create_new_file(path, data):
    """Write data to path only if nothing (not even a dangling symlink) is there: whole, through
    a temp file and a hard link, which fails if path exists. False if something was there."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
        with os.fdopen(fd, "wb") as f:
            _write(f, data, path)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: O_EXCL, written at once
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        return True
    except OSError as e:
        raise WriteFailed(path, e) from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.remove(tmp)


def npy_bytes(array):
    import numpy as np
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def save_npy(path, array):
    """np.save, whole or not at all."""
    atomic_write_bytes(path, npy_bytes(array))


def names_matching(folder, regex):
    """Names in folder (listed, never globbed: the folder is the user's path) that regex matches
    whole. [] if folder is not a folder."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    pattern = re.compile(regex)
    return sorted(n for n in names if pattern.fullmatch(n))


def remove_entry(path):
    """Delete a file, or a folder with what it holds; a symlink is unlinked itself, never
    followed into what it points at."""
    import shutil
    if os.path.islink(path) or not os.path.isdir(path):
        os.remove(path)
    else:
        shutil.rmtree(path)  # rmtree unlinks symlinks inside, it does not follow them


def same_or_inside(path, folder):
    """True if path is folder or lies inside it (symlinks resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def why_write_failed(error, path):
    """A short reason for a failed write of `path` (an OSError or a TensorFlow error)."""
    text = getattr(error, "message", None) or str(error)
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text:
        return f"no space left on the disk that holds {path}"
    if getattr(error, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write {path}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    lines = [line for line in text.splitlines() if line.strip()
             and not line.startswith("Graph execution error")]
    return (lines[0] if lines else type(error).__name__)[:200]
