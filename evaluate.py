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
from gan import data
from gan import metrics
from gan import sampling
from gan.errors import UsageError, UserError

v1 = tf.compat.v1
MODELS = ("gan_mlp", "dcgan", "cgan", "lsgan")  # the only modules a config.json may name
MIN_IMAGES = 2  # the Frechet distance needs a covariance


def train_classifier(data_dir, folder=metrics.CLASSIFIER_DIR, epochs=5, batch_size=100, seed=0):
    """Adam on the 60k training digits with a fixed seed and order, the rate cut tenfold for
    the last two epochs; prints test accuracy."""
    images, labels = data.load_mnist(data_dir, "train")
    test_images, test_labels = data.load_mnist(data_dir, "test")
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
    one of MODELS), on this machine's default device whatever the run trained on.

    last_weights: draw with G's last weights even if the run kept a moving average (--ema).
    guided: --refine / --reject flags, passed on as --generate takes them.
    Returns (images, their labels for cgan, ms per image)."""
    from gan.checkpoints import read_config
    raw = read_config(checkpoint_dir)
    if raw is None:
        raise UsageError(f"no config.json in {checkpoint_dir}: not a training run folder")
    model = raw.get("model") if isinstance(raw, dict) else None
    if model not in MODELS:
        raise UsageError(f"{checkpoint_dir}/config.json names the model {json.dumps(model)}; "
                         f"evaluate.py scores runs of {', '.join(MODELS)}")
    spec = importlib.import_module(model).SPEC
    flags, explicit, parser = config.parse(spec, ["--generate", "--checkpoint-dir", checkpoint_dir,
                                                  "--seed", str(seed), "--num-images", str(n),
                                                  *guided])
    saved = config.read_saved(parser, checkpoint_dir)
    values = config.merge_saved(spec, flags, explicit, saved)
    if values["dataset"] == "folder":
        raise UsageError(f"{checkpoint_dir} was trained on pictures, not MNIST digits; "
                         f"evaluate.py scores digits only")
    cfg = config.freeze(spec, values, explicit, log=log)
    if last_weights:
        cfg = cfg.replace(ema=0.0)
    labels = (np.arange(n) % 10) if spec.conditional else None
    return sampling.sample_from_checkpoint(spec, cfg, labels, log)


def images_from_file(path, log=print):
    """A .npy of digits in any common layout and range -> uint8 [N, 28, 28, 1]."""
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


def check_json_path(path):
    """--json is checked before any scoring, so a bad path does not waste the work."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--json {path} is a folder; give a file name, e.g. {path}/scores.json")
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
    parser = config.OneLineParser(prog="evaluate.py", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint-dir", help="a training run's folder, e.g. checkpoints/dcgan")
    parser.add_argument("--images", help="a .npy of images to score (layouts and ranges above)")
    parser.add_argument("--num-images", type=config.bounded_int(MIN_IMAGES, config.MAX_IMAGES),
                        default=10000, help="images generated from --checkpoint-dir")
    parser.add_argument("--seed", type=config.bounded_int(0, config.MAX_SEED), default=0,
                        help="seed of the generated z")
    parser.add_argument("--data-dir", default=config.DATA_DIR_DEFAULT, help="MNIST IDX files")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--last-weights", action="store_true",
                        help="with --checkpoint-dir of an --ema run: score G's last weights "
                             "instead of their moving average (what averaging adds)")
    config.add_guided_sampling_arguments(parser)
    parser.add_argument("--train-classifier", action="store_true",
                        help=f"train the classifier again into {metrics.CLASSIFIER_DIR}")
    cfg = parser.parse_args(argv)
    try:
        if cfg.train_classifier:
            accuracy = train_classifier(cfg.data_dir)
            return 0 if accuracy >= 0.99 else 1
        if not (cfg.checkpoint_dir or cfg.images):
            raise UsageError("pass --checkpoint-dir or --images (or --train-classifier)")
        if cfg.json:
            check_json_path(cfg.json)
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
        test_images, test_labels = data.load_mnist(cfg.data_dir, "test")
        classifier = metrics.Classifier()
        reference_features, _ = classifier(test_images)
        results = {"real MNIST test": metrics.score(test_images, classifier, reference_features,
                                                    test_labels.astype(np.int64))}
        for name, (images, labels) in scored.items():
            results[name] = metrics.score(images, classifier, reference_features, labels)
        print_results(results)
        if cfg.json:
            with open(cfg.json, "w") as f:
                json.dump(results, f, indent=2)
    except UserError as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return e.exit_code
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
