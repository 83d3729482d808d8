"""Writing files so that a reader never sees half of one, and saying why a write failed."""

import errno
import os
import tempfile


def atomic_write_bytes(path, data):
    """Write through a temp file and rename, so a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide samples from other users
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def why_write_failed(error, path):
    """A short reason for a failed write of `path` (an OSError or a TensorFlow error)."""
    text = getattr(error, "message", None) or str(error)
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text:
        return f"no space left on the disk that holds {path}"
    if getattr(error, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write {path}"
    lines = [line for line in text.splitlines() if line.strip()
             and not line.startswith("Graph execution error")]
    return (lines[0] if lines else type(error).__name__)[:200]
