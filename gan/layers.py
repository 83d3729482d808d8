"""Graph building blocks on tf.nn and get_variable (TF 2.16+ has no tf.layers or tf.contrib).

Every helper creates its variables with tf.compat.v1.get_variable inside its own variable scope,
so calling a network a second time under `reuse=tf.AUTO_REUSE` shares them.

`training` is either a Python bool (the training graph: batch statistics, moving-average
updates put in UPDATE_OPS) or a bool tensor such as the `is_training` placeholder of the sampler
(batch or moving statistics chosen at run time, no updates).
"""

import tensorflow as tf

from gan import distributed

v1 = tf.compat.v1
LAYER_OUTPUTS = "layer_outputs"  # each dense / transposed conv's output, for refinement


LABEL_INPUTS = "label_inputs"  # G's one-hot label input, fed with a blend by --walk-digits


def label_input(one_hot):
    """Record G's one-hot label input, so that sampling can feed a blend of two digits."""
    v1.add_to_collection(LABEL_INPUTS, one_hot)
    return one_hot


def layer_output(y):
    """Record a layer's output (before its activation) so that sampling can refine it."""
    v1.add_to_collection(LAYER_OUTPUTS, y)
    return y


def normal_init(stddev):
    return v1.truncated_normal_initializer(stddev=stddev)


def dense(x, units, scope, stddev=0.02, bias_start=0.0, spectral_norm=False):
    """[N, D] -> [N, units]; with spectral_norm, w is divided by its largest singular value."""
    with v1.variable_scope(scope):
        w = v1.get_variable("w", [x.shape[-1], units], initializer=normal_init(stddev))
        b = v1.get_variable("b", [units], initializer=v1.constant_initializer(bias_start))
        if spectral_norm:
            w = spectrally_normalized(w)
        return layer_output(tf.matmul(x, w) + b)


def spectrally_normalized(w):
    """w / sigma(w), sigma estimated by one power-iteration step per call from a kept vector u
    (Miyato et al. 2018, "Spectral normalization for GANs"): each layer's linear map gets
    spectral norm 1, which bounds how fast D's output can change with its input."""
    u = v1.get_variable("sn_u", [1, w.shape[-1]], initializer=v1.random_normal_initializer(),
                        trainable=False, aggregation=v1.VariableAggregation.ONLY_FIRST_REPLICA)
    v = tf.math.l2_normalize(tf.matmul(u, w, transpose_b=True))
    u_next = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(v, w)))
    sigma = tf.reduce_sum(tf.matmul(tf.stop_gradient(v), w) * u_next)
    with tf.control_dependencies([u.assign(u_next)]):
        return w / sigma


def conv2d(x, filters, scope, kernel=5, stride=2, padding="SAME", stddev=0.02, bias_start=0.0):
    """[N, H, W, C] -> [N, H/stride, W/stride, filters] (SAME) or the VALID shrink."""
    with v1.variable_scope(scope):
        w = v1.get_variable("w", [kernel, kernel, x.shape[-1], filters],
                            initializer=normal_init(stddev))
        b = v1.get_variable("b", [filters], initializer=v1.constant_initializer(bias_start))
        return tf.nn.conv2d(x, w, [1, stride, stride, 1], padding) + b


def conv2d_transpose(x, out_hw, filters, scope, kernel=5, stride=2, padding="SAME", stddev=0.02,
                     bias_start=0.0):
    """[N, h, w, C] -> [N, out_hw[0], out_hw[1], filters], with the output shape spelled out
    as TF1 code did (so 7 -> 14 -> 28 and 4 -> 7 both work)."""
    with v1.variable_scope(scope):
        w = v1.get_variable("w", [kernel, kernel, filters, x.shape[-1]],
                            initializer=normal_init(stddev))
        b = v1.get_variable("b", [filters], initializer=v1.constant_initializer(bias_start))
        output_shape = tf.stack([tf.shape(x)[0], out_hw[0], out_hw[1], filters])
        y = tf.nn.conv2d_transpose(x, w, output_shape, [1, stride, stride, 1], padding)
        y = tf.reshape(y, [-1, out_hw[0], out_hw[1], filters])  # static shape for later layers
        return layer_output(y + b)


