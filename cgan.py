"""Conditional DCGAN on MNIST: ask for a digit, get that digit. After article 001 (CSDN notes).

    python cgan.py                              # train: 6k iterations at a quarter width
    python cgan.py --width 1 --steps 60000      # the article's full-size run
    python cgan.py --generate --digit 7         # a grid of sevens from the newest checkpoint
    python cgan.py --generate --digit 1,3,5     # a block of rows per requested digit

The label enters D as a 28x28x10 one-hot map concatenated to the image, and G as a one-hot
vector concatenated to z. One D step, then two G steps per iteration, as in the article.
Sample grids are 10x10 from a fixed z: row i is digit i.

Another program can restore the saved meta graph and generate by tensor name, as the
article's second program does: feed `noise:0` [N, z_dim], `y_noise:0` [N, 10] one-hot and
`is_training:0` (False), fetch `generator/g/Tanh:0` (see tests/test_scripts.py).

Differences from the article: its contrib batch_norm is rebuilt on tf.nn with the same decay
(0.9) and the same rule (batch statistics when training, moving ones when not); batches and
noise are drawn in the graph instead of fed, with the same shapes and distributions; samples
come from a moving average of G's weights (--ema 0.999; --ema 0 for the article's last weights).
"""

from gan import tf_quiet  # noqa: F401  (before TensorFlow: keeps its start-up lines off the console)
import tensorflow as tf

from gan import training
from gan.flags import positive_float_upto
from gan.layers import batch_norm, conv2d, conv2d_transpose, dense, label_input, lrelu

# The article's run is --width 1 --steps 60000: about 1.1 s an iteration on a 2-core CPU (18 h).
# A quarter of its channels trains about 10x faster. Sampling from G's averaged weights (--ema)
# raised the lowest per-digit accuracy from 96.6% (nines) to 98.8% (sevens; docs/RESULTS.md).
DEFAULTS = dict(steps=6000, batch_size=100, z_dim=100, learning_rate=2e-4, beta1=0.5,
                ema=0.999, sample_every=500, save_every=1000, width=0.25)
BN_DECAY = 0.9


def add_arguments(cli, group):
    cli.add(group, "--width", None, type=positive_float_upto(16),
            help="scales every hidden layer's channels; 1 is the article's (512..64), 0.25 "
                 "trains about 10x faster on a CPU")


def channels(cfg, n):
    return max(1, int(round(n * cfg.width)))


def generator(z, labels, cfg, training_):
    """[z, y] -> dense 3x3x512 BN ReLU -> deconv5s2 256 -> 128 -> 64 (BN ReLU) -> deconv5s1 VALID 1 tanh."""
    top = channels(cfg, 512)
    digit = label_input(tf.one_hot(labels, 10))  # [N, 10]; --walk-digits feeds soft ones
    h = dense(tf.concat([z, digit], axis=1), 3 * 3 * top, "fc")
    h = tf.nn.relu(batch_norm(tf.reshape(h, [-1, 3, 3, top]), training_, "bn0", BN_DECAY))
    for i, (size, filters) in enumerate(((6, 256), (12, 128), (24, 64)), start=1):
        h = conv2d_transpose(h, (size, size), channels(cfg, filters), f"deconv{i}")
        h = tf.nn.relu(batch_norm(h, training_, f"bn{i}", BN_DECAY))
    with tf.compat.v1.variable_scope("g"):  # output tensor: generator/g/Tanh
        return tf.nn.tanh(conv2d_transpose(h, (28, 28), 1, "deconv", stride=1, padding="VALID"))


def discriminator(images, labels, cfg, training_):
    """[x, y map] 28x28x11 -> conv5s2 64 lrelu -> 128, 256, 512 (BN lrelu) -> dense 1."""
    label_map = tf.tile(tf.one_hot(labels, 10)[:, None, None, :], [1, 28, 28, 1])
    h = lrelu(conv2d(tf.concat([images, label_map], axis=3), channels(cfg, 64), "conv1"))
    for i, filters in enumerate((128, 256, 512), start=2):
        h = lrelu(batch_norm(conv2d(h, channels(cfg, filters), f"conv{i}"), training_, f"bn{i}",
                             BN_DECAY))
    return dense(tf.reshape(h, [-1, 2 * 2 * h.shape[-1]]), 1, "fc")


SPEC = training.GanSpec(name="cgan", generator=generator, discriminator=discriminator,
                        defaults=DEFAULTS, add_arguments=add_arguments, arch_flags=("width",),
                        conditional=True, g_steps=2)

if __name__ == "__main__":
    training.run(SPEC)
