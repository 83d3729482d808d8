"""GAN losses on the discriminator's raw scores (logits), shared by the scripts."""

import tensorflow as tf


def gan_loss(real_logits, fake_logits):
    """Goodfellow's loss with the non-saturating G loss, from logits (no log(0)).

    d = -mean(log D(x) + log(1 - D(G(z)))),  g = -mean(log D(G(z))).
    """
    ce = tf.nn.sigmoid_cross_entropy_with_logits
    d_loss = (tf.reduce_mean(ce(labels=tf.ones_like(real_logits), logits=real_logits))
              + tf.reduce_mean(ce(labels=tf.zeros_like(fake_logits), logits=fake_logits)))
    g_loss = tf.reduce_mean(ce(labels=tf.ones_like(fake_logits), logits=fake_logits))
    return d_loss, g_loss


def least_squares_loss(real_scores, fake_scores):
    """LSGAN (Mao et al. 2017) with targets 1 for real and 0 for fake, on raw scores.

    d = 0.5 mean((s_real - 1)^2) + 0.5 mean(s_fake^2),  g = 0.5 mean((s_fake - 1)^2).
    """
    d_loss = 0.5 * tf.reduce_mean(tf.square(real_scores - 1.0)) + 0.5 * tf.reduce_mean(
        tf.square(fake_scores))
    g_loss = 0.5 * tf.reduce_mean(tf.square(fake_scores - 1.0))
    return d_loss, g_loss


LOSSES = {"gan": gan_loss, "lsgan": least_squares_loss}  # the --loss choices


# D's output as its loss reads it, for the D(x) and D(G(z)) curves: a probability for the
# cross-entropy loss, the raw score (target 1 for real, 0 for fake) for least squares.
D_OUTPUT = {"gan": tf.sigmoid, "lsgan": tf.identity}
