"""The TF1 graph around a script's networks: sampler, training ops, weight averaging, towers.

`build(spec, cfg, data_shape)` returns a `Model`: the graph, its sampler, its training ops (none
for a sampling-only graph), a Saver of what a resume needs, and the variables' shapes for the
strict restore. `start_session(model, cfg, dataset)` opens a session on it with the data loaded.

Graph layout (tf.compat.v1, eager disabled):
- The training images live in the graph as a local (never saved) uint8 variable filled once at
  start-up; each step's batch is gathered from a per-epoch permutation drawn from (seed, epoch),
  and its noise from stateless ops seeded by (seed, step). A resumed run therefore continues the
  same data order and noise stream, no images are fed per step, and checkpoints hold the model,
  not the data. A picture folder's cache (picture_cache.py) is read instead, a batch's rows at a
  time, through tf.numpy_function: the same order, no copy of the data set in memory.
- The sampler (`noise`, `y_noise`, `is_training` placeholders -> generator) is built first, so
  its tensors carry stable names that another program can look up after import_meta_graph.
  Under --ema it reads generator_ema/, a moving average of G's weights updated after G steps.
"""

import contextlib
import dataclasses
from typing import Optional

from gan import tf_quiet  # noqa: F401  (before TensorFlow)
import numpy as np
import tensorflow as tf

from gan import distributed
from gan.flags import NUM_CLASSES
from gan.layers import CODE_SIZE, LABEL_INPUTS, LAYER_OUTPUTS

v1 = tf.compat.v1
EMA_SCOPE = "generator_ema"


@dataclasses.dataclass(frozen=True)
class Sampler:
    """Feed `noise` [N, z] (and `labels` one-hot [N, 10] for cgan); fetch `images` in [-1, 1].

    `layers` are G's hidden layer outputs (before activation), in order: feeding one of them
    overrides it, which is how refinement runs the rest of G on a moved activation."""
    noise: tf.Tensor
    labels: Optional[tf.Tensor]
    is_training: tf.Tensor
    images: tf.Tensor
    layers: tuple = ()
    digits: Optional[tf.Tensor] = None  # int32 [N] digits of `labels` (cgan)
    label_input: Optional[tf.Tensor] = None  # G's one-hot input inside G, feedable (cgan)


@dataclasses.dataclass(frozen=True)
class Critic:
    """The trained D in eval mode, next to the sampler: its raw outputs on the sampler's images
    and on fed real images (uint8), and per hidden layer of G the gradient of G's own loss
    (summed over the batch) with respect to that layer's output.

    Discriminator shaping (--shape-steps): feed real images (uint8) and `fake_images` (floats in
    [-1, 1], e.g. refined samples) and `shape_rate`; `shape_step` moves D's trainable weights
    one plain gradient-descent step down D's own loss (`shape_loss`) on them. It adds no
    variable, so the Saver and the strict restore see the same graph as without it."""
    fake_scores: tf.Tensor
    real_images: tf.Tensor
    real_scores: tf.Tensor
    layer_gradients: tuple
    fake_images: Optional[tf.Tensor] = None
    fed_fake_scores: Optional[tf.Tensor] = None
    shape_rate: Optional[tf.Tensor] = None
    shape_loss: Optional[tf.Tensor] = None
    shape_step: Optional[tf.Operation] = None


@dataclasses.dataclass(frozen=True)
class TrainOps:
    images_in: Optional[tf.Tensor]  # placeholders that fill the in-graph data set at start-up
    # (no images_in where a picture cache's rows are read a batch at a time)
    labels_in: tf.Tensor
    reshuffle: tf.Operation  # this epoch's permutation, from (seed, epoch)
    d_train: tf.Operation  # a D update alone
    d_then_g: tf.Operation  # a D update, then a G update against the updated D, in one run
    d_then_g_and_step: tf.Tensor  # ... then global_step += 1 (an iteration with one G step)
    # A G update alone, on G's loss of the D step's pass: cgan's second G step (and
    # bench/benchmark.py's two-runs row, the loop as it was before d_then_g)
    g_train: tf.Operation  # ... that leaves the step alone
    g_train_and_step: tf.Tensor  # ... then global_step += 1
    d_loss: tf.Tensor
    g_loss: tf.Tensor  # G's loss in a run of g_train or g_train_and_step
    g_loss_after_d: tf.Tensor  # G's loss in a run of d_then_g: against the updated D
    d_real: tf.Tensor  # D's mean output on the batch's real images (a probability for --loss gan)
    d_fake: tf.Tensor  # ... and on its generated ones


