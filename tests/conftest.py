"""Shared fixtures: a tiny MNIST written as real IDX files, and output folders in tmp_path."""

import gzip
import os

import numpy as np
import pytest

import utils


def write_tiny_mnist(folder, n=128, seed=0):
    """n 28x28 images of bright squares whose position depends on the label, as IDX .gz files."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        top, left = 4 + (label // 5) * 10, 2 + (label % 5) * 5
        images[i, top:top + 8, left:left + 5] = rng.integers(180, 256)
    for prefix in ("train", "t10k"):
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            with open(os.path.join(folder, f"{prefix}-{kind}-ubyte.gz"), "wb") as f:
                f.write(gzip.compress(utils.encode_idx(array)))
    return images, labels


@pytest.fixture
def tiny_mnist(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_tiny_mnist(str(folder))
    return str(folder)


@pytest.fixture
def run_dirs(tmp_path, tiny_mnist):
    """Flags that point a script at the tiny data and at temp output folders."""
    return ["--data-dir", tiny_mnist, "--sample-dir", str(tmp_path / "samples"),
            "--checkpoint-dir", str(tmp_path / "checkpoints")]


FAST = ["--batch-size", "16", "--sample-every", "2", "--save-every", "2", "--log-every", "1"]


def make_config(spec, flags, num_examples=32):
    """A frozen config for spec from flags, as main() makes it for a new run of num_examples."""
    from gan import config
    cfg, explicit = config.new_run(spec, flags)
    return config.fit_to_data(cfg, explicit, num_examples)
