"""Time to quality: evaluate.py's MNIST score against training seconds, ours beside two others.

    python bench/time_to_quality.py --plot docs/time_to_quality.png      # about 20 minutes
    python bench/time_to_quality.py --models dcgan --seconds 30 --eval-every 10

benchmark.py compares images/s; what a user waits for is good digits. Here, in one run on one
machine, one contestant after another (each in its own process: Keras cannot run where the TF1
graphs disabled eager execution), each trains on MNIST for --seconds of training time:
- `ours MODEL`: the script's default run (`python MODEL.py`'s flags, --ema included), its
  graph and loop as training.py runs it (graph.build, graph.train_step, a reshuffle per epoch);
- `keras MODEL`: the same model in bench/keras_baseline.py (Keras models, a tf.function step
  with GradientTape, tf.data), with the script's defaults: batch, loss, Adam rate and betas,
  our layers' initial weights, the same D-then-G update and the same weight average of G;
- `tf tutorial`: the TensorFlow DCGAN tutorial's model and train step as it publishes them
  (tensorflow.org/tutorials/generative/dcgan: batch 256, Adam 1e-4, no weight average).
Every --eval-every training seconds and at the end the clock stops, 2,000 samples are drawn
from a fixed z (numpy --seed; uniform as the scripts draw it, normal for the tutorial) and
scored as --eval-every does (metrics.py: MNIST score and Frechet distance to the test set).
The first step's set-up (graph optimization, tf.function tracing) counts as training time.
Prints a markdown table and, last, the ratio of seconds to reach --target (ours / keras).
"""

# Flags are parsed before TensorFlow is imported, so --help and usage errors answer at once.
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import children  # noqa: E402
from benchmark import add_models_flag, run_config  # noqa: E402  (no TensorFlow at import)
from gan.flags import (SCRIPTS, OneLineParser, bounded_int, exit_with_error,  # noqa: E402
                       positive_float_upto)

MODELS = tuple(s for s in SCRIPTS if s != "cgan")  # the unconditional ones
TUTORIAL = "tf tutorial"
DATA_DIR = "MNIST_data"
PROG = "time_to_quality.py"