@dataclasses.dataclass(frozen=True)
class Model:
    graph: tf.Graph
    sampler: Sampler
    train: Optional[TrainOps]
    saver: v1.train.Saver
    init: list
    variable_shapes: dict  # name -> shape of every saved variable
    critic: Optional[Critic] = None
    sync: Optional[distributed.SyncOps] = None  # several workers: settings check, broadcast


def build(spec, cfg, data_shape=None, with_critic=False, read_rows=None):
    """The graph for spec under cfg: training if data_shape ([N, H, W, C]) is given, else the
    sampler alone (for --generate and evaluate.py); with_critic adds D for guided sampling.
    read_rows (row numbers -> uint8 [k, H, W, C], a picture cache's) makes each batch's images
    read from disk instead of from an in-graph copy of the data set."""
    graph = tf.Graph()
    with graph.as_default(), tf.device(cfg.device):
        v1.set_random_seed(cfg.seed)
        v1.train.get_or_create_global_step()  # first, so no scope prefixes its name
        sampler = build_sampler(spec, cfg)
        with distributed.replica(cfg if data_shape is not None else None):
            train = (build_training(spec, cfg, data_shape, read_rows)
                     if data_shape is not None else None)
            critic = build_critic(spec, cfg, sampler) if with_critic else None
            saved = v1.global_variables()
            saver = v1.train.Saver(saved, max_to_keep=None)
            init = [v1.global_variables_initializer(), v1.local_variables_initializer()]
            sync = distributed.build_sync(spec, cfg, saved, data_shape)
    graph.finalize()
    return Model(graph, sampler, train, saver, init,
                 {v.op.name: v.shape.as_list() for v in saved}, critic, sync)


def start_session(model, cfg, dataset=None):
    """A session on model's graph with every variable initialised and the data set loaded."""
    if model.sync is not None:  # one of several workers: on its server
        sess = distributed.session(model.graph, session_config(cfg))
    else:
        sess = v1.Session(graph=model.graph, config=session_config(cfg))
    feed = {}
    if model.train is not None:
        feed = {model.train.labels_in: dataset.labels}
        if model.train.images_in is not None:  # else read a batch at a time (a picture cache)
            feed[model.train.images_in] = dataset.images
    sess.run(model.init, feed)
    return sess


def session_config(cfg):
    """Soft placement, GPU memory growth, and the --gpus / --xla / --precision settings."""
    logical_cpus = cfg.gpus if cfg.gpus > 1 and not tf.config.list_physical_devices("GPU") else 1
    config = v1.ConfigProto(allow_soft_placement=True, device_count={"CPU": logical_cpus})
    config.gpu_options.allow_growth = True
    if cfg.xla:
        config.graph_options.optimizer_options.global_jit_level = v1.OptimizerOptions.ON_1
    rewrite = config.graph_options.rewrite_options
    if cfg.precision == "bf16":  # oneDNN bf16 on CPU; variables and updates stay fp32
        rewrite.auto_mixed_precision_onednn_bfloat16 = rewrite.ON
    elif cfg.precision == "fp16":  # CUDA fp16 on GPU; variables and updates stay fp32
        rewrite.auto_mixed_precision = rewrite.ON
    return config


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
    before = len(v1.get_collection(LAYER_OUTPUTS))
    with v1.variable_scope("generator", reuse=v1.AUTO_REUSE, custom_getter=getter):
        images = spec.generator(noise, labels, cfg, is_training)
    hidden = tuple(v1.get_collection(LAYER_OUTPUTS)[before:-1])  # the last one is the image
    label_inputs = v1.get_collection(LABEL_INPUTS)
    return Sampler(noise, y_noise, is_training, images, hidden, labels,
                   label_inputs[0] if label_inputs else None)


