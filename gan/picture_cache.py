"""A picture folder decoded once into a cache on disk, read back a batch at a time.

The first run on a folder decodes it (in parallel, as data.load_picture_folder does, with pictures.py) and
appends each decoded picture to one raw uint8 file as it arrives, so memory does not grow with
the number of pictures; a small JSON index says what the file holds. Later runs on the unchanged
folder open the file and start at once. Training reads only a batch's rows (os.preadv into a
fresh array: no memory map, whose touched pages would count as the process's memory).

    <cache dir>/index.json     format, key, count, size, channels, skipped, the data file's stat
    <cache dir>/pictures.u8    count x size x size x channels bytes, pictures in find order

The cache lives in <checkpoint-dir>/picture_cache unless --cache-dir names another folder, and
never inside the picture folder. It is keyed by the folder's contents (relative paths, sizes,
modification times), the image size and channels, and pictures.py's own source (a change in how
pictures are decoded decodes them again). An index that this repository did not write is
refused in one line; one that does not fit its data file (wrong size, replaced file) is rebuilt.
"""

import functools
import hashlib
import json
import os
import sys
import tempfile

import numpy as np
from tqdm import tqdm

from gan import pictures
from gan.errors import DataError, UsageError

FORMAT = "gan-picture-cache/1"
INDEX = "index.json"
DATA = "pictures.u8"
CACHE_FOLDER = "picture_cache"  # under --checkpoint-dir unless --cache-dir is given


READ_FAILED = "reading a batch from the picture cache failed"


def error_in_step(error):
    """The one-line DataError that a batch read raised inside a session step (TensorFlow wraps
    it in an UnknownError with the Python traceback), or None if error is another one."""
    text = getattr(error, "message", "") or ""
    start = text.find(READ_FAILED)
    if start < 0:
        return None
    return DataError(text[start:].splitlines()[0])


def default_cache_dir(checkpoint_dir):
    return os.path.join(checkpoint_dir, CACHE_FOLDER)


