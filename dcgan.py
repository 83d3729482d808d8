"""DCGAN on MNIST, after article 000 (iT help "Tensorflow Day29: DCGAN with MNIST").

    python dcgan.py                      # the info recipe: 10k steps, batch 64, Adam 2e-3
    python dcgan.py --recipe article --batch-size 256 --learning-rate 1e-4 --beta1 0.9 \
        --steps 20000 --ema 0            # the article's exact graph and settings
    python dcgan.py --generate           # a grid of new digits from the newest checkpoint
    python dcgan.py --generate --code 3  # InfoGAN's code held at 3 (--code-grid: a row per value)
    python dcgan.py --data-dir pics/ --checkpoint-dir checkpoints/pics  # your own pictures
                                         # (article 003), 64x64 RGB; samples in samples/pics

Bugs of the article fixed in every recipe:
- it fed MNIST in [0, 1] to a discriminator that also saw the generator's tanh output in
  [-1, 1]; both are in [-1, 1] here;
- it computed log(sigmoid(.)) by hand, which gives log(0) = -inf once D is sure; the same
  losses are computed from logits here.

The article's graph collapses with its settings (it saw only the digit 1; measured here too,
see docs/RESULTS.md). What fixed that in the ablation (docs/RESULTS.md) was the optimizer: Adam with
beta1 0.5 and a learning rate of 1e-3 or more (with beta1 0.9, or at 2e-4, it collapsed). The
`stable` recipe keeps the article's layers and channels and adds the two graph changes that
measurably helped on top: a minibatch-standard-deviation feature in D, which lets D see that a
batch is all alike, and leaky ReLU in G; with Adam 2e-3 / beta1 0.5, and samples drawn from a
moving average of G's weights (--ema 0.999). The default `info` recipe adds InfoGAN's
categorical code to it: G takes the one-hot of the argmax of z's last 10 entries, and a head
on D learns to recover it, so G no longer has to draw between two digits (MNIST score 8.27 ->
9.21 and 9.27 for seeds 0 and 1; unsure samples 20% -> 7% and 5%).

On a folder of pictures it is the DCGAN paper's shape that article 003 (DreamSeeker1/DCGAN)
follows: z projected to 4x4 with many channels, then stride-2 transposed convolutions with BN
and ReLU up to --image-size (16 to 256; each size is one stride-2 layer more or less) and tanh;
D mirrors it with stride-2 convolutions, BN and leaky ReLU. Every picture under the folder (jpg,
png, bmp, gif, webp; subfolders too) is decoded once, in parallel, resized and center-cropped,
and kept in memory as uint8; unreadable files are skipped and counted.
"""

from gan import tf_quiet  # noqa: F401  (before TensorFlow: keeps its start-up lines off the console)
import tensorflow as tf

from gan import training
from gan.flags import bounded_int
from gan.layers import (batch_norm, categorical_code, conv2d, conv2d_transpose, dense, lrelu,
                    minibatch_stddev, with_code_head)

# The article's settings were batch 256, Adam 1e-4 (TF's default beta1 0.9), 20k steps; its graph
# collapses with them (see docs/RESULTS.md). The defaults are the stable recipe's; the article's
# run is: --recipe article --batch-size 256 --learning-rate 1e-4 --beta1 0.9 --steps 20000 --ema 0
DEFAULTS = dict(steps=10000, batch_size=64, z_dim=100, learning_rate=2e-3, beta1=0.5, ema=0.999,
                sample_every=500, save_every=1000, recipe="info")
ARTICLE_INIT = dict(stddev=0.1, bias_start=0.1)  # its weight_variable / bias_variable
DCGAN_INIT = dict(stddev=0.02, bias_start=0.0)   # the DCGAN paper's N(0, 0.02)
PICTURE_LAYERS = {16: 2, 32: 3, 64: 4, 128: 5, 256: 6}  # stride-2 layers between 4x4 and the size


RECIPE_CHANGES = {  # each change the default recipe makes to the article's graph, by name
    "bn": "batch norm before each of G's ReLUs",
    "lrelu": "leaky ReLU (0.2) instead of ReLU in D",
    "init": "weights N(0, 0.02) and zero biases instead of N(0, 0.1) and 0.1",
    "mbstd": "D sees the batch's spread (minibatch standard deviation, Karras et al. 2018)",
    "wide": "twice the channels in every hidden layer of G and D",
    "glrelu": "leaky ReLU (0.2) instead of ReLU in G, so its units cannot die",
    "code": "a 10-way categorical code (z's last 10 entries, given to G one-hot) and a head on D "
            "that recovers it (InfoGAN, Chen et al. 2016), so G need not draw between digits",
}
# info (the default): stable plus InfoGAN's code, 9.21 and 9.27 against stable's 8.27 (seeds 0
# and 1, docs/RESULTS.md). Runs saved as "stable" keep meaning stable.
RECIPES = {"article": (), "stable": ("mbstd", "glrelu"), "info": ("mbstd", "glrelu", "code")}