def build_critic(spec, cfg, sampler):
    """D (eval mode, the run's own weights) on the sampler's images and on fed real images."""
    real_images = v1.placeholder(tf.uint8, [None] + sampler.images.shape.as_list()[1:],
                                 name="critic_real_images")
    real = tf.cast(real_images, tf.float32) / 127.5 - 1.0
    with v1.variable_scope("discriminator", reuse=v1.AUTO_REUSE):
        fake_scores = tf.reshape(spec.discriminator(sampler.images, sampler.digits, cfg,
                                                    False)[:, :1], [-1])  # not a code head
        real_scores = tf.reshape(spec.discriminator(real, sampler.digits, cfg, False)[:, :1],
                                 [-1])
        fake_images = v1.placeholder(tf.float32, real_images.shape, name="critic_fake_images")
        fed_fake_scores = tf.reshape(spec.discriminator(fake_images, sampler.digits, cfg,
                                                        False)[:, :1], [-1])
    g_loss = spec.losses[cfg.loss].fn(fake_scores, fake_scores)[1]
    per_image_sum = g_loss * tf.cast(tf.shape(fake_scores)[0], tf.float32)
    gradients = tuple(tf.gradients(per_image_sum, list(sampler.layers))) if sampler.layers else ()
    # Shaping: D's own loss, real against the fed fakes, and a slot-free descent step.
    shape_rate = v1.placeholder(tf.float32, [], name="shape_rate")
    shape_loss = spec.losses[cfg.loss].fn(real_scores, fed_fake_scores)[0]
    weights = v1.trainable_variables("discriminator/")
    shape_step = tf.group([w.assign_sub(shape_rate * g) for w, g in
                           zip(weights, tf.gradients(shape_loss, weights)) if g is not None],
                          name="shape_step")
    return Critic(fake_scores, real_images, real_scores, gradients, fake_images, fed_fake_scores,
                  shape_rate, shape_loss, shape_step)


# ---------------------------------------------------------------------------------------------
# --ema: a moving average of G's weights

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


# ---------------------------------------------------------------------------------------------
# Training

