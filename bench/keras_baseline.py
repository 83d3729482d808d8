"""The baseline for bench/benchmark.py: each script's graph written the modern way.

Keras models, a tf.function train step with GradientTape, tf.data input (shuffle, batch,
prefetch). Same layer shapes, batch size, optimizer and steps per iteration as our TF1 graphs.
Run as its own process (Keras does not work in a process that disabled eager execution):

    python bench/keras_baseline.py dcgan --steps 20 --warmup 5     # prints one JSON line
"""

# Flags are parsed before TensorFlow is imported, so --help and usage errors answer at once.
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan.flags import OneLineParser, bounded_int, positive_float  # noqa: E402

# Filled in by import_tensorflow() once the flags are good (eager execution stays on: Keras).
np = tf = keras = L = minibatch_stddev = None
PROG = "keras_baseline.py"


def import_tensorflow():
    global np, tf, keras, L, minibatch_stddev
    from gan import tf_quiet  # noqa: F401  (before TensorFlow: its start-up lines off the console)
    import numpy
    import tensorflow
    from tensorflow import keras as keras_
    from tensorflow.keras import layers as keras_layers
    from gan import layers  # plain tf ops, so Keras can call minibatch_stddev as well
    np, tf, keras, L = numpy, tensorflow, keras_, keras_layers
    minibatch_stddev = layers.minibatch_stddev


def leaky(alpha=0.2):
    return L.LeakyReLU(negative_slope=alpha)


def bn():
    return L.BatchNormalization(momentum=0.9, epsilon=1e-5)


def dcgan_models(z_dim):
    """dcgan.py's `stable` recipe (its default `info` adds with_code): the article's layers,
    leaky ReLU in G, mbstd in D."""
    g = keras.Sequential([
        keras.Input((z_dim,)), L.Dense(4 * 4 * 64), L.Reshape((4, 4, 64)), leaky(),
        L.Conv2DTranspose(32, 5, 2, "same", output_padding=0), leaky(),  # 7x7
        L.Conv2DTranspose(16, 5, 2, "same", output_padding=1), leaky(),  # 14x14
        L.Conv2DTranspose(1, 5, 2, "same", output_padding=1, activation="tanh")])  # 28x28
    d = keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(32, 5, 2, "same", activation="relu"),
        L.Conv2D(64, 5, 2, "same", activation="relu"), L.Lambda(minibatch_stddev), L.Flatten(),
        L.Dense(1)])
    return g, d


def with_code(g, d, z_dim):
    """The recipe change `code` (dcgan's and gan_mlp's default info recipe): G reads z's last
    10 entries as a one-hot code, and D's last dense layer gives 10 more logits, the code's (as
    the scripts' code head beside their real/fake logit). For bench/time_to_quality.py."""
    from gan.layers import CODE_SIZE, categorical_code
    g = keras.Sequential([keras.Input((z_dim,)), L.Lambda(categorical_code)] + g.layers)
    d = keras.Sequential([keras.Input((28, 28, 1))] + d.layers[:-1] + [L.Dense(1 + CODE_SIZE)])
    return g, d


def initialize_as_ours(model, stddev, bias_start):
    """Our layers' initial weights (layers.py): every kernel truncated N(0, stddev), every bias
    bias_start, instead of Keras's Glorot and zeros. For bench/time_to_quality.py."""
    for layer in model.layers:
        if getattr(layer, "kernel", None) is not None:
            layer.kernel.assign(keras.initializers.TruncatedNormal(stddev=stddev)(
                layer.kernel.shape))
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(tf.fill(layer.bias.shape, float(bias_start)))


def gan_mlp_models(z_dim):
    g = keras.Sequential([keras.Input((z_dim,))] + sum(
        [[L.Dense(u), leaky(), bn()] for u in (256, 512, 1024)], []) + [
        L.Dropout(0.5), L.Dense(784), L.Lambda(lambda x: tf.tanh(0.5 * x)),
        L.Reshape((28, 28, 1))])
    d = keras.Sequential([keras.Input((28, 28, 1)), L.Flatten()] + sum(
        [[L.Dense(u), leaky()] for u in (1024, 512, 256)], []) + [L.Dense(1)])
    return g, d


def lsgan_models(z_dim):
    """lsgan.py's default `stable` recipe: the article's layers, mbstd in D."""
    g = keras.Sequential([
        keras.Input((z_dim,)), L.Dense(1024, "relu"), bn(), L.Dense(7 * 7 * 128, "relu"), bn(),
        L.Reshape((7, 7, 128)), L.Conv2DTranspose(64, 4, 2, "same", activation="relu"), bn(),
        L.Conv2DTranspose(1, 4, 2, "same", activation="tanh")])
    d = keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(32, 5), leaky(0.01), L.MaxPool2D(2),
        L.Conv2D(64, 5), leaky(0.01), L.MaxPool2D(2), L.Lambda(minibatch_stddev), L.Flatten(),
        L.Dense(1024), leaky(0.01), L.Dense(1)])
    return g, d


