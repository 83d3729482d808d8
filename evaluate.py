"""Score generated digits with a fixed MNIST classifier: did the GAN make all ten digits?

    python evaluate.py --checkpoint-dir checkpoints/dcgan      # any script's checkpoint
    python evaluate.py --images samples/dcgan/generated.npy    # or saved uint8 images
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

The classifier (conv5 32, pool, conv5 64, pool, dense 128, dense 10) is trained by this script
with a fixed seed to >= 99% test accuracy, and its weights are committed under classifier/, so
every machine scores with the same one.
"""

import argparse
import importlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

import training
import utils
from layers import conv2d, dense

v1 = tf.compat.v1
CLASSIFIER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classifier")
PRESENT_SHARE = 0.02  # a digit counts as present at 2% of the images (uniform is 10%)
UNSURE_CONFIDENCE = 0.9  # below this the classifier is unsure; 1.7% of real test digits are


def classifier(images):
    """28x28x1 in [-1, 1] -> conv5 32 ReLU, pool -> conv5 64 ReLU, pool -> dense 128 -> 10 logits."""
    with v1.variable_scope("classifier", reuse=v1.AUTO_REUSE):
        h = tf.nn.max_pool2d(tf.nn.relu(conv2d(images, 32, "conv1", stride=1, stddev=0.1)), 2, 2,
                             "SAME")
        h = tf.nn.max_pool2d(tf.nn.relu(conv2d(h, 64, "conv2", stride=1, stddev=0.1)), 2, 2,
                             "SAME")
        features = tf.nn.relu(dense(tf.reshape(h, [-1, 7 * 7 * 64]), 128, "fc1", stddev=0.05))
        return features, dense(features, 10, "fc2", stddev=0.05)


class Classifier:
    """The committed classifier in a graph and session of its own."""

    def __init__(self, folder=CLASSIFIER_DIR):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = v1.placeholder(tf.uint8, [None, 28, 28, 1])
            features, logits = classifier(tf.cast(self.images, tf.float32) / 127.5 - 1.0)
            self.outputs = (features, tf.nn.softmax(logits))
            saver = v1.train.Saver(v1.global_variables())
        self.sess = v1.Session(graph=self.graph)
        path = os.path.join(folder, "classifier")
        if not os.path.exists(path + ".index"):
            raise training.UsageError(f"no classifier in {folder}; run "
                                      f"`python evaluate.py --train-classifier`")
        with self.graph.as_default():
            saver.restore(self.sess, path)

    def __call__(self, images, batch=1000):
        """uint8 [N, 28, 28, 1] -> (features [N, 128], probabilities [N, 10])."""
        parts = [self.sess.run(self.outputs, {self.images: images[i:i + batch]})
                 for i in range(0, len(images), batch)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def train_classifier(data_dir, folder=CLASSIFIER_DIR, epochs=5, batch_size=100, seed=0):
    """Adam on the 60k training digits with a fixed seed and order, the rate cut tenfold for
    the last two epochs; prints test accuracy."""
    images, labels = utils.load_mnist(data_dir, "train")
    test_images, test_labels = utils.load_mnist(data_dir, "test")
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(seed)
        x = v1.placeholder(tf.uint8, [None, 28, 28, 1])
        y = v1.placeholder(tf.int64, [None])
        _, logits = classifier(tf.cast(x, tf.float32) / 127.5 - 1.0)
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


# ---------------------------------------------------------------------------------------------
# Metrics

def mnist_score(probs):
    """exp(E_x KL(p(y|x) || p(y))): 1 for one class or pure guessing, 10 at most."""
    marginal = probs.mean(axis=0, keepdims=True)
    kl = (probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
    return float(np.exp(kl.mean()))


def frechet_distance(features_a, features_b):
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)), with the trace term from eigenvalues."""
    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    cov_a = np.cov(features_a, rowvar=False)
    cov_b = np.cov(features_b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    sqrt_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def unsure_pairs(probs, most=3):
    """Share of all images that the classifier is unsure of, by its two likeliest digits
    ("4/9": drawn between a 4 and a 9), the `most` commonest pairs first."""
    unsure = probs[probs.max(axis=1) < UNSURE_CONFIDENCE]
    two = np.sort(np.argsort(unsure, axis=1)[:, -2:], axis=1)
    pairs, counts = np.unique(two, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:most]
    return {f"{pairs[i][0]}/{pairs[i][1]}": round(float(counts[i]) / len(probs), 4) for i in order}


def score(images, classifier_, reference_features, requested=None):
    """Every figure for one set of uint8 images; `requested` labels for a conditional model."""
    features, probs = classifier_(images)
    predicted, confidence = probs.argmax(axis=1), probs.max(axis=1)
    histogram = np.bincount(predicted, minlength=10) / len(predicted)
    result = dict(
        n=len(images), mnist_score=mnist_score(probs),
        frechet=max(0.0, frechet_distance(features, reference_features)),
        digits_present=int((histogram >= PRESENT_SHARE).sum()),
        largest_share=float(histogram.max()), confidence=float(confidence.mean()),
        unsure_share=float((confidence < UNSURE_CONFIDENCE).mean()),
        unsure_pairs=unsure_pairs(probs), histogram=[round(float(h), 4) for h in histogram])
    if requested is not None:
        per_digit = [float((predicted[requested == d] == d).mean()) if (requested == d).any()
                     else None for d in range(10)]
        result["accuracy_per_digit"] = per_digit
        result["accuracy"] = float((predicted == requested).mean())
    return result


def images_from_checkpoint(checkpoint_dir, n, seed, last_weights=False):
    """Generate n images with whatever script wrote checkpoint_dir (read from its config.json).

    last_weights: draw with G's last weights even if the run kept a moving average (--ema)."""
    saved = training.read_run_config(checkpoint_dir)
    if saved is None:
        raise training.UsageError(f"no config.json in {checkpoint_dir}: not a training run folder")
    spec = importlib.import_module(saved["model"]).SPEC
    cfg, _ = training.parse_config(spec, [])  # defaults for settings older runs did not save
    vars(cfg).update(saved)
    if getattr(cfg, "dataset", "mnist") == "folder":
        raise training.UsageError(f"{checkpoint_dir} was trained on pictures, not MNIST digits; "
                                  f"evaluate.py scores digits only")
    cfg.checkpoint_dir, cfg.seed, cfg.num_images = checkpoint_dir, seed, n
    if last_weights:
        cfg.ema = 0.0
    cfg.device = training.validate_device(cfg.device)
    labels = (np.arange(n) % 10) if spec.conditional else None
    return training.sample_from_checkpoint(spec, cfg, labels), labels