def parse_args(argv):
    parser = OneLineParser(prog=PROG, description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_models_flag(parser, MODELS)
    parser.add_argument("--seconds", type=bounded_int(1), default=120,
                        help="training seconds per contestant (default: %(default)s)")
    parser.add_argument("--eval-every", type=bounded_int(1), default=20,
                        help="training seconds between scores (default: %(default)s)")
    parser.add_argument("--seed", type=bounded_int(0, 2 ** 31 - 1), default=0,
                        help="seed of the runs and of the scored z (default: %(default)s)")
    parser.add_argument("--target", type=positive_float_upto(10), default=8.0,
                        help="the MNIST score whose arrival is timed (default: %(default)s)")
    parser.add_argument("--plot", metavar="PNG", default=None,
                        help="draw score against seconds into this new PNG file")
    parser.add_argument("--child", choices=contestants(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)  # where --child writes its points
    args = parser.parse_args(argv)
    if args.child and not args.json:
        parser.error("--child runs one contestant for the parent and needs --json")
    return args


def contestants(models):
    return [f"{kind} {name}" for name in models for kind in ("ours", "keras")] + [TUTORIAL]


def check_plot_path(path):
    """--plot is checked before any training; an existing file is never written over."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.lexists(path):
        exit_with_error(PROG, f"--plot {path} exists; pass a new path or delete it first")
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        exit_with_error(PROG, f"--plot {path}: cannot write in {folder}; create the folder or "
                              f"choose another path")


# ---------------------------------------------------------------------------------------------
# A contestant (child process)

def score_marks(args):
    """The training seconds at which a contestant is scored: 0, every --eval-every, the end."""
    return list(range(0, args.seconds, args.eval_every)) + [args.seconds]


def clocked(step, sample, args):
    """Train with step(i) until --seconds of training time, scoring sample() at 0 s, every
    --eval-every seconds and at the end with the clock stopped: [(seconds, steps, score, FD)]."""
    import utils
    from gan import metrics
    from gan import outputs
    classifier = metrics.Classifier()
    reference, _ = classifier(utils.load_mnist(DATA_DIR, "test", log=lambda m: None)[0])
    points, trained, steps = [], 0.0, 0
    for mark in score_marks(args):
        while trained < mark:
            started = time.perf_counter()
            step(steps)
            trained += time.perf_counter() - started
            steps += 1
        r = metrics.score(outputs.to_uint8(sample()), classifier, reference)
        points.append((round(trained, 2), steps, round(r["mnist_score"], 3),
                       round(r["frechet"], 1)))
        print(f"  {args.child}: {trained:6.1f} s, {steps:6d} steps, MNIST score "
              f"{r['mnist_score']:.2f}, Frechet {r['frechet']:.0f}", flush=True)
    return points


def default_run(name, args):
    """(spec, frozen config, MNIST, the scored z) of `python MODEL.py --seed S`."""
    import importlib
    from gan import data
    from gan import sampling
    from gan.training import EVAL_IMAGES
    spec = importlib.import_module(name).SPEC
    dataset = data.load_training_data("mnist", DATA_DIR)
    argv = ["--seed", str(args.seed), "--data-dir", DATA_DIR]
    cfg = run_config(spec, argv + (["--dataset", "mnist"] if spec.picture_sizes else []),
                     len(dataset.images))
    return spec, cfg, dataset, sampling.draw_z(args.seed, EVAL_IMAGES, cfg.z_dim)


def train_ours(name, args):
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()  # TF1 graph mode, as the scripts run
    from gan import graph
    spec, cfg, dataset, z = default_run(name, args)
    model = graph.build(spec, cfg, dataset.images.shape)
    with graph.start_session(model, cfg, dataset) as sess:
        def step(i):
            if i % cfg.steps_per_epoch == 0:  # this epoch's order, as training.py's loop
                sess.run(model.train.reshuffle)
            graph.train_step(sess, model.train, spec.g_steps)
        points = clocked(step, lambda: graph.images_of(sess, model.sampler, z), args)
    return dict(batch=cfg.batch_size, averaged=bool(cfg.ema), points=points)


def keras_step(g, d, g_opt, d_opt, spec, cfg, g_average):
    """Our iteration in Keras: D's update, then G's through the updated D on the same generated
    images (graph.py's d_then_g), then --ema's average (its BN statistics from its own pass)."""
    import tensorflow as tf
    from gan.graph import split_code_head
    from tensorflow.keras.layers import BatchNormalization

    @tf.function
    def step(real):
        z = tf.random.uniform([cfg.batch_size, cfg.z_dim], -1.0, 1.0)
        with tf.GradientTape() as g_tape:
            fake = g(z, training=True)
            with tf.GradientTape() as d_tape:
                real_logits, fake_logits, info = split_code_head(
                    d(real, training=True), d(fake, training=True), z)
                d_loss = spec.losses[cfg.loss].fn(real_logits, fake_logits)[0] + info
            d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d.trainable_variables),
                                      d.trainable_variables))
            fake_logits = d(fake, training=True)
            _, fake_logits, info = split_code_head(fake_logits, fake_logits, z)
            g_loss = spec.losses[cfg.loss].fn(fake_logits, fake_logits)[1] + info
        iteration = tf.cast(g_opt.iterations, tf.float32)
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g.trainable_variables),
                                  g.trainable_variables))
        if g_average is not None:
            if any(isinstance(layer, BatchNormalization) for layer in g_average.layers):
                g_average(z, training=True)  # statistics of its own weights, as graph.py's
            decay = tf.minimum(cfg.ema, (1.0 + iteration) / (10.0 + iteration))
            for average, weight in zip(g_average.trainable_variables, g.trainable_variables):
                average.assign_sub((1.0 - decay) * (average - weight))
    return step


def train_keras(name, args):
    import importlib
    import keras_baseline as kb
    kb.import_tensorflow()
    tf, keras = kb.tf, kb.keras
    keras.utils.set_random_seed(args.seed)
    spec, cfg, dataset, z = default_run(name, args)
    def build(z_dim):
        g, d = getattr(kb, name + "_models")(z_dim)
        return kb.with_code(g, d, z_dim) if "code" in cfg.changes else (g, d)
    init = importlib.import_module(name).ARTICLE_INIT if name == "dcgan" else {}
    g, d = build(cfg.z_dim)
    g_average = build(cfg.z_dim)[0] if cfg.ema else None
    for model in (g, d):
        kb.initialize_as_ours(model, init.get("stddev", 0.02), init.get("bias_start", 0.0))
    if g_average is not None:
        g_average.set_weights(g.get_weights())
    adam = lambda beta1, rate=cfg.learning_rate: keras.optimizers.Adam(rate, beta_1=beta1,
                                                                       epsilon=1e-8)
    step = keras_step(g, d, adam(cfg.beta1), adam(cfg.beta1 if cfg.beta1_d is None
                                                 else cfg.beta1_d,
                                                 cfg.learning_rate if cfg.d_learning_rate is None
                                                 else cfg.d_learning_rate), spec, cfg, g_average)
    batches = iter(tf.data.Dataset.from_tensor_slices(dataset.images).shuffle(60000, args.seed)
                   .batch(cfg.batch_size, drop_remainder=True).repeat()
                   .map(lambda x: tf.cast(x, tf.float32) / 127.5 - 1.0, tf.data.AUTOTUNE)
                   .prefetch(tf.data.AUTOTUNE))
    sampler = g if g_average is None else g_average
    points = clocked(lambda i: step(next(batches)),
                     lambda: sampler(z, training=False).numpy(), args)
    return dict(batch=cfg.batch_size, averaged=g_average is not None, points=points)


def train_tutorial(args):
    """The tutorial's generator, discriminator, losses, optimizers, data and train step."""
    import numpy as np
    import tensorflow as tf
    import utils
    from gan.training import EVAL_IMAGES
    keras, L = tf.keras, tf.keras.layers
    keras.utils.set_random_seed(args.seed)
    batch, noise_dim = 256, 100
    generator = keras.Sequential([
        keras.Input((noise_dim,)), L.Dense(7 * 7 * 256, use_bias=False), L.BatchNormalization(),
        L.LeakyReLU(), L.Reshape((7, 7, 256)),
        L.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
        L.BatchNormalization(), L.LeakyReLU(),
        L.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
        L.BatchNormalization(), L.LeakyReLU(),
        L.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh")])
    discriminator = keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(64, 5, strides=2, padding="same"), L.LeakyReLU(),
        L.Dropout(0.3), L.Conv2D(128, 5, strides=2, padding="same"), L.LeakyReLU(),
        L.Dropout(0.3), L.Flatten(), L.Dense(1)])
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch, noise_dim])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            generated = generator(noise, training=True)
            real_out = discriminator(images, training=True)
            fake_out = discriminator(generated, training=True)
            g_loss = cross_entropy(tf.ones_like(fake_out), fake_out)
            d_loss = (cross_entropy(tf.ones_like(real_out), real_out)
                      + cross_entropy(tf.zeros_like(fake_out), fake_out))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))

    images = (utils.load_mnist(DATA_DIR, "train")[0].astype("float32") - 127.5) / 127.5
    batches = iter(tf.data.Dataset.from_tensor_slices(images).shuffle(60000).batch(batch)
                   .repeat())  # the tutorial's epochs, each ending on a batch of 96
    z = np.random.default_rng(args.seed).standard_normal((EVAL_IMAGES, noise_dim), np.float32)
    points = clocked(lambda i: train_step(next(batches)),
                     lambda: generator(z, training=False).numpy(), args)
    return dict(batch=batch, averaged=False, points=points)