class CachedImages:
    """The cache's pictures as a read-only uint8 array [N, H, W, C]: `shape`, `len()` and
    `images[rows]` (an int, a slice or an array of row numbers) read only those rows."""

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, fd, shape):
        self.fd, self.shape = fd, tuple(shape)
        self.row_bytes = int(np.prod(shape[1:]))

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        if isinstance(rows, (int, np.integer)):
            return self.read_rows(np.array([rows]))[0]
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(len(self)))
        return self.read_rows(np.asarray(rows))

    def read_rows(self, rows):
        """uint8 [len(rows), H, W, C]: one preadv a row, straight into the result."""
        rows = np.asarray(rows, np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows outside 0..{len(self) - 1}")
        out = np.empty((rows.size, self.row_bytes), np.uint8)
        try:
            for i, row in enumerate(rows):
                if os.preadv(self.fd, [out[i]], int(row) * self.row_bytes) != self.row_bytes:
                    raise DataError(f"{READ_FAILED}: its data file became shorter while "
                                    f"training; run again to rebuild it")
        except OSError as e:
            raise DataError(f"{READ_FAILED} ({e.strerror}); run again, or delete the cache to "
                            f"rebuild it")
        return out.reshape((rows.size,) + self.shape[1:])

    def __array__(self, dtype=None, copy=None):  # np.asarray(images): all of it, on request
        array = self.read_rows(np.arange(len(self)))
        return array if dtype is None else array.astype(dtype)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def folder_key(folder, paths, size, channels):
    """(key, listing size): SHA-256 of the pictures' relative paths, sizes and modification
    times, the image size and channels, and pictures.py's source (how a picture is decoded)."""
    digest = hashlib.sha256()
    with open(pictures.__file__, "rb") as f:
        digest.update(hashlib.sha256(f.read()).digest())
    digest.update(json.dumps([FORMAT, size, channels]).encode())
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as e:
            raise DataError(f"{path} could not be read while listing the picture folder "
                            f"({e.strerror}); run again once the folder is still")
        digest.update(json.dumps([os.path.relpath(path, folder), st.st_size,
                                  st.st_mtime_ns]).encode() + b"\n")
    return digest.hexdigest()


def inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_cache_dir(cache_dir, picture_folder, named):
    """The cache folder may be used: not in the picture folder, not a symlink (unless named)."""
    flag = "--cache-dir" if named else "the picture cache"
    if inside(cache_dir, picture_folder):
        raise UsageError(f"{flag} {cache_dir} is inside the picture folder {picture_folder}, "
                         f"and nothing is written there; pass --cache-dir elsewhere")
    if not named and os.path.islink(cache_dir):
        raise UsageError(f"the picture cache {cache_dir} is a symbolic link, which a run does "
                         f"not write through; remove it or pass --cache-dir")
    for name in (INDEX, DATA):
        if os.path.islink(os.path.join(cache_dir, name)):
            raise UsageError(f"{os.path.join(cache_dir, name)} is a symbolic link, which a run "
                             f"does not write through; remove it or pass another --cache-dir")


def read_index(cache_dir):
    """The index's fields, None if there is none; a file this repository did not write (not
    JSON, no format marker) is refused in one line."""
    path = os.path.join(cache_dir, INDEX)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DataError(f"the picture cache index {path} cannot be read ({e.strerror}); fix its "
                        f"permissions or pass another --cache-dir")
    with os.fdopen(fd, "rb") as f:
        text = f.read(1 << 20)
    try:
        index = json.loads(text)
    except ValueError:
        index = None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DataError(f"{path} is not a picture cache index this repository wrote (damaged or "
                        f"foreign); delete it, or pass another --cache-dir")
    return index


def index_fits(index, key, size, channels, count):
    """Why the index does not describe a cache of this folder (key) at this shape, or None."""
    fields = {"key": str, "count": int, "size": int, "channels": int, "skipped": int,
              "data_bytes": int, "data_inode": int, "data_mtime_ns": int}
    for name, kind in fields.items():
        if not isinstance(index.get(name), kind) or isinstance(index.get(name), bool):
            return f"its entry {name} is missing or not a {kind.__name__}"
    if index["count"] < 1 or index["skipped"] < 0:
        return "its counts are out of range"
    if index["data_bytes"] != index["count"] * index["size"] ** 2 * index["channels"]:
        return "its data size does not fit its count and shape"
    if index["key"] != key or (index["size"], index["channels"]) != (size, channels):
        return ("it was written at {}x{}x{}".format(index["size"], index["size"],
                                                    index["channels"])
                if (index["size"], index["channels"]) != (size, channels) else
                f"the folder changed since ({count} pictures now; files added, removed or "
                f"modified)")
    return None


def open_data(cache_dir, index):
    """An fd on the data file if it is the one the index describes (size, inode, mtime), else
    None (and why)."""
    path = os.path.join(cache_dir, DATA)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        return None, f"its data file cannot be read ({e.strerror})"
    st = os.fstat(fd)
    if (st.st_size, st.st_ino, st.st_mtime_ns) != (index["data_bytes"], index["data_inode"],
                                                  index["data_mtime_ns"]):
        os.close(fd)
        return None, "its data file is not the one it was written with (size or file changed)"
    return fd, None


def load(folder, size, channels, cache_dir, named=False, workers=None, log=print):
    """(CachedImages, skipped) for the picture folder: from the cache if it holds this folder
    unchanged, else decoded into it first."""
    if not os.path.isdir(folder):
        raise DataError(f"--data-dir {folder} is not a folder; point it at a folder of pictures")
    check_cache_dir(cache_dir, folder, named)
    paths, refused = pictures.find_pictures(folder)
    if refused:
        log(f"skipped {refused} entries under {folder} that are not regular files (symlinks, "
            f"FIFOs, devices)")
    if not paths:
        raise DataError(f"no pictures ({', '.join(e[1:] for e in pictures.PICTURE_EXTENSIONS)}) "
                        f"found under {folder}; put them there (subfolders are fine)")
    key = folder_key(folder, paths, size, channels)
    index = read_index(cache_dir)
    why = "no cache yet"
    if index is not None:
        why = index_fits(index, key, size, channels, len(paths))
        if why is None:
            fd, why = open_data(cache_dir, index)
            if fd is not None:
                images = CachedImages(fd, (index["count"], size, size, channels))
                log(f"reusing the picture cache in {cache_dir}: {index['count']} pictures from "
                    f"{folder} at {size}x{size}x{channels}; skipped {index['skipped']} "
                    f"unreadable files")
                return images, index["skipped"]
        log(f"the picture cache in {cache_dir} does not fit: {why}; decoding {folder} again")
    elif os.path.lexists(os.path.join(cache_dir, DATA)):
        raise DataError(f"{os.path.join(cache_dir, DATA)} exists without its {INDEX}, so no "
                        f"run of this repository can vouch for it; delete it, or pass another "
                        f"--cache-dir")
    try:
        return build(folder, paths, size, channels, cache_dir, key, workers, log)
    except OSError as e:
        from gan.files import why_write_failed
        raise DataError(f"the picture cache in {cache_dir} could not be written "
                        f"({why_write_failed(e, cache_dir)}); free some space, or pass "
                        f"--cache-dir elsewhere")


def build(folder, paths, size, channels, cache_dir, key, workers, log):
    """Decode paths in parallel, appending each picture to a temp file as it arrives; then
    rename it and the index into place (the data first: an old index no longer fits it)."""
    import multiprocessing
    os.makedirs(cache_dir, exist_ok=True)
    fd, tmp_data = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=DATA)
    tmp_index = None
    count = 0
    try:
        decode = functools.partial(pictures.decode_picture, size=size, channels=channels)
        pool = multiprocessing.Pool(workers or os.cpu_count(), initializer=pictures.ignore_interrupts)
        try:
            with os.fdopen(fd, "wb") as out:
                fd = None
                for picture in tqdm(pool.imap(decode, paths, chunksize=16), total=len(paths),
                                    desc="decoding pictures", unit="picture", leave=False,
                                    file=sys.stdout):
                    if picture is not None:
                        out.write(np.ascontiguousarray(picture, np.uint8).tobytes())
                        count += 1
                out.flush()
                os.fsync(out.fileno())
            pool.close()
        finally:
            pool.terminate()  # on Ctrl-C too: no worker traceback, no waiting for the rest
            pool.join()
        if not count:
            raise DataError(f"none of the {len(paths)} pictures under {folder} could be read")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_data, 0o666 & ~umask)
        os.replace(tmp_data, os.path.join(cache_dir, DATA))
        tmp_data = None
        data_fd = os.open(os.path.join(cache_dir, DATA), os.O_RDONLY | os.O_NOFOLLOW)
        st = os.fstat(data_fd)
        index = dict(format=FORMAT, key=key, count=count, size=size, channels=channels,
                     skipped=len(paths) - count, data_bytes=st.st_size, data_inode=st.st_ino,
                     data_mtime_ns=st.st_mtime_ns, folder=os.path.abspath(folder))
        ifd, tmp_index = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=INDEX)
        with os.fdopen(ifd, "w") as f:
            json.dump(index, f, indent=1)
        os.chmod(tmp_index, 0o666 & ~umask)
        os.replace(tmp_index, os.path.join(cache_dir, INDEX))
        tmp_index = None
    finally:
        if fd is not None:
            os.close(fd)
        for tmp in (tmp_data, tmp_index):
            if tmp is not None and os.path.exists(tmp):
                os.remove(tmp)
    log(f"decoded {count} pictures from {folder} at {size}x{size}x{channels} into the picture "
        f"cache in {cache_dir}; skipped {len(paths) - count} unreadable files")
    return CachedImages(data_fd, (count, size, size, channels)), len(paths) - count


def cache_dir_of(cfg):
    """Where this run's picture cache is: --cache-dir, else <checkpoint-dir>/picture_cache;
    None for MNIST."""
    if cfg.dataset != "folder":
        return None
    return cfg.cache_dir or default_cache_dir(cfg.checkpoint_dir)
