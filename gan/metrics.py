"""How good are generated digits: a fixed MNIST classifier and the scores built on it.

Used by evaluate.py and by training's --eval-every. The classifier (conv5 32, pool, conv5 64,
pool, dense 128, dense 10) is trained by `evaluate.py --train-classifier` with a fixed seed to
>= 99% test accuracy; its weights are committed under classifier/, so every machine scores with
the same one.
"""

import os

from gan import tf_quiet  # noqa: F401  (before TensorFlow)
import numpy as np
import tensorflow as tf

from gan.errors import UsageError
from gan.layers import conv2d, dense

v1 = tf.compat.v1
CLASSIFIER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "classifier")
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
        path = os.path.join(folder, "classifier")
        if not os.path.exists(path + ".index"):
            raise UsageError(f"no classifier in {folder}; run "
                             f"`python evaluate.py --train-classifier`")
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = v1.placeholder(tf.uint8, [None, 28, 28, 1])
            features, logits = classifier(tf.cast(self.images, tf.float32) / 127.5 - 1.0)
            self.outputs = (features, tf.nn.softmax(logits))
            saver = v1.train.Saver(v1.global_variables())
            self.sess = v1.Session(graph=self.graph)
            try:
                from gan.checkpoints import plain_prefix
                with plain_prefix(path) as plain:  # TensorFlow globs the prefix
                    saver.restore(self.sess, plain)
            except (tf.errors.OpError, ValueError) as e:
                raise UsageError(f"the classifier in {folder} is damaged ({type(e).__name__}); "
                                 f"restore it with `git checkout classifier/`, or run "
                                 f"`python evaluate.py --train-classifier`")

    def __call__(self, images, batch=1000):
        """uint8 [N, 28, 28, 1] -> (features [N, 128], probabilities [N, 10])."""
        parts = [self.sess.run(self.outputs, {self.images: images[i:i + batch]})
                 for i in range(0, len(images), batch)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


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
    if not len(unsure):
        return {}
    two = np.sort(np.argsort(unsure, axis=1)[:, -2:], axis=1)
    pairs, counts = np.unique(two, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:most]
    return {f"{pairs[i][0]}/{pairs[i][1]}": round(float(counts[i]) / len(probs), 4) for i in order}


def score(images, classifier_, reference_features, requested=None):
    """Every figure for one set of uint8 images (two at least); `requested` labels for cgan."""
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
