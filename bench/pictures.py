"""Which bounds a picture-folder run: decoding the pictures, or training on them?

    .venv/bin/python bench/pictures.py                          # 1,000 synthetic 250x250 JPEGs
    .venv/bin/python bench/pictures.py --data-dir ~/faces       # your own folder

Prints images/s of the input pipeline alone (decode, resize, center-crop; done once at start,
in parallel) and of training dcgan.py's 64x64 graph on the decoded images (in-graph batches,
as in a real run). Decoding runs once per run while training reads the in-memory copy every
step, so a run is bound by training unless decoding is slower than training per image.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from PIL import Image

import dcgan
import training
import utils

v1 = tf.compat.v1


def synthetic_folder(folder, count, size=250):
    rng = np.random.default_rng(0)
    for i in range(count):
        smooth = rng.integers(0, 256, (size // 10, size // 10, 3), dtype=np.uint8)
        picture = Image.fromarray(smooth).resize((size, size), Image.BILINEAR)
        picture.save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def training_speed(images, image_size, batch_size, steps, warmup):
    cfg, _ = training.parse_config(dcgan.SPEC, ["--image-size", str(image_size),
                                                "--batch-size", str(batch_size)])
    cfg.device, cfg.dataset = training.validate_device(None), "folder"
    graph = tf.Graph()
    with graph.as_default(), tf.device(cfg.device):
        v1.train.get_or_create_global_step()
        ops = training.build_training(dcgan.SPEC, cfg, len(images), images.shape[1:])
        init = [v1.global_variables_initializer(), v1.local_variables_initializer()]
    with v1.Session(graph=graph, config=training.session_config(cfg)) as sess:
        labels = np.zeros(len(images), np.int32)
        sess.run(init, {ops["images_in"]: images, ops["labels_in"]: labels})
        sess.run(ops["reshuffle"])
        for i in range(warmup + steps):
            if i == warmup:
                started = time.perf_counter()
            training.train_step(sess, ops, dcgan.SPEC.g_steps)
        return steps * batch_size / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", help="a folder of pictures; default: synthetic JPEGs")
    parser.add_argument("--count", type=int, default=1000, help="synthetic pictures")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.data_dir or scratch
        if not args.data_dir:
            synthetic_folder(folder, args.count)
        started = time.perf_counter()
        images, skipped = utils.load_picture_folder(folder, args.image_size, 3)
        decode = len(images) / (time.perf_counter() - started)
    print(f"machine: {os.cpu_count()} cores, TensorFlow {tf.__version__}")
    print(f"pipeline (decode + resize + crop, {os.cpu_count()} processes): {decode:.0f} images/s "
          f"({len(images)} pictures, {skipped} skipped)")
    train = training_speed(images, args.image_size, args.batch_size, args.steps, args.warmup)
    print(f"training dcgan {args.image_size}x{args.image_size}x3, batch {args.batch_size}: "
          f"{train:.0f} images/s")
    print(f"bound by: {'training' if train < decode else 'the input pipeline'} "
          f"(decoding happens once per run, training every step)")


if __name__ == "__main__":
    main()