def build_training(spec, cfg, data_shape, read_rows=None):
    """In-graph batches and noise from global_step, the two losses and the train ops; with
    read_rows, the batch's images come from it (tf.numpy_function) instead of a local copy."""
    global_step = v1.train.get_or_create_global_step()
    num_examples = data_shape[0]
    local = [v1.GraphKeys.LOCAL_VARIABLES]  # not saved: loaded from disk at start-up
    images_in = None if read_rows else v1.placeholder(tf.uint8, list(data_shape),
                                                      name="dataset_images")
    labels_in = v1.placeholder(tf.int32, [num_examples], name="dataset_labels")
    dataset_images = None if read_rows else v1.Variable(images_in, trainable=False,
                                                         collections=local, name="dataset")
    dataset_labels = v1.Variable(labels_in, trainable=False, collections=local, name="labels")
    order = v1.Variable(tf.range(num_examples), trainable=False, collections=local, name="order")
    epoch = global_step // cfg.steps_per_epoch
    seed = tf.constant(cfg.seed, tf.int64)
    reshuffle = order.assign(tf.random.experimental.stateless_shuffle(
        tf.range(num_examples), seed=tf.stack([seed, tf.cast(epoch, tf.int64)])))
    start = tf.cast((global_step % cfg.steps_per_epoch) * cfg.batch_size, tf.int32)
    batch = distributed.local_part(order[start:start + cfg.batch_size], cfg.batch_size)
    if read_rows:  # the same rows in the same order, read from disk on the CPU
        with tf.device("/cpu:0"):
            batch_images = tf.numpy_function(read_rows, [batch], tf.uint8, name="read_rows")
        batch_images.set_shape(batch.shape.as_list() + list(data_shape[1:]))
    else:
        batch_images = tf.gather(dataset_images, batch)
    real = tf.cast(batch_images, tf.float32) / 127.5 - 1.0
    labels = tf.gather(dataset_labels, batch)
    z = distributed.local_part(uniform_noise([cfg.batch_size, cfg.z_dim],  # several workers:
                                             step_seed(cfg, stream=0)), cfg.batch_size)  # theirs
    averaged_statistics = update_averaged_statistics(spec, cfg, z, labels) if cfg.ema else []

    # One tower per device (--gpus N), each on its slice of the batch; gradients averaged.
    devices = tower_devices(cfg)
    towers = list(zip(devices, tf.split(real, len(devices)), tf.split(labels, len(devices)),
                      tf.split(z, len(devices))))
    d_losses, g_losses, d_grads, g_grads, real_out, fake_out, fakes = [], [], [], [], [], [], []
    for device, real_i, labels_i, z_i in towers:
        with tf.device(device):
            with v1.variable_scope("generator", reuse=v1.AUTO_REUSE):
                fake = spec.generator(z_i, labels_i, cfg, True)
            with v1.variable_scope("discriminator", reuse=v1.AUTO_REUSE):
                real_logits = spec.discriminator(real_i, labels_i, cfg, True)
                fake_logits = spec.discriminator(fake, labels_i, cfg, True)
            real_logits, fake_logits, info = split_code_head(real_logits, fake_logits, z_i)
            d_loss_i, g_loss_i = spec.losses[cfg.loss].fn(real_logits, fake_logits)
            d_loss_i, g_loss_i = d_loss_i + info, g_loss_i + info
            if cfg.r1:  # off (0): not one op more, the graph and its arithmetic as before
                d_loss_i += r1_penalty(real_logits, real_i, cfg.r1)
            d_losses.append(d_loss_i)
            g_losses.append(g_loss_i)
            real_out.append(real_logits)
            fake_out.append(fake_logits)
            fakes.append(fake)
            d_grads.append(tf.gradients(d_loss_i, v1.trainable_variables("discriminator")))
            g_grads.append(tf.gradients(g_loss_i, v1.trainable_variables("generator")))
    d_loss = tf.identity(tf.add_n(d_losses) / len(devices), name="d_loss")
    g_loss = tf.identity(tf.add_n(g_losses) / len(devices), name="g_loss")
    d_output = spec.losses[cfg.loss].d_output
    d_real = tf.reduce_mean(d_output(tf.concat(real_out, 0)), name="d_real")
    d_fake = tf.reduce_mean(d_output(tf.concat(fake_out, 0)), name="d_fake")

    optimizers = {  # one each: both of G's update ops below share its Adam slots
        "discriminator": v1.train.AdamOptimizer(cfg.learning_rate if cfg.d_learning_rate is None
                                                else cfg.d_learning_rate,
                                                name="adam_discriminator",
                                                beta1=cfg.beta1 if cfg.beta1_d is None
                                                else cfg.beta1_d),
        "generator": v1.train.AdamOptimizer(cfg.learning_rate, beta1=cfg.beta1,
                                            name="adam_generator")}

    def train_op(tower_grads, scope):
        variables = v1.trainable_variables(scope)
        grads = tower_grads[0] if len(tower_grads) == 1 else [
            tf.add_n(list(g)) / len(tower_grads) for g in zip(*tower_grads)]
        grads = distributed.mean_over_workers(grads)  # several workers: all-reduced
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS, scope)):
            return optimizers[scope].apply_gradients(zip(grads, variables))

    def g_update(grads):
        """(a G step, the same G step followed by the averaged G's statistics pass)."""
        update = train_op(grads, "generator")
        if not cfg.ema:
            return update, update
        # the averaged G's statistics once a step, its weights after every G step
        return (average_weights(cfg, after=[update]),
                average_weights(cfg, after=[update] + averaged_statistics))

    def then_step(last_g_step):  # the step advances only after everything has read it
        with tf.control_dependencies([last_g_step]):
            return global_step.assign_add(1)

    d_train = train_op(d_grads, "discriminator")
    g_train, last_g_train = g_update(g_grads)
    # D then G in one sess.run: G's loss again on the same generated images, through D's
    # updated weights, which no op here may read before d_train has written them. G's own
    # forward pass is shared with the D step (G has not changed in between).
    g_losses_after_d, g_grads_after_d = [], []
    with tf.control_dependencies([d_train]):
        for (device, _, labels_i, z_i), fake in zip(towers, fakes):
            with tf.device(device), without_new_updates():
                with v1.variable_scope("discriminator", reuse=True):
                    fake_logits = spec.discriminator(fake, labels_i, cfg, True)
                _, fake_logits, info = split_code_head(fake_logits, fake_logits, z_i)
                g_loss_i = spec.losses[cfg.loss].fn(fake_logits, fake_logits)[1] + info
                g_losses_after_d.append(g_loss_i)
                g_grads_after_d.append(
                    tf.gradients(g_loss_i, v1.trainable_variables("generator")))
    g_loss_after_d = tf.identity(tf.add_n(g_losses_after_d) / len(devices),
                                 name="g_loss_after_d")
    d_then_g, last_d_then_g = g_update(g_grads_after_d)
    # several workers: the losses of the global batch, each its own all-reduce (fetched at
    # the same steps by all; g_loss_after_d must not run with cgan's second G step's g_loss)
    d_loss, g_loss, g_loss_after_d, d_real, d_fake = map(
        distributed.mean_statistic, (d_loss, g_loss, g_loss_after_d, d_real, d_fake))
    return TrainOps(images_in, labels_in, reshuffle, d_train, d_then_g, then_step(last_d_then_g),
                    g_train, then_step(last_g_train), d_loss, g_loss, g_loss_after_d, d_real,
                    d_fake)


