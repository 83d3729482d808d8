"""Both losses pinned on hand-computed values."""

import numpy as np
import tensorflow as tf

import lsgan
from gan import losses


def evaluate(fn, real, fake):
    return [float(v) for v in fn(tf.constant(real, tf.float32), tf.constant(fake, tf.float32))]


def test_least_squares_loss_by_hand():
    # d = 0.5*mean((s_r-1)^2) + 0.5*mean(s_f^2) = 0.5*(1+0)/2 + 0.5*(4+0.25)/2 = 0.25 + 1.0625
    # g = 0.5*mean((s_f-1)^2) = 0.5*(1+2.25)/2 = 0.8125
    d, g = evaluate(lsgan.least_squares_loss, [[0.0], [1.0]], [[2.0], [-0.5]])
    assert np.isclose(d, 1.3125) and np.isclose(g, 0.8125)


def test_gan_loss_by_hand():
    # logits 0 -> sigmoid 0.5: each cross-entropy term is log 2.
    d, g = evaluate(losses.gan_loss, [[0.0]], [[0.0]])
    assert np.isclose(d, 2 * np.log(2)) and np.isclose(g, np.log(2))
    # real logit 2, fake logit -1: d = log(1+e^-2) + log(1+e^-1), g = log(1+e^1)
    d, g = evaluate(losses.gan_loss, [[2.0]], [[-1.0]])
    assert np.isclose(d, np.log1p(np.exp(-2)) + np.log1p(np.exp(-1)), atol=1e-6)
    assert np.isclose(g, np.log1p(np.exp(1)), atol=1e-6)


def test_gan_loss_from_logits_stays_finite_when_d_is_sure():
    d, g = evaluate(losses.gan_loss, [[100.0]], [[-100.0]])
    assert np.isfinite(d) and np.isfinite(g) and np.isclose(g, 100.0)