# --base-channels by device kind: the article's 64 on a GPU; on a CPU half of it, which trains
# about 3.5x the images per second and, in 10 minutes, better pictures (docs/RESULTS.md)
PICTURE_WIDTH = {"cpu": 32, "gpu": 64}


def add_arguments(cli, group):
    cli.add(group, "--base-channels", None, type=bounded_int(1, 4096),
            shown=", ".join(f"{width} on a {kind.upper()}" for kind, width in PICTURE_WIDTH.items()),
            help="channels of D's first and G's last hidden layer (folder only)")


def generator(z, labels, cfg, training_):
    """z 100 -> dense 4*4*64 ReLU -> deconv5s2 7x7x32 ReLU -> 14x14x16 ReLU -> 28x28x1 tanh.

    Recipe change "bn": batch norm before every ReLU."""
    init = DCGAN_INIT if "init" in cfg.changes else ARTICLE_INIT
    norm = ((lambda h, name: batch_norm(h, training_, name)) if "bn" in cfg.changes
            else (lambda h, name: h))
    relu = lrelu if "glrelu" in cfg.changes else tf.nn.relu
    k = 2 if "wide" in cfg.changes else 1
    if "code" in cfg.changes:
        z = categorical_code(z)
    h = tf.reshape(dense(z, 4 * 4 * 64 * k, "fc", **init), [-1, 4, 4, 64 * k])
    h = relu(norm(h, "bn0"))
    h = relu(norm(conv2d_transpose(h, (7, 7), 32 * k, "deconv1", **init), "bn1"))
    h = relu(norm(conv2d_transpose(h, (14, 14), 16 * k, "deconv2", **init), "bn2"))
    return tf.nn.tanh(conv2d_transpose(h, (28, 28), 1, "deconv3", **init))


def discriminator(images, labels, cfg, training_):
    """28x28x1 -> conv5s2 32 ReLU -> conv5s2 64 ReLU -> dense 1 (logit).

    Recipe change "lrelu": leaky ReLU (0.2) instead of ReLU."""
    init = DCGAN_INIT if "init" in cfg.changes else ARTICLE_INIT
    activation = lrelu if "lrelu" in cfg.changes else tf.nn.relu
    k = 2 if "wide" in cfg.changes else 1
    h = activation(conv2d(images, 32 * k, "conv1", **init))
    h = activation(conv2d(h, 64 * k, "conv2", **init))
    if "mbstd" in cfg.changes:
        h = minibatch_stddev(h)
    features = tf.reshape(h, [-1, 7 * 7 * h.shape[-1]])
    logit = dense(features, 1, "fc", **init)
    return with_code_head(logit, features, "code", **init) if "code" in cfg.changes else logit


def picture_generator(z, cfg, training_):
    """z -> dense 4x4x(8b) BN ReLU -> deconv5s2 (channels halve, BN ReLU) ... -> size x size x C tanh."""
    layers = PICTURE_LAYERS[cfg.image_size]
    channels = cfg.base_channels * 2 ** (layers - 1)
    h = tf.reshape(dense(z, 4 * 4 * channels, "fc"), [-1, 4, 4, channels])
    h = tf.nn.relu(batch_norm(h, training_, "bn0"))
    size = 4
    for i in range(1, layers):
        size, channels = size * 2, channels // 2
        h = tf.nn.relu(batch_norm(conv2d_transpose(h, (size, size), channels, f"deconv{i}"),
                                  training_, f"bn{i}"))
    size *= 2
    return tf.nn.tanh(conv2d_transpose(h, (size, size), cfg.channels, f"deconv{layers}"))


def picture_discriminator(images, cfg, training_):
    """size x size x C -> conv5s2 b lrelu -> conv5s2 2b BN lrelu ... -> 4x4 -> dense 1."""
    h = lrelu(conv2d(images, cfg.base_channels, "conv1"))
    for i in range(2, PICTURE_LAYERS[cfg.image_size] + 1):
        h = lrelu(batch_norm(conv2d(h, cfg.base_channels * 2 ** (i - 1), f"conv{i}"),
                             training_, f"bn{i}"))
    return dense(tf.reshape(h, [-1, 4 * 4 * h.shape[-1]]), 1, "fc")


def pick_generator(z, labels, cfg, training_):
    if cfg.dataset == "folder":
        return picture_generator(z, cfg, training_)
    return generator(z, labels, cfg, training_)


def pick_discriminator(images, labels, cfg, training_):
    if cfg.dataset == "folder":
        return picture_discriminator(images, cfg, training_)
    return discriminator(images, labels, cfg, training_)


SPEC = training.GanSpec(name="dcgan", generator=pick_generator, discriminator=pick_discriminator,
                        defaults=DEFAULTS, add_arguments=add_arguments,
                        picture_sizes=tuple(PICTURE_LAYERS), recipes=RECIPES,
                        recipe_changes=RECIPE_CHANGES, arch_flags=("recipe", "base_channels"),
                        device_defaults={"base_channels": PICTURE_WIDTH})

if __name__ == "__main__":
    training.run(SPEC)
