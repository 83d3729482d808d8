"""The training data, chosen in one place: MNIST's IDX files, or a folder of the user's pictures.

`load_training_data(kind, ...)` returns a `Dataset` of uint8 images [N, H, W, C] and int32
labels [N] for either source; nothing else in the repository branches on the data set.

MNIST comes from utils.load_mnist (the IDX files, fetched or rebuilt offline when absent).
"""

import dataclasses
import functools
import os
import signal
import sys

import numpy as np
from tqdm import tqdm

from gan.errors import DataError
from utils import holds_mnist, load_mnist

PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclasses.dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 [N, H, W, C]
    labels: np.ndarray  # int32 [N]; zeros for pictures
    description: str


def load_training_data(kind, data_dir, image_size=None, channels=None, log=print,
                       cache_dir=None, cache_named=False):
    """The one place that picks the source: `kind` is "mnist" or "folder". With cache_dir, a
    folder's pictures come from (or are first decoded into) picture_cache.py's cache there, and
    `images` reads rows from disk on demand instead of holding them all in memory."""
    if kind == "mnist":
        images, labels = load_mnist(data_dir, "train", log=log)
        return Dataset(images, labels.astype(np.int32), f"MNIST from {data_dir}")
    if cache_dir is not None:
        from gan import picture_cache
        images, _ = picture_cache.load(data_dir, image_size, channels, cache_dir,
                                       named=cache_named, log=log)
        return Dataset(images, np.zeros(len(images), np.int32),
                       f"{len(images)} pictures in {data_dir}")
    images, skipped = load_picture_folder(data_dir, image_size, channels)
    log(f"decoded {len(images)} pictures from {data_dir} at {image_size}x{image_size}x{channels}; "
        f"skipped {skipped} unreadable files")
    return Dataset(images, np.zeros(len(images), np.int32), f"{len(images)} pictures in {data_dir}")


def resolve_kind(requested, data_dir, default_dir):
    """--dataset auto: MNIST for the default folder or one that holds IDX files, else pictures."""
    if requested != "auto":
        return requested
    if os.path.abspath(data_dir) == os.path.abspath(default_dir) or holds_mnist(data_dir):
        return "mnist"
    return "folder"


# ---------------------------------------------------------------------------------------------
# A folder of the user's own pictures, decoded once (in parallel) into one uint8 array.

def find_pictures(folder):
    """Every file under folder (subfolders too) with a picture extension, in a stable order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files)
                  if f.lower().endswith(PICTURE_EXTENSIONS) and not f.startswith(".")]
    return found


def decode_picture(path, size, channels):
    """One file -> uint8 [size, size, channels], resized and center-cropped; None if unreadable.

    Palette, grayscale, RGBA and CMYK pictures are converted (transparency over white); a GIF
    gives its first frame."""
    from PIL import Image, ImageOps
    try:
        with Image.open(path) as picture:
            picture.seek(0)
            picture.load()
            if picture.mode in ("RGBA", "LA", "P", "PA"):
                picture = picture.convert("RGBA")
                background = Image.new("RGBA", picture.size, (255, 255, 255, 255))
                picture = Image.alpha_composite(background, picture)
            picture = picture.convert("L" if channels == 1 else "RGB")
            picture = ImageOps.fit(picture, (size, size), Image.BICUBIC)
            array = np.asarray(picture, np.uint8)
    except Exception:  # PIL raises many kinds for broken files; all mean "skip this one"
        return None
    return array[..., None] if channels == 1 else array


def ignore_interrupts():
    """In decoding workers: Ctrl-C is the parent's to handle (it stops the pool), not theirs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def load_picture_folder(folder, size, channels, workers=None):
    """(images uint8 [N, size, size, channels], number of unreadable files skipped)."""
    if not os.path.isdir(folder):
        raise DataError(f"--data-dir {folder} is not a folder; point it at a folder of pictures")
    paths = find_pictures(folder)
    if not paths:
        raise DataError(f"no pictures ({', '.join(e[1:] for e in PICTURE_EXTENSIONS)}) found "
                        f"under {folder}; put them there (subfolders are fine)")
    import multiprocessing
    decode = functools.partial(decode_picture, size=size, channels=channels)
    pool = multiprocessing.Pool(workers or os.cpu_count(), initializer=ignore_interrupts)
    try:
        decoded = list(tqdm(pool.imap(decode, paths, chunksize=16), total=len(paths),
                            desc="decoding pictures", unit="picture", leave=False,
                            file=sys.stdout))
        pool.close()
    finally:
        pool.terminate()  # on Ctrl-C too: no worker traceback, no waiting for the rest
        pool.join()
    images = [d for d in decoded if d is not None]
    if not images:
        raise DataError(f"none of the {len(paths)} pictures under {folder} could be read")
    return np.stack(images), len(paths) - len(images)
