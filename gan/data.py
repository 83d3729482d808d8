"""The training data, chosen in one place: MNIST's IDX files, or a folder of the user's pictures.

`load_training_data(kind, ...)` returns a `Dataset` of uint8 images [N, H, W, C] and int32
labels [N] for either source; nothing else in the repository branches on the data set.

MNIST comes from utils.load_mnist (the IDX files, fetched or rebuilt offline when absent).
"""

import dataclasses
import functools
import multiprocessing
import os
import sys
import threading

import numpy as np
from tqdm import tqdm

from gan import pictures
from gan.errors import DataError
from utils import holds_mnist, load_mnist

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
        f"skipped {skipped} unreadable files (broken, or not regular files)")
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

# The decoded pictures are held twice while training starts: this array, and the in-graph copy
# (graph.build_training's local variable) that the session fills from it.
COPIES_HELD = 2


def picture_memory_check(count, size, channels, folder):
    """Refuse, in one line, a folder whose decoded pictures would not fit in memory."""
    from gan import memory
    memory.check(COPIES_HELD * count * size * size * channels,
                 f"{count} pictures from {folder} at {size}x{size}x{channels} "
                 f"({memory.gib(count * size * size * channels)} decoded, held twice while "
                 f"training starts)",
                 "use fewer pictures, or a smaller --image-size (or --channels 1)")


def out_of_memory(count, size, channels, folder):
    from gan import memory
    return memory.OutOfMemory(
        f"ran out of memory decoding {count} pictures from {folder} at {size}x{size}x{channels} "
        f"({memory.gib(count * size * size * channels)}); use fewer pictures, or a smaller "
        f"--image-size (or --channels 1)")


def quiet_memory_errors(previous):
    """A threading.excepthook that says nothing for a MemoryError (collect() reports it as one
    line) and hands anything else to `previous`."""
    def hook(args):
        if not issubclass(args.exc_type, MemoryError):
            previous(args)
    return hook


def collect(results, pool, images, total):
    """Copy each task's decoded pictures into images, in order; the number of readable ones.
    Waits in short slices, so a pool whose result thread died (a MemoryError there) is noticed,
    not waited on forever."""
    kept = 0
    bar = tqdm(total=len(images), desc="decoding pictures", unit="picture", leave=False,
               file=sys.stdout)
    with bar:
        for _ in range(total):
            while True:
                try:
                    pictures = results.next(timeout=1.0)
                    break
                except multiprocessing.TimeoutError:
                    handler = getattr(pool, "_result_handler", None)
                    if handler is not None and not handler.is_alive():
                        raise MemoryError("the decoding pool's result thread stopped")
            for picture in pictures:
                if picture is not None:
                    images[kept] = picture
                    kept += 1
            bar.update(len(pictures))
    return kept


def load_picture_folder(folder, size, channels, workers=None):
    """(images uint8 [N, size, size, channels], number of files skipped: unreadable, or not
    regular files). The memory the pictures need is checked before any is decoded."""
    if not os.path.isdir(folder):
        raise DataError(f"--data-dir {folder} is not a folder; point it at a folder of pictures")
    paths, refused = pictures.find_pictures(folder)
    if not paths:
        raise DataError(f"no pictures ({', '.join(e[1:] for e in pictures.PICTURE_EXTENSIONS)}) found "
                        f"under {folder}; put them there (subfolders are fine"
                        f"{'; symlinks, FIFOs and devices are not read' if refused else ''})")
    picture_memory_check(len(paths), size, channels, folder)
    decode = functools.partial(pictures.decode_pictures, size=size, channels=channels)
    previous_hook = threading.excepthook
    threading.excepthook = quiet_memory_errors(previous_hook)  # the pool's threads: no traceback
    try:
        images = np.empty((len(paths), size, size, channels), np.uint8)
        pool = multiprocessing.Pool(workers or os.cpu_count(), initializer=pictures.ignore_interrupts)
        try:
            chunks = [paths[i:i + pictures.CHUNK] for i in range(0, len(paths), pictures.CHUNK)]
            kept = collect(pool.imap(decode, chunks), pool, images, len(chunks))
            pool.close()
        finally:
            handler = getattr(pool, "_result_handler", None)
            if handler is not None and not handler.is_alive():
                pool._cache.clear()  # its results will never come; terminate() asserts none wait
            pool.terminate()  # on Ctrl-C too: no worker traceback, no waiting for the rest
            pool.join()
    except MemoryError:
        raise out_of_memory(len(paths), size, channels, folder) from None
    finally:
        threading.excepthook = previous_hook
    if not kept:
        raise DataError(f"none of the {len(paths)} pictures under {folder} could be read")
    return images[:kept], len(paths) - kept + refused