def r1_penalty(real_scores, real_images, gamma):
    """--r1 (Mescheder et al. 2018): gamma/2 * the batch's mean of ||d D(x) / d x||^2, D's raw
    score (no sigmoid) on the real images x, differentiated with respect to the images alone
    (not cgan's labels). The gradient is that of the batch's summed score, as the paper's code
    takes it; D's own gradient then runs through it (second derivatives)."""
    with tf.name_scope("r1_penalty"):
        gradients = tf.gradients(tf.reduce_sum(real_scores), real_images)[0]
        squared_norms = tf.reduce_sum(tf.square(gradients),
                                      axis=list(range(1, len(real_images.shape))))
        return 0.5 * gamma * tf.reduce_mean(squared_norms)


def split_code_head(real_logits, fake_logits, z):
    """(real logits, fake logits, InfoGAN loss): D's real/fake column and, where D has a code
    head (columns 1-10), the cross-entropy of its guess of G's code, which both players add."""
    if fake_logits.shape[-1] == 1:
        return real_logits, fake_logits, 0.0
    code = tf.argmax(z[:, -CODE_SIZE:], axis=1)
    info = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=code, logits=fake_logits[:, 1:]))
    return real_logits[:, :1], fake_logits[:, :1], info


@contextlib.contextmanager
def without_new_updates():
    """Drop the batch-norm statistics updates that a network built inside adds (UPDATE_OPS and
    layers.update_moving_average's chains): a second pass of D must not move its statistics."""
    graph = v1.get_default_graph()

    def update_keys():
        return [k for k in graph.get_all_collection_keys()
                if k == v1.GraphKeys.UPDATE_OPS or k.startswith("moving_average_updates/")]
    before = {key: len(graph.get_collection(key)) for key in update_keys()}
    yield
    for key in update_keys():
        del graph.get_collection_ref(key)[before.get(key, 0):]


def tower_devices(cfg):
    """--gpus N: /gpu:0..N-1; with no GPU, N logical CPU devices (how the tests check towers)."""
    if cfg.gpus == 1:
        return [cfg.device]
    kind = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return [f"/{kind}:{i}" for i in range(cfg.gpus)]


def train_step(sess, ops, g_steps, fetch=False):
    """One iteration: a D step, then g_steps G steps, the last of which advances global_step;
    the D step and the first G step run in one sess.run (d_then_g).

    With fetch, returns a dict of this iteration's d_loss, g_loss, d_real and d_fake (read
    during the D step, and the G loss during the last G step); otherwise fetches nothing."""
    first = ops.d_then_g_and_step if g_steps == 1 else ops.d_then_g
    if not fetch:
        sess.run(first)
        for i in range(1, g_steps):
            sess.run(ops.g_train_and_step if i == g_steps - 1 else ops.g_train)
        return None
    _, d_loss, d_real, d_fake, g_loss = sess.run(
        [first, ops.d_loss, ops.d_real, ops.d_fake, ops.g_loss_after_d])
    for i in range(1, g_steps):
        _, g_loss = sess.run([ops.g_train_and_step if i == g_steps - 1 else ops.g_train,
                              ops.g_loss])
    return dict(d_loss=float(d_loss), g_loss=float(g_loss), d_real=float(d_real),
                d_fake=float(d_fake))


def sampler_feed(sampler, z, labels=None):
    """The sampler's feed for z [N, z_dim] and, for cgan, digit labels [N] (as one-hots)."""
    feed = {sampler.noise: z}
    if sampler.labels is not None:
        feed[sampler.labels] = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    return feed


def images_of(sess, sampler, z, labels=None, batch=1000):
    """Generated images in [-1, 1] for z [N, z_dim] (and digit labels [N] for cgan)."""
    return np.concatenate([sess.run(sampler.images, sampler_feed(
        sampler, z[i:i + batch], None if labels is None else labels[i:i + batch]))
        for i in range(0, len(z), batch)])
