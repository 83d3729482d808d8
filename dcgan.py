"""DCGAN on MNIST, after article 000 (iT help "Tensorflow Day29: DCGAN with MNIST").

    python dcgan.py                      # train with the article's settings
    python dcgan.py --generate           # a grid of new digits from the newest checkpoint
    python dcgan.py --help               # every flag and its default
    python dcgan.py --data-dir pics/     # your own pictures (article 003), 64x64 RGB

On MNIST this is article 000's graph. On a folder of pictures it is the DCGAN paper's shape
that article 003 (DreamSeeker1/DCGAN) follows: z projected to 4x4 with many channels, then
stride-2 transposed convolutions with BN and ReLU up to --image-size (16 to 256; each size is
one stride-2 layer more or less) and tanh; D mirrors it with stride-2 convolutions, BN and
leaky ReLU. Every picture under the folder (jpg, png, bmp, gif, webp; subfolders too) is
decoded once, in parallel, resized and center-cropped, and kept in memory as uint8.

Bugs of the article fixed here (the graph is otherwise the article's):
- it fed MNIST in [0, 1] to a discriminator that also saw the generator's tanh output in
  [-1, 1]; both are in [-1, 1] here;
- it computed log(sigmoid(.)) by hand, which gives log(0) = -inf once D is sure; the same
  losses are computed from logits here.
"""

import tensorflow as tf

import training
from layers import batch_norm, conv2d, conv2d_transpose, dense, lrelu

# The article's settings: batch 256, 100-d uniform z, Adam 1e-4 (TF's default beta1 0.9), 20k steps.
DEFAULTS = dict(steps=20000, batch_size=256, z_dim=100, learning_rate=1e-4, beta1=0.9,
                sample_every=500, save_every=1000, recipe="article")
ARTICLE_INIT = dict(stddev=0.1, bias_start=0.1)  # its weight_variable / bias_variable
DCGAN_INIT = dict(stddev=0.02, bias_start=0.0)   # the DCGAN paper's N(0, 0.02)
PICTURE_LAYERS = {16: 2, 32: 3, 64: 4, 128: 5, 256: 6}  # stride-2 layers between 4x4 and the size


def add_arguments(parser):
    parser.add_argument("--base-channels", type=training.positive_int, default=64,
                        help="channels of D's first and G's last hidden layer (folder only)")
    parser.add_argument("--recipe", choices=("article", "stable"),
                        help="article: the article's exact graph; stable: the same layers and "
                             "channels with the DCGAN paper's batch norm in G, leaky ReLU in D "
                             "and N(0, 0.02) init (see README, Measured)")


def generator(z, labels, cfg, training_):
    """z 100 -> dense 4*4*64 ReLU -> deconv5s2 7x7x32 ReLU -> 14x14x16 ReLU -> 28x28x1 tanh.

    stable recipe: batch norm before every ReLU."""
    stable = cfg.recipe == "stable"
    init = DCGAN_INIT if stable else ARTICLE_INIT
    norm = (lambda h, name: batch_norm(h, training_, name)) if stable else (lambda h, name: h)
    h = tf.reshape(dense(z, 4 * 4 * 64, "fc", **init), [-1, 4, 4, 64])
    h = tf.nn.relu(norm(h, "bn0"))
    h = tf.nn.relu(norm(conv2d_transpose(h, (7, 7), 32, "deconv1", **init), "bn1"))
    h = tf.nn.relu(norm(conv2d_transpose(h, (14, 14), 16, "deconv2", **init), "bn2"))
    return tf.nn.tanh(conv2d_transpose(h, (28, 28), 1, "deconv3", **init))


def discriminator(images, labels, cfg, training_):
    """28x28x1 -> conv5s2 32 ReLU -> conv5s2 64 ReLU -> dense 1 (logit).

    stable recipe: leaky ReLU (0.2) instead of ReLU."""
    stable = cfg.recipe == "stable"
    init = DCGAN_INIT if stable else ARTICLE_INIT
    activation = lrelu if stable else tf.nn.relu
    h = activation(conv2d(images, 32, "conv1", **init))
    h = activation(conv2d(h, 64, "conv2", **init))
    return dense(tf.reshape(h, [-1, 7 * 7 * 64]), 1, "fc", **init)


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
                        defaults=DEFAULTS, add_arguments=add_arguments, picture_folders=True,
                        arch_flags=("recipe", "base_channels"))

if __name__ == "__main__":
    training.run(SPEC)