def child(args):
    from gan import tf_quiet  # noqa: F401  (before TensorFlow: its start-up lines off the console)
    kind, _, name = args.child.partition(" ")
    result = train_tutorial(args) if kind == "tf" else (
        train_ours if kind == "ours" else train_keras)(name, args)
    with open(args.json, "x") as f:
        json.dump(dict(result, contestant=args.child, model=name), f)
    return 0


# ---------------------------------------------------------------------------------------------
# The parent: one child per contestant, then the table, the plot and the summary

def run_contestant(contestant, args, scratch):
    path = os.path.join(scratch, contestant.replace(" ", "_") + ".json")
    command = [sys.executable, os.path.abspath(__file__), "--child", contestant, "--json", path,
               "--seconds", str(args.seconds), "--eval-every", str(args.eval_every),
               "--seed", str(args.seed)]
    print(f"{contestant}: training for {args.seconds} s", flush=True)
    code = children.run(command)  # stopped with us on Ctrl-C or SIGTERM
    if code:
        exit_with_error(PROG, f"{contestant} failed (exit {code}; its output is above)", 1)
    with open(path) as f:
        return json.load(f)


def seconds_to(result, target):
    return next((s for s, _, score, _ in result["points"] if score >= target), None)


def print_table(results, args, argv):
    from gan import tf_quiet  # noqa: F401  (before benchmark.machine() imports TensorFlow)
    import benchmark
    marks = score_marks(args)
    print(f"\nmachine: {benchmark.machine()}\ncommand: python bench/{PROG} "
          + " ".join(argv))
    print("| contestant | G averaged | batch | steps | img/s | score at "
          + " | ".join(f"{m} s" for m in marks) + f" | Frechet | s to {args.target:g} |")
    print("| --- " * 2 + "| ---: " * (len(marks) + 5) + "|")
    for r in results:
        seconds, steps, _, frechet = r["points"][-1]
        reached = seconds_to(r, args.target)
        print(f"| {r['contestant']} | {'yes' if r['averaged'] else 'no'} | {r['batch']} | "
              f"{steps} | {steps * r['batch'] / seconds:.0f} | "
              + " | ".join(f"{p[2]:.2f}" for p in r["points"])
              + f" | {frechet:.0f} | {'-' if reached is None else f'{reached:.0f}'} |")