def batch_norm(x, training, scope, decay=0.9, epsilon=1e-5, scale=True):
    """Batch norm over every axis but the last, with moving averages for inference.

    Image tensors use the fused kernel (one op instead of about ten, as Keras does)."""
    with v1.variable_scope(scope):
        channels = x.shape[-1]
        beta = v1.get_variable("beta", [channels], initializer=v1.zeros_initializer())
        gamma = (v1.get_variable("gamma", [channels], initializer=v1.ones_initializer())
                 if scale else tf.ones([channels]))
        moving_mean = v1.get_variable("moving_mean", [channels], trainable=False,
                                      initializer=v1.zeros_initializer())
        moving_var = v1.get_variable("moving_variance", [channels], trainable=False,
                                     initializer=v1.ones_initializer())

        def with_batch_statistics():
            if len(x.shape) == 4:
                y, mean, var = v1.nn.fused_batch_norm(x, gamma, beta, epsilon=epsilon,
                                                      is_training=True)
                return y, mean, var
            mean, var = tf.nn.moments(x, list(range(len(x.shape) - 1)))
            return tf.nn.batch_normalization(x, mean, var, beta, gamma, epsilon), mean, var

        def with_moving_statistics():
            if len(x.shape) == 4:
                return v1.nn.fused_batch_norm(x, gamma, beta, moving_mean, moving_var,
                                              epsilon=epsilon, is_training=False)[0]
            return tf.nn.batch_normalization(x, moving_mean, moving_var, beta, gamma, epsilon)

        if training is True:
            y, mean, var = with_batch_statistics()
            for moving, value in ((moving_mean, mean), (moving_var, var)):
                update_moving_average(moving, value, decay)
            return y
        if training is False:
            return with_moving_statistics()
        return tf.cond(training, lambda: with_batch_statistics()[0], with_moving_statistics)


def update_moving_average(moving, value, decay):
    """moving -= (1 - decay) * (moving - value), put in UPDATE_OPS, after any earlier update of
    the same statistic: a D called on real and on generated images updates it twice a step,
    and two unordered updates give a result that depends on which thread ran first."""
    key = "moving_average_updates/" + moving.op.name
    value = distributed.mean_statistic(value)  # several workers: their average (equal copies)
    with tf.control_dependencies(v1.get_collection(key)[-1:]):
        update = v1.assign_sub(moving, (1.0 - decay) * (moving - value))
    v1.add_to_collection(key, update)
    v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, update)


CODE_SIZE = 10  # InfoGAN's categorical code: one of 10


def categorical_code(z):
    """z with its last CODE_SIZE entries replaced by the one-hot of their argmax: uniform noise
    makes that a uniform 10-way code, so samplers need not know the code exists."""
    code = tf.one_hot(tf.argmax(z[:, -CODE_SIZE:], axis=1), CODE_SIZE)
    return tf.concat([z[:, :-CODE_SIZE], code], axis=1)


def with_code_head(logit, features, scope, **init):
    """D's output under the recipe change `code`: column 0 its real-or-fake logit, columns 1-10
    the logits of G's code read from D's last hidden features (graph.split_code_head)."""
    return tf.concat([logit, dense(features, CODE_SIZE, scope, **init)], axis=1)


def lrelu(x, alpha=0.2):
    """Leaky ReLU as the TF1 articles wrote it, max(x, alpha x). (tf.nn.leaky_relu after a
    convolution makes TensorFlow's remapper fail with an `E0000 ... Mutation::Apply error`
    line: it fuses convolution, bias and activation although the activation's gradient needs
    the sum it removed; the graph then runs without any of that pass's fusions.)"""
    return tf.maximum(x, alpha * x)


def dropout(x, rate, training, seed):
    """Dropout with a stateless seed, so a resumed run draws the same masks it would have."""
    if training is False or rate == 0:
        return x
    dropped = tf.nn.experimental.stateless_dropout(x, rate, seed=seed)
    return dropped if training is True else tf.cond(training, lambda: dropped, lambda: x)


def minibatch_stddev(h):
    """Append one channel holding the batch's mean feature spread, so D can tell a collapsed
    batch (all samples alike) from a real one and G is pushed to vary its samples
    (Karras et al. 2018)."""
    mean, variance = tf.nn.moments(h, axes=[0])
    spread = tf.reduce_mean(tf.sqrt(variance + 1e-8))
    return tf.concat([h, tf.ones_like(h[..., :1]) * spread], axis=-1)