def format_row(name, r):
    acc = f"{min(a for a in r['accuracy_per_digit'] if a is not None):.3f}" \
        if "accuracy_per_digit" in r else "-"
    return (f"{name:<28} {r['n']:>6} {r['mnist_score']:>7.3f} {r['frechet']:>9.3f} "
            f"{r['digits_present']:>7} {r['largest_share']:>8.3f} {r['confidence']:>6.3f} {acc:>9}")


HEADER = (f"{'images':<28} {'n':>6} {'score':>7} {'frechet':>9} {'digits':>7} {'largest':>8} "
          f"{'conf':>6} {'min acc':>9}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint-dir", help="a training run's folder, e.g. checkpoints/dcgan")
    parser.add_argument("--images", help="a .npy of uint8 [N, 28, 28, 1] images to score")
    parser.add_argument("--num-images", type=training.positive_int, default=10000,
                        help="images generated from --checkpoint-dir")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated z")
    parser.add_argument("--data-dir", default="MNIST_data", help="MNIST IDX files")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--last-weights", action="store_true",
                        help="with --checkpoint-dir of an --ema run: score G's last weights "
                             "instead of their moving average (what averaging adds)")
    parser.add_argument("--train-classifier", action="store_true",
                        help=f"train the classifier again into {CLASSIFIER_DIR}")
    cfg = parser.parse_args(argv)
    try:
        if cfg.train_classifier:
            accuracy = train_classifier(cfg.data_dir)
            return 0 if accuracy >= 0.99 else 1
        if not (cfg.checkpoint_dir or cfg.images):
            raise training.UsageError("pass --checkpoint-dir or --images (or --train-classifier)")
        test_images, test_labels = utils.load_mnist(cfg.data_dir, "test")
        classifier_ = Classifier()
        reference_features, _ = classifier_(test_images)
        results = {"real MNIST test": score(test_images, classifier_, reference_features,
                                            test_labels.astype(np.int64))}
        if cfg.images:
            try:
                images = np.load(cfg.images)
            except (OSError, ValueError) as e:
                raise training.UsageError(f"--images {cfg.images}: not a readable .npy ({e})")
            if images.dtype != np.uint8 or images.shape[1:] != (28, 28, 1):
                raise training.UsageError(f"--images {cfg.images}: need uint8 [N, 28, 28, 1], got "
                                          f"{images.dtype} {list(images.shape)}")
            results[os.path.basename(cfg.images)] = score(images, classifier_, reference_features)
        if cfg.checkpoint_dir:
            images, labels = images_from_checkpoint(cfg.checkpoint_dir, cfg.num_images, cfg.seed,
                                                    cfg.last_weights)
            name = cfg.checkpoint_dir + (" (last weights)" if cfg.last_weights else "")
            results[name] = score(images, classifier_, reference_features, labels)
    except (training.UsageError, utils.DataError) as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 2
    print(HEADER)
    for name, r in results.items():
        print(format_row(name, r))
    for i, (name, r) in enumerate(results.items()):
        between = ", ".join(f"{pair} {share:.1%}" for pair, share in r["unsure_pairs"].items())
        print(f"{name} unsure (confidence < {UNSURE_CONFIDENCE}): {r['unsure_share']:.1%}"
              + (f"; most between {between}" if between else ""))
        if i == 0:
            continue  # the real digits: their histogram and accuracy are the reference
        print(f"{name} histogram: {r['histogram']}")
        if "accuracy_per_digit" in r:
            print(f"{name} accuracy per digit: {[round(a, 3) for a in r['accuracy_per_digit']]}")
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