def cgan_models(z_dim, width=1):
    """cgan.py's graph; width scales every hidden layer's channels (its --width)."""
    c = lambda n: max(1, int(n * width))
    z, y = keras.Input((z_dim,)), keras.Input((10,))
    h = L.Reshape((3, 3, c(512)))(L.Dense(3 * 3 * c(512))(L.Concatenate()([z, y])))
    h = L.ReLU()(bn()(h))
    for filters in (256, 128, 64):
        h = L.ReLU()(bn()(L.Conv2DTranspose(c(filters), 5, 2, "same", output_padding=1)(h)))
    g = keras.Model([z, y], L.Conv2DTranspose(1, 5, 1, "valid", activation="tanh")(h))
    x, y_map = keras.Input((28, 28, 1)), keras.Input((28, 28, 10))
    h = leaky()(L.Conv2D(c(64), 5, 2, "same")(L.Concatenate()([x, y_map])))
    for filters in (128, 256, 512):
        h = leaky()(bn()(L.Conv2D(c(filters), 5, 2, "same")(h)))
    d = keras.Model([x, y_map], L.Dense(1)(L.Flatten()(h)))
    return g, d


# name -> (models, batch, z_dim, learning rate, beta1 G, beta1 D, G steps, loss, conditional)
SETUPS = {
    "gan_mlp": ("gan_mlp_models", 100, 100, 2e-4, 0.5, 0.1, 1, "gan", False),
    "dcgan": ("dcgan_models", 64, 100, 2e-4, 0.5, 0.5, 1, "gan", False),
    "cgan": ("cgan_models", 100, 100, 2e-4, 0.5, 0.5, 2, "gan", True),
    "lsgan": ("lsgan_models", 128, 96, 1e-3, 0.5, 0.5, 1, "lsgan", False),
}


def losses(kind, real, fake):
    if kind == "lsgan":
        return (0.5 * tf.reduce_mean((real - 1) ** 2) + 0.5 * tf.reduce_mean(fake ** 2),
                0.5 * tf.reduce_mean((fake - 1) ** 2))
    ce = tf.nn.sigmoid_cross_entropy_with_logits
    return (tf.reduce_mean(ce(labels=tf.ones_like(real), logits=real))
            + tf.reduce_mean(ce(labels=tf.zeros_like(fake), logits=fake)),
            tf.reduce_mean(ce(labels=tf.ones_like(fake), logits=fake)))


def measure(name, steps, warmup, batch=None, cgan_width=1.0):
    builder, default_batch, z_dim, lr, beta1_g, beta1_d, g_steps, kind, conditional = SETUPS[name]
    build = globals()[builder]
    batch = batch or default_batch
    g, d = build(z_dim, cgan_width) if name == "cgan" else build(z_dim)
    g_opt = keras.optimizers.Adam(lr, beta_1=beta1_g)
    d_opt = keras.optimizers.Adam(lr, beta_1=beta1_d)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8192, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, 8192).astype(np.int32)
    data = (tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(8192).repeat()
            .batch(batch, drop_remainder=True)
            .map(lambda x, y: (tf.cast(x, tf.float32) / 127.5 - 1.0, y),
                 num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))

    def run_g(z, y):
        return g([z, tf.one_hot(y, 10)], training=True) if conditional else g(z, training=True)

    def run_d(x, y):
        if conditional:
            y_map = tf.tile(tf.one_hot(y, 10)[:, None, None, :], [1, 28, 28, 1])
            return d([x, y_map], training=True)
        return d(x, training=True)

    @tf.function
    def step(real, y):
        z = tf.random.uniform([batch, z_dim], -1, 1)
        with tf.GradientTape() as tape:
            d_loss, _ = losses(kind, run_d(real, y), run_d(run_g(z, y), y))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables),
                                  d.trainable_variables))
        for _ in range(g_steps):  # G's loss needs no D(real), as in our graph
            with tf.GradientTape() as tape:
                fake_logits = run_d(run_g(z, y), y)
                _, g_loss = losses(kind, fake_logits, fake_logits)
            g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables),
                                      g.trainable_variables))
        return d_loss, g_loss

    iterator = iter(data)
    for _ in range(warmup):
        step(*next(iterator))
    started = time.perf_counter()
    for _ in range(steps):
        result = step(*next(iterator))
    float(result[0])  # wait for the last step
    seconds = time.perf_counter() - started
    return dict(model=name, images_per_sec=steps * batch / seconds, step_ms=1000 * seconds / steps)


def main(argv=None):
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("model", choices=sorted(SETUPS), help="whose graph to rebuild in Keras")
    parser.add_argument("--steps", type=bounded_int(1), default=20,
                        help="timed iterations (default: %(default)s)")
    parser.add_argument("--warmup", type=bounded_int(0), default=5,
                        help="untimed iterations first, tracing included (default: %(default)s)")
    parser.add_argument("--batch-size", type=bounded_int(1), default=None,
                        help="default: the script's own")
    parser.add_argument("--cgan-width", type=positive_float, default=1.0,
                        help="cgan's --width (default: %(default)s)")
    args = parser.parse_args(argv)
    import_tensorflow()
    print(json.dumps(measure(args.model, args.steps, args.warmup, args.batch_size,
                             args.cgan_width)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