def plot(results, path, target):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from gan.machine import cpu_name
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = {name: f"C{i}" for i, name in enumerate(MODELS)}
    for r in results:
        seconds, scores = [p[0] for p in r["points"]], [p[2] for p in r["points"]]
        kind = r["contestant"].split()[0]
        ax.plot(seconds, scores, marker=".", label=r["contestant"],
                color="black" if kind == "tf" else colours[r["model"]],
                linestyle="--" if kind == "keras" else "-")
    ax.set(xlabel="training seconds", ylabel="MNIST score (evaluate.py, 2,000 samples)",
           title=f"Time to quality on {cpu_name()}", ylim=(0, 10))
    ax.axhline(target, color="grey", linestyle=":", linewidth=1)
    ax.grid(alpha=0.3)
    ax.legend()
    try:
        with open(path, "xb") as f:  # a new file only (checked at start; made here)
            fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    except FileExistsError:
        exit_with_error(PROG, f"--plot {path} appeared during the run; not written over", 1)
    except OSError as e:
        exit_with_error(PROG, f"--plot {path}: cannot write it ({e.strerror}); the table above "
                              f"has the figures", 1)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child:
        return child(args)
    if args.plot:
        check_plot_path(args.plot)
    children.raise_on_sigterm()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            results = [run_contestant(c, args, scratch) for c in contestants(args.models)]
    except KeyboardInterrupt:
        exit_with_error(PROG, "interrupted", 130)
    except children.Terminated as e:
        exit_with_error(PROG, f"stopped by {e}", 128 + e.signum)
    print_table(results, args, argv)
    if args.plot:
        plot(results, args.plot, args.target)
        print(f"plot: {args.plot}")
    by_name = {r["contestant"]: r for r in results}
    ratios = []
    for name in args.models:
        ours, keras = (seconds_to(by_name[f"{k} {name}"], args.target) for k in ("ours", "keras"))
        ratios.append(f"{name} -" if None in (ours, keras) else f"{name} {ours / keras:.2f}x")
    print(f"time to MNIST score {args.target:g} (ours/keras): {', '.join(ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
