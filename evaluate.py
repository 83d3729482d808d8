"""Score generated digits with a fixed MNIST classifier: did the GAN make all ten digits?

    python evaluate.py --checkpoint-dir checkpoints/dcgan      # any script's checkpoint
    python evaluate.py --images samples/dcgan/generated.npy    # or saved images
    python evaluate.py --train-classifier                      # rebuild classifier/ (about 2 min)

Reports, next to the same figures for real MNIST test images (the reference row):
- MNIST score: exp(E_x KL(p(y|x) || p(y))), the Inception-score analogue; 10 at most, high
  when every image is a confident digit and all ten digits are equally common;
- Frechet distance between the classifier's 128-d features of the images and of the MNIST
  test set (0 for identical distributions, lower is better);
- the predicted-class histogram and how many digits are present (a digit is present when at
  least 2% of the images are classified as it), the largest share (the mode-collapse alarm);
- mean confidence, and the share of images the classifier is unsure of (confidence below 0.9)
  with the pairs of digits they sit between ("4/9"): what holds a balanced run's score down;
- for cgan, the share classified as the requested digit, per digit.

--images takes a .npy of [N, 28, 28], [N, 28, 28, 1] or [N, 784] images: uint8 (0-255), or
floats in [0, 1] or [-1, 1] (the range it assumed is printed).
"""

import argparse
import importlib
import json
import os
import sys

from gan import tf_quiet  # noqa: F401  (before TensorFlow: keeps its start-up lines off the console)
import numpy as np
import tensorflow as tf

from gan import config
from gan import metrics
from gan import sampling
from gan.errors import UsageError, UserError
from gan.files import WriteFailed, atomic_write_bytes, same_or_inside
from gan.flags import SCRIPTS, CommandLine, bounded_int
import utils

v1 = tf.compat.v1
MIN_IMAGES = 2  # the Frechet distance needs a covariance


def train_classifier(data_dir, folder=metrics.CLASSIFIER_DIR, epochs=5, batch_size=100, seed=0):
    """Adam on the 60k training digits with a fixed seed and order, the rate cut tenfold for
    the last two epochs; prints test accuracy."""
    images, labels = utils.load_mnist(data_dir, "train")
    test_images, test_labels = utils.load_mnist(data_dir, "test")
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(seed)
        x = v1.placeholder(tf.uint8, [None, 28, 28, 1])
        y = v1.placeholder(tf.int64, [None])
        _, logits = metrics.classifier(tf.cast(x, tf.float32) / 127.5 - 1.0)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        learning_rate = v1.placeholder(tf.float32, [])
        step = v1.train.AdamOptimizer(learning_rate).minimize(loss)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.int32))
        saver = v1.train.Saver(v1.trainable_variables("classifier"))
        init = v1.global_variables_initializer()
    rng = np.random.default_rng(seed)
    with v1.Session(graph=graph) as sess:
        sess.run(init)
        for epoch in range(epochs):
            order = rng.permutation(len(images))
            for i in range(0, len(order) - batch_size + 1, batch_size):
                idx = order[i:i + batch_size]
                rate = 1e-3 if epoch < epochs - 2 else 1e-4
                sess.run(step, {x: images[idx], y: labels[idx], learning_rate: rate})
            hits = sum(sess.run(correct, {x: test_images[i:i + 1000], y: test_labels[i:i + 1000]})
                       for i in range(0, len(test_images), 1000))
            accuracy = hits / len(test_images)
            print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f}")
        os.makedirs(folder, exist_ok=True)
        saver.save(sess, os.path.join(folder, "classifier"), write_meta_graph=False,
                   write_state=False)
    return accuracy


def images_from_checkpoint(checkpoint_dir, n, seed, last_weights=False, log=print, guided=()):
    """Generate n images with whatever script wrote checkpoint_dir (named in its config.json,
    one of SCRIPTS), on this machine's default device whatever the run trained on.

    last_weights: draw with G's last weights even if the run kept a moving average (--ema).
    guided: --refine / --reject flags, passed on as --generate takes them.
    Returns (images, their labels for cgan, ms per image)."""
    from gan.checkpoints import read_config
    raw = read_config(checkpoint_dir)
    if raw is None:
        raise UsageError(f"no config.json in {checkpoint_dir}: not a training run folder")
    model = raw.get("model") if isinstance(raw, dict) else None
    if model not in SCRIPTS:
        raise UsageError(f"{checkpoint_dir}/config.json names the model {json.dumps(model)}; "
                         f"evaluate.py scores runs of {', '.join(SCRIPTS)}")
    spec = importlib.import_module(model).SPEC
    flags, explicit, cli = config.parse(spec, ["--generate", "--checkpoint-dir", checkpoint_dir,
                                               "--seed", str(seed), "--num-images", str(n),
                                               *guided])
    saved = config.read_saved(cli, checkpoint_dir)
    values = config.merge_saved(spec, flags, explicit, saved)
    if values["dataset"] == "folder":
        raise UsageError(f"{checkpoint_dir} was trained on pictures, not MNIST digits; "
                         f"evaluate.py scores digits only")
    cfg = config.freeze(spec, values, explicit, log=log)
    if cfg.reject or (cfg.refine and cfg.shape_steps):
        config.check_saved_data_dir(cfg, explicit, log)
    if last_weights:
        cfg = cfg.replace(ema=0.0)
    labels = (np.arange(n) % 10) if spec.conditional else None
    return sampling.sample_from_checkpoint(spec, cfg, labels, log)


