"""DCGAN on MNIST, after article 000 (iT help "Tensorflow Day29: DCGAN with MNIST").

    python dcgan.py                      # train with the article's settings
    python dcgan.py --generate           # a grid of new digits from the newest checkpoint
    python dcgan.py --help               # every flag and its default

Bugs of the article fixed here (the graph is otherwise the article's):
- it fed MNIST in [0, 1] to a discriminator that also saw the generator's tanh output in
  [-1, 1]; both are in [-1, 1] here;
- it computed log(sigmoid(.)) by hand, which gives log(0) = -inf once D is sure; the same
  losses are computed from logits here.
"""

import training
from layers import conv2d, conv2d_transpose, dense

import tensorflow as tf

# The article's settings: batch 256, 100-d uniform z, Adam 1e-4 (TF's default beta1 0.9), 20k steps.
DEFAULTS = dict(steps=20000, batch_size=256, z_dim=100, learning_rate=1e-4, beta1=0.9,
                sample_every=500, save_every=1000)
ARTICLE_INIT = dict(stddev=0.1, bias_start=0.1)  # its weight_variable / bias_variable


def generator(z, labels, cfg, training):
    """z 100 -> dense 4*4*64 ReLU -> deconv5s2 7x7x32 ReLU -> 14x14x16 ReLU -> 28x28x1 tanh."""
    h = tf.nn.relu(dense(z, 4 * 4 * 64, "fc", **ARTICLE_INIT))
    h = tf.reshape(h, [-1, 4, 4, 64])
    h = tf.nn.relu(conv2d_transpose(h, (7, 7), 32, "deconv1", **ARTICLE_INIT))
    h = tf.nn.relu(conv2d_transpose(h, (14, 14), 16, "deconv2", **ARTICLE_INIT))
    return tf.nn.tanh(conv2d_transpose(h, (28, 28), 1, "deconv3", **ARTICLE_INIT))


def discriminator(images, labels, cfg, training):
    """28x28x1 -> conv5s2 32 ReLU -> conv5s2 64 ReLU -> dense 1 (logit)."""
    h = tf.nn.relu(conv2d(images, 32, "conv1", **ARTICLE_INIT))
    h = tf.nn.relu(conv2d(h, 64, "conv2", **ARTICLE_INIT))
    return dense(tf.reshape(h, [-1, 7 * 7 * 64]), 1, "fc", **ARTICLE_INIT)


SPEC = training.GanSpec(name="dcgan", generator=generator, discriminator=discriminator,
                        defaults=DEFAULTS)

if __name__ == "__main__":
    training.run(SPEC)
