"""The standard GAN loss, on the discriminator's raw scores (logits).

A loss here is a `Loss`: the function that turns D's scores on real and generated images into
(D's loss, G's loss), and how D's raw output reads as "how real" for the D(x) and D(G(z))
curves. A script declares the losses it offers in its `GanSpec.losses` (default: this one);
lsgan.py defines the least-squares loss next to its graph.
"""

import collections

import tensorflow as tf

Loss = collections.namedtuple("Loss", ["fn", "d_output"])


def gan_loss(real_logits, fake_logits):
    """Goodfellow's loss with the non-saturating G loss, from logits (no log(0)).

    d = -mean(log D(x) + log(1 - D(G(z)))),  g = -mean(log D(G(z))).
    """
    ce = tf.nn.sigmoid_cross_entropy_with_logits
    d_loss = (tf.reduce_mean(ce(labels=tf.ones_like(real_logits), logits=real_logits))
              + tf.reduce_mean(ce(labels=tf.zeros_like(fake_logits), logits=fake_logits)))
    g_loss = tf.reduce_mean(ce(labels=tf.ones_like(fake_logits), logits=fake_logits))
    return d_loss, g_loss


GAN = Loss(gan_loss, tf.sigmoid)  # D's output read as a probability