def images_from_file(path, log=print):
    """A .npy of digits in any common layout and range -> uint8 [N, 28, 28, 1]."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise UsageError(f"--images {path}: cannot read it ({e.strerror})")
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise UsageError(f"--images {path}: not a .npy file (it does not start as one); save the "
                         f"images with np.save, e.g. the generated.npy beside generated.png")
    too_many = lambda shape: UsageError(f"--images {path}: {list(shape)} is more than "
                                        f"{10 * config.MAX_IMAGES} digits; score a part of it")
    try:  # the header first: one that promises terabytes is refused before mapping or allocating
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                f.seek(0)
                version = np.lib.format.read_magic(f)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape = read(f)[0]
                if int(np.prod(shape, dtype=object)) > 10 * config.MAX_IMAGES * 784:
                    raise too_many(shape)
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as e:
        raise UsageError(f"--images {path}: not a readable .npy file ({str(e).splitlines()[0]})")
    if not isinstance(array, np.ndarray):
        raise UsageError(f"--images {path}: an .npz archive, not one .npy array; save the images "
                         f"with np.save")
    if array.size > 10 * config.MAX_IMAGES * 784:
        raise too_many(array.shape)
    array = np.array(array)
    shape = list(array.shape)
    if array.ndim == 2 and shape[1] == 784:
        array = array.reshape(-1, 28, 28, 1)
    elif array.ndim == 3 and shape[1:] == [28, 28]:
        array = array[..., None]
    if array.ndim != 4 or list(array.shape[1:]) != [28, 28, 1]:
        raise UsageError(f"--images {path}: need [N, 28, 28], [N, 28, 28, 1] or [N, 784] images, "
                         f"got {shape}")
    if len(array) < MIN_IMAGES:
        raise UsageError(f"--images {path}: {len(array)} image(s); need at least {MIN_IMAGES}")
    if array.dtype == np.uint8:
        if array.max() <= 1:
            log(f"warning: --images {path} is uint8 with values 0-1 only; if that means [0, 1], "
                f"multiply by 255 first")
        return array
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
        raise UsageError(f"--images {path}: {array.dtype} images; use uint8 or floats")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise UsageError(f"--images {path}: holds NaN or infinite values")
    low, high = array.min(), array.max()
    if low >= 0 and high <= 1:
        log(f"--images {path}: {array.dtype} in [0, 1], read as 0 = black, 1 = white")
        return np.round(array * 255).astype(np.uint8)
    if low >= -1 and high <= 1:
        log(f"--images {path}: values in [-1, 1], read as the generators' tanh range")
        return np.round((array + 1) * 127.5).astype(np.uint8)
    if low >= 0 and high <= 255:
        return np.round(array).astype(np.uint8)
    raise UsageError(f"--images {path}: values from {low:g} to {high:g}; use 0-255, [0, 1] or "
                     f"[-1, 1]")


def check_json_path(path, cfg):
    """--json is checked before any scoring, so a bad path does not waste the work; it is never
    one of the command's inputs (the --images file, a file in --checkpoint-dir, --data-dir or
    the classifier's folder)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not path.strip():
        raise UsageError("--json needs a file name, e.g. scores.json")
    if os.path.isdir(path):
        raise UsageError(f"--json {path} is a folder; give a file name, e.g. {path}/scores.json")
    if cfg.images and os.path.realpath(path) == os.path.realpath(cfg.images):
        raise UsageError(f"--json {path} is the --images file this command reads; give another "
                         f"file name")
    for flag, read in (("--checkpoint-dir", cfg.checkpoint_dir), ("--data-dir", cfg.data_dir),
                       ("the classifier folder", metrics.CLASSIFIER_DIR)):
        if read and same_or_inside(path, read):
            raise UsageError(f"--json {path} lies in {flag} {read}, which this command reads; "
                             f"write it elsewhere")
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"--json {path}: cannot write in {folder}; choose another path")


def format_row(name, r):
    acc = f"{min(a for a in r['accuracy_per_digit'] if a is not None):.3f}" \
        if "accuracy_per_digit" in r else "-"
    return (f"{name:<28} {r['n']:>6} {r['mnist_score']:>7.3f} {r['frechet']:>9.3f} "
            f"{r['digits_present']:>7} {r['largest_share']:>8.3f} {r['confidence']:>6.3f} {acc:>9}")


