"""DCGAN with the least-squares loss (LSGAN), after article 002 (nickiwei, CS231n style).

    python lsgan.py                  # 3 epochs with the least-squares loss, stable recipe
    python lsgan.py --recipe article --ema 0    # the article's exact graph and sampling
    python lsgan.py --loss gan       # the article's plain DCGAN loss on the same graph
    python lsgan.py --generate       # new digits from the newest checkpoint

Beyond the article, each measured (docs/RESULTS.md): samples are drawn with a moving average
of G's weights (--ema 0.999: Frechet distance 34 instead of 53 from the same run), and the
default `stable` recipe gives D a minibatch-standard-deviation feature before its dense layers,
so that it sees when a batch is too alike (Frechet distance 34 -> 16, the scarcest digit
5.6% -> 7.8%; MNIST score 8.81 -> 8.98).

Losses, on D's raw scores s (no sigmoid): `least_squares_loss` below, the article's subject,
    LSGAN: d = 0.5 mean((s_real - 1)^2) + 0.5 mean(s_fake^2),  g = 0.5 mean((s_fake - 1)^2)
and, with --loss gan, gan/losses.py's sigmoid cross-entropy on logits (d: real->1, fake->0;
g: fake->1), the loss the other scripts train with.

Bug of the article fixed here: its tf.layers.batch_normalization calls never set
training=True, so G's batch norm ran in inference mode with moving averages that never moved
(an identity map); here BN uses batch statistics when training and keeps moving averages.
"""

from gan import tf_quiet  # noqa: F401  (before TensorFlow: keeps its start-up lines off the console)
import tensorflow as tf

from gan import training
from gan.losses import GAN, Loss
from gan.layers import (batch_norm, categorical_code, conv2d, conv2d_transpose, dense, lrelu,
                    minibatch_stddev, with_code_head)

DEFAULTS = dict(epochs=3, batch_size=128, z_dim=96, learning_rate=1e-3, beta1=0.5,
                loss="lsgan", ema=0.999, sample_every=250, save_every="epoch", recipe="stable")
LEAK = 0.01  # CS231n's leaky ReLU slope


def least_squares_loss(real_scores, fake_scores):
    """LSGAN (Mao et al. 2017) with targets 1 for real and 0 for fake, on D's raw scores.

    d = 0.5 mean((s_real - 1)^2) + 0.5 mean(s_fake^2),  g = 0.5 mean((s_fake - 1)^2).
    """
    d_loss = 0.5 * tf.reduce_mean(tf.square(real_scores - 1.0)) + 0.5 * tf.reduce_mean(
        tf.square(fake_scores))
    g_loss = 0.5 * tf.reduce_mean(tf.square(fake_scores - 1.0))
    return d_loss, g_loss


# --loss choices: the article's subject, and its plain DCGAN loss on the same graph. D's raw
# score is what the least-squares loss pulls to 1 (real) and 0 (generated).
LOSSES = {"lsgan": Loss(least_squares_loss, tf.identity), "gan": GAN}
RECIPE_CHANGES = {
    "mbstd": "D sees the batch's spread (minibatch standard deviation) before its dense layers",
    "code": "a 10-way categorical code (z's last 10 entries, given to G one-hot) and a head on D "
            "that recovers it (InfoGAN, Chen et al. 2016), so G need not draw between digits",
}
RECIPES = {"article": (), "stable": ("mbstd",), "info": ("mbstd", "code")}


def generator(z, labels, cfg, training_):
    """z 96 -> dense 1024 ReLU BN -> dense 7x7x128 ReLU BN -> deconv4s2 64 ReLU BN -> deconv4s2 1 tanh.

    Recipe change "code": z's last 10 entries become the one-hot of their argmax."""
    if "code" in cfg.changes:
        z = categorical_code(z)
    h = batch_norm(tf.nn.relu(dense(z, 1024, "fc1")), training_, "bn1")
    h = batch_norm(tf.nn.relu(dense(h, 7 * 7 * 128, "fc2")), training_, "bn2")
    h = tf.reshape(h, [-1, 7, 7, 128])
    h = batch_norm(tf.nn.relu(conv2d_transpose(h, (14, 14), 64, "deconv1", kernel=4)),
                   training_, "bn3")
    return tf.nn.tanh(conv2d_transpose(h, (28, 28), 1, "deconv2", kernel=4))


def discriminator(images, labels, cfg, training_):
    """28x28x1 -> conv5 VALID 32 lrelu, maxpool2 -> conv5 VALID 64 lrelu, maxpool2 -> 1024 lrelu -> 1."""
    h = lrelu(conv2d(images, 32, "conv1", stride=1, padding="VALID"), LEAK)
    h = tf.nn.max_pool2d(h, 2, 2, "VALID")
    h = lrelu(conv2d(h, 64, "conv2", stride=1, padding="VALID"), LEAK)
    h = tf.nn.max_pool2d(h, 2, 2, "VALID")
    if "mbstd" in cfg.changes:
        h = minibatch_stddev(h)
    h = lrelu(dense(tf.reshape(h, [-1, 4 * 4 * h.shape[-1]]), 1024, "fc1"), LEAK)
    logit = dense(h, 1, "fc2")
    return with_code_head(logit, h, "code") if "code" in cfg.changes else logit


SPEC = training.GanSpec(name="lsgan", generator=generator, discriminator=discriminator,
                        defaults=DEFAULTS, recipes=RECIPES, recipe_changes=RECIPE_CHANGES,
                        arch_flags=("recipe",), losses=LOSSES)

if __name__ == "__main__":
    training.run(SPEC)
