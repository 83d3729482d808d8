"""A folder of the user's pictures, one picture at a time: which files are pictures (regular
files only: a symlink may lead out of the folder, and a FIFO would hang its decoder), and each
decoded as a viewer shows it (upright by its EXIF orientation, its full range of shades whatever
the mode), resized and center-cropped. data.py decodes a folder into memory with these, and
picture_cache.py into its cache on disk."""

import os
import signal
import stat

import numpy as np

PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def find_pictures(folder):
    """Every regular file under folder (subfolders too) with a picture extension, in a stable
    order, and how many such names were not regular files (symlinks, FIFOs, devices, sockets:
    a symlink may lead out of the folder, and a FIFO would hang its decoder). Symlinked
    subfolders are not entered."""
    found, refused = [], 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if not name.lower().endswith(PICTURE_EXTENSIONS) or name.startswith("."):
                continue
            path = os.path.join(root, name)
            try:
                regular = stat.S_ISREG(os.lstat(path).st_mode)
            except OSError:
                regular = False
            if regular:
                found.append(path)
            else:
                refused += 1
    return found, refused


SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")


def viewer_picture(picture, channels):
    """A PIL picture as a viewer shows it, in "L" (channels 1) or "RGB": upright (its EXIF
    orientation applied), 16-bit grayscale scaled to 0-255 (not clipped at 255), palette and
    1-bit pictures expanded, CMYK converted, and any transparency composited on white."""
    from PIL import Image, ImageOps
    picture = ImageOps.exif_transpose(picture)
    if picture.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(picture).astype(np.float64)
        picture = Image.fromarray(np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8), "L")
    elif picture.mode == "F":
        values = np.asarray(picture, np.float64)
        scale = 255.0 if values.size and np.nanmax(values) <= 1.0 else 1.0
        picture = Image.fromarray(np.clip(np.nan_to_num(values * scale), 0, 255
                                          ).astype(np.uint8), "L")
    if picture.mode == "P":
        picture = picture.convert("RGBA" if "transparency" in picture.info else "RGB")
    elif picture.mode in ("L", "RGB") and "transparency" in picture.info:
        picture = picture.convert("LA" if picture.mode == "L" else "RGBA")
    if picture.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        picture = picture.convert("RGBA")
        background = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(background, picture)
    return picture.convert("L" if channels == 1 else "RGB")


def open_regular(path):
    """A binary file object for path if it is a regular file (not followed through a symlink,
    never blocking on a FIFO), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return None


def decode_picture(path, size, channels):
    """One file -> uint8 [size, size, channels], resized and center-cropped, as a viewer shows
    it (viewer_picture); None if it is unreadable or not a regular file. A GIF gives its first
    frame. Running out of memory is not "unreadable": MemoryError goes to the caller."""
    from PIL import Image, ImageOps
    f = open_regular(path)
    if f is None:
        return None
    try:
        with f, Image.open(f) as picture:
            picture.seek(0)
            picture.load()
            picture = viewer_picture(picture, channels)
            picture = ImageOps.fit(picture, (size, size), Image.BICUBIC)
            array = np.asarray(picture, np.uint8)
    except MemoryError:
        raise
    except Exception:  # PIL raises many kinds for broken files; all mean "skip this one"
        return None
    return array[..., None] if channels == 1 else array


CHUNK = 16  # pictures a worker decodes per task


def decode_pictures(paths, size, channels):
    """decode_picture for each path: one task of the decoding pool."""
    return [decode_picture(path, size, channels) for path in paths]


def ignore_interrupts():
    """In decoding workers: Ctrl-C is the parent's to handle (it stops the pool), not theirs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