HEADER = (f"{'images':<28} {'n':>6} {'score':>7} {'frechet':>9} {'digits':>7} {'largest':>8} "
          f"{'conf':>6} {'min acc':>9}")


def print_results(results):
    print(HEADER)
    for name, r in results.items():
        print(format_row(name, r))
    for i, (name, r) in enumerate(results.items()):
        between = ", ".join(f"{pair} {share:.1%}" for pair, share in r["unsure_pairs"].items())
        print(f"{name} unsure (confidence < {metrics.UNSURE_CONFIDENCE}): {r['unsure_share']:.1%}"
              + (f"; most between {between}" if between else ""))
        if i == 0:
            continue  # the real digits: their histogram and accuracy are the reference
        print(f"{name} histogram: {r['histogram']}")
        if "accuracy_per_digit" in r:
            print(f"{name} accuracy per digit: {[round(a, 3) for a in r['accuracy_per_digit']]}")


def main(argv=None):
    cli = CommandLine("evaluate.py", __doc__.split("\n")[0])
    what = cli.group("what to score")
    cli.add(what, "--checkpoint-dir", help="a training run's folder, e.g. checkpoints/dcgan")
    cli.add(what, "--images", metavar="NPY",
            help="a .npy of images to score, e.g. --generate's generated.npy: [N, 28, 28], "
                 "[N, 28, 28, 1] or [N, 784]; uint8 0-255, or floats in [0, 1] or [-1, 1] (the "
                 "range it assumed is printed)")
    cli.add(what, "--num-images", 10000, type=bounded_int(MIN_IMAGES, config.MAX_IMAGES),
            help="images generated from --checkpoint-dir")
    cli.add(what, "--seed", 0, type=bounded_int(0, config.MAX_SEED),
            help="seed of the generated z")
    cli.add(what, "--data-dir", config.DATA_DIR_DEFAULT, help="MNIST's IDX files")
    cli.add(what, "--json", help="also write the figures to this JSON file")
    cli.add(what, "--last-weights", False, action="store_true",
            help="with --checkpoint-dir of an --ema run: score G's last weights instead of "
                 "their moving average (what averaging adds)")
    advanced = cli.group("advanced", "sampling with the run's own discriminator, as --generate")
    config.add_guided_sampling_arguments(cli, what, advanced)
    cli.add(advanced, "--train-classifier", False, action="store_true",
            help=f"train the classifier again into {metrics.CLASSIFIER_DIR}")
    cfg = argparse.Namespace(**cli.parse(argv)[0])
    try:
        if cfg.train_classifier:
            accuracy = train_classifier(cfg.data_dir)
            return 0 if accuracy >= 0.99 else 1
        if not (cfg.checkpoint_dir or cfg.images):
            raise UsageError("pass --checkpoint-dir or --images (or --train-classifier)")
        if cfg.json is not None:
            check_json_path(cfg.json, cfg)
        scored = {}
        if cfg.images:
            scored[os.path.basename(cfg.images)] = (images_from_file(cfg.images), None)
        if cfg.checkpoint_dir:
            guided = [f"--refine={cfg.refine}", f"--refine-rate={cfg.refine_rate}",
                      f"--refine-layer={cfg.refine_layer}",
                      f"--reject-percentile={cfg.reject_percentile}"] + (
                          ["--reject"] if cfg.reject else []) + (
                          [f"--shape-steps={cfg.shape_steps}"] if cfg.shape_steps else []) + (
                          [f"--shape-rate={cfg.shape_rate}"]  # typed: checked by the script
                          if cfg.shape_rate != config.SHAPE_RATE_DEFAULT else [])
            name = cfg.checkpoint_dir + (" (last weights)" if cfg.last_weights else "") + (
                f" refine {cfg.refine}" if cfg.refine else " reject" if cfg.reject else "") + (
                f" shape {cfg.shape_steps}" if cfg.refine and cfg.shape_steps else "")
            images, labels, milliseconds = images_from_checkpoint(
                cfg.checkpoint_dir, cfg.num_images, cfg.seed, cfg.last_weights, guided=guided)
            print(f"{name}: {milliseconds:.2f} ms per generated image")
            scored[name] = (images, labels)
        test_images, test_labels = utils.load_mnist(cfg.data_dir, "test")
        classifier = metrics.Classifier()
        reference_features, _ = classifier(test_images)
        results = {"real MNIST test": metrics.score(test_images, classifier, reference_features,
                                                    test_labels.astype(np.int64))}
        for name, (images, labels) in scored.items():
            results[name] = metrics.score(images, classifier, reference_features, labels)
        print_results(results)
        if cfg.json is not None:  # whole or not at all: a failure leaves the old file
            atomic_write_bytes(cfg.json, json.dumps(results, indent=2).encode())
    except UserError as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return e.exit_code
    except WriteFailed as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"evaluate.py: error: {e.strerror or e}: {e.filename or cfg.json or ''}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("evaluate.py: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    v1.disable_eager_execution()
    sys.exit(main())
