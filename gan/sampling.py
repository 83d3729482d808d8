"""Images from a generator: the fixed-z sample grids, and new images from a checkpoint.

    sample_from_checkpoint(spec, cfg, labels) -> uint8 [N, H, W, C]   (evaluate.py uses it too)
    generate(spec, cfg)                        -> --generate: generated.png and generated.npy,
                                                  walk.gif with --walk, a small generator-only
                                                  folder with --export-generator
"""

import os
import sys
import tempfile
import uuid

import numpy as np
import tensorflow as tf

from gan import checkpoints
from gan import config
from gan import data
from gan import graph
from gan import guided_sampling
from gan import outputs
from gan.errors import UsageError
from gan.files import WriteFailed, atomic_write_bytes, remove_entry, save_npy
from gan.flags import NUM_CLASSES
import utils
from gan.layers import CODE_SIZE

v1 = tf.compat.v1

SAMPLE_Z = "sample_z.npy"


def draw_z(seed, n, z_dim):
    """Uniform [-1, 1] noise from a seed, as the training graph draws it."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, z_dim)).astype(np.float32)


def grid_labels(spec, n):
    """Row i of a 10-wide grid is digit i (conditional models only)."""
    return np.arange(n) // max(1, n // NUM_CLASSES) % NUM_CLASSES if spec.conditional else None


def grid_z(cfg, n, log=print):
    """The grid's fixed z: drawn once per run from --seed and saved beside the checkpoints
    (sample_z.npy, for other programs). A damaged or foreign copy is replaced by the draw."""
    z = draw_z(cfg.seed, n, cfg.z_dim)
    path = os.path.join(cfg.checkpoint_dir, SAMPLE_Z)
    try:
        saved = np.load(path, allow_pickle=False, mmap_mode="r") if os.path.exists(path) else None
        saved = None if saved is None or saved.shape != z.shape else np.array(saved)
    except (OSError, ValueError, EOFError):
        saved = None
        log(f"warning: {path} is unreadable; drawing the grid's z again from --seed {cfg.seed}")
    if saved is not None and saved.dtype == np.float32 and np.isfinite(saved).all():
        return saved
    outputs.best_effort(path, lambda: save_npy(path, z), log)
    return z


def grid_png(sess, sampler, spec, z):
    """The grid image (uint8) for z; cgan's has one row per digit."""
    labels = grid_labels(spec, len(z))
    images = outputs.to_uint8(graph.images_of(sess, sampler, z, labels))
    return utils.montage(images, blocks=None if labels is None else
                         outputs.block_sizes(labels))


def restored_sampler(spec, cfg, log=print):
    """(model, session, step) with the newest checkpoint of cfg.checkpoint_dir restored, D too
    under --refine or --reject; the caller closes the session."""
    guided = bool(cfg.refine or cfg.reject)
    model = graph.build(spec, cfg, with_critic=guided)
    sess = graph.start_session(model, cfg)
    try:
        with model.graph.as_default():
            step = checkpoints.restore_newest(sess, model.saver, cfg.checkpoint_dir,
                                              model.variable_shapes, log, allow_extra=True)
    except BaseException:
        sess.close()
        raise
    if step is None:
        sess.close()
        raise UsageError(f"no checkpoint in {cfg.checkpoint_dir}; train first "
                         f"(python {cfg.model}.py) or pass --checkpoint-dir")
    return model, sess, step


def draw_images(sess, model, cfg, z, labels, log=print):
    """(uint8 images, their labels, ms per image, the z they are G of) for z: plain G, or
    --refine / --reject (whose images are G of the kept samples' z)."""
    real = None
    if cfg.reject or (cfg.refine and cfg.shape_steps):
        # real images to calibrate D's score or to shape D, and their digits for cgan's D
        dataset = data.load_training_data(cfg.dataset, cfg.data_dir, cfg.image_size,
                                          cfg.channels, log=lambda m: None)
        pick = np.random.default_rng(cfg.seed).permutation(len(dataset.images))
        if cfg.reject:
            pick = pick[:guided_sampling.CALIBRATION]
        real = (dataset.images[pick],
                dataset.labels[pick] if model.sampler.labels is not None else None)
    return guided_sampling.guided_draw(sess, model, cfg, z, labels, real,
                                       np.random.default_rng([cfg.seed, 1]), log)


def sample_from_checkpoint(spec, cfg, labels=None, log=print):
    """(uint8 images [cfg.num_images, H, W, C], their labels, ms per image) from the newest
    checkpoint in cfg.checkpoint_dir, with --refine or --reject if cfg says so."""
    model, sess, _ = restored_sampler(spec, cfg, log)
    with sess:
        return draw_images(sess, model, cfg, draw_z(cfg.seed, cfg.num_images, cfg.z_dim), labels,
                           log)[:3]


def slerp(a, b, t):
    """Spherical interpolation from a to b (rows of z) at t in [0, 1]: it keeps the norm that
    uniform or normal noise of this size concentrates at, where a straight line would pass
    through the low-norm middle that G rarely saw."""
    unit_a = a / np.linalg.norm(a, axis=1, keepdims=True)
    unit_b = b / np.linalg.norm(b, axis=1, keepdims=True)
    omega = np.arccos(np.clip((unit_a * unit_b).sum(axis=1, keepdims=True), -1.0, 1.0))
    sin = np.sin(omega)
    straight = sin < 1e-6
    safe = np.where(straight, 1.0, sin)
    curved = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / safe
    return np.where(straight, (1 - t) * a + t * b, curved).astype(np.float32)


def walk_frames(sess, sampler, z_from, z_to, frames, labels=None, draw=None):
    """uint8 [frames, N, H, W, C]: each image walking from G(z_from) to G(z_to). `draw(z,
    labels)` -> images in [-1, 1] (default plain G; --refine refines every frame)."""
    draw = draw or (lambda z, labels: graph.images_of(sess, sampler, z, labels))
    return np.stack([outputs.to_uint8(draw(slerp(z_from, z_to, t), labels))
                     for t in np.linspace(0.0, 1.0, frames)])


def digit_walk_frames(sess, sampler, z, frames_between):
    """uint8 [9 * (frames_between - 1) + 1, N, H, W, C]: each image's z held while the label fed
    to G blends from 0 to 1, then 1 to 2, ... to 9 (cgan)."""
    eye = np.eye(NUM_CLASSES, dtype=np.float32)
    blends = [eye[0]] + [(1 - t) * eye[d] + t * eye[d + 1] for d in range(NUM_CLASSES - 1)
                         for t in np.linspace(0, 1, frames_between)[1:]]
    return np.stack([outputs.to_uint8(sess.run(sampler.images, {
        sampler.noise: z, sampler.label_input: np.tile(label, (len(z), 1))}))
        for label in blends])


def export_generator(spec, cfg, sess, model, step, folder, cli, log=print):
    """Write what sampling needs and nothing else to folder: G's weights (the moving average
    under --ema, stored as G's own, so the folder reads with --ema 0), batch-norm statistics,
    the step, and config.json. A new folder only (config.check_export_folder said so before
    anything was written), and whole or not at all: it is written in a temp folder beside it,
    then renamed into place."""
    if os.path.exists(folder) and os.listdir(folder):
        raise UsageError(f"--export-generator {folder} is not empty; name a new folder")
    source = {v.op.name: v for v in model.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)}
    plain = cfg.replace(ema=0.0, checkpoint_dir=folder, run_id=uuid.uuid4().hex[:12],
                        sample_dir=config.default_sample_dir(folder))
    export = graph.build(spec, plain)
    values = {}
    for name in export.variable_shapes:
        averaged = graph.averaged_name(name) if name.startswith("generator/") else name
        values[name] = sess.run(source[averaged if cfg.ema and averaged in source else name])
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-export-")
    try:
        with graph.start_session(export, plain) as out:
            with export.graph.as_default():
                for variable in export.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES):
                    variable.load(values[variable.op.name], out)
            export.saver.save(out, os.path.join(tmp, checkpoints.PREFIX), global_step=step,
                              write_meta_graph=False, write_state=False)
        name = f"{checkpoints.PREFIX}-{step}"  # the state file, relative: the folder may move
        atomic_write_bytes(os.path.join(tmp, "checkpoint"),
                           f'model_checkpoint_path: "{name}"\n'
                           f'all_model_checkpoint_paths: "{name}"\n'.encode())
        checkpoints.write_config(tmp, config.values_to_save(plain, cli))
        os.chmod(tmp, 0o777 & ~current_umask())
        os.rename(tmp, folder)  # onto an absent or empty folder: atomic
    except (OSError, tf.errors.OpError) as e:
        raise WriteFailed(folder, e) from None
    finally:
        if os.path.lexists(tmp):
            remove_entry(tmp)
    log(f"wrote G alone (step {step}) to {folder}; draw from it with --generate "
        f"--checkpoint-dir {folder}")


def current_umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask



def with_code(z, codes):
    """z with InfoGAN's categorical code (the argmax of its last CODE_SIZE entries, as
    layers.categorical_code reads it) set to codes: in each row the largest of those entries
    trades places with the entry at the code, so the row's values stay the same values."""
    z = np.array(z, np.float32)
    tail, rows = z[:, -CODE_SIZE:], np.arange(len(z))
    top = tail.argmax(axis=1)
    largest, wanted = tail[rows, top].copy(), tail[rows, codes].copy()
    tail[rows, top], tail[rows, codes] = wanted, largest
    return z


def generation_noise(cfg, seed):
    """(z, codes or None) of --generate from seed: cfg.num_images draws; under --code each z's
    code set (one block per value); under --code-grid one row per value whose columns share
    their noise, --num-images rounded up to fill the rows."""
    if cfg.code_grid:
        values = cfg.code or list(range(CODE_SIZE))
        columns = -(-cfg.num_images // len(values))
        codes = np.repeat(values, columns)
        return with_code(np.tile(draw_z(seed, columns, cfg.z_dim), (len(values), 1)), codes), codes
    z = draw_z(seed, cfg.num_images, cfg.z_dim)
    if not cfg.code:
        return z, None
    codes = np.array(cfg.code)[np.arange(cfg.num_images) * len(cfg.code) // cfg.num_images]
    return with_code(z, codes), codes


def in_digit_order(images, labels, z, digits):
    """images, labels and their z sorted (stably) into the order of digits: --reject keeps
    samples in the order they passed, and the grid wants one block of rows per digit."""
    rank = {d: i for i, d in enumerate(digits)}
    order = np.argsort([rank[int(d)] for d in labels], kind="stable")
    return images[order], labels[order], z[order]


def generate(spec, cfg, cli=None, log=print):
    """--generate: a grid (PNG) and the images (.npy, uint8) from the newest checkpoint, and
    with --walk a GIF of each image walking between two random points of z. cgan's digits and
    --code's values each get a block of rows."""
    outputs.claim_generated_outputs(cfg.sample_dir)
    digits, labels = None, None
    if spec.conditional:
        digits = cfg.digit or list(range(NUM_CLASSES))
        labels = np.array(digits)[np.arange(cfg.num_images) * len(digits) // cfg.num_images]
    model, sess, step = restored_sampler(spec, cfg, log)
    written = []  # what is on disk, for a true message if Ctrl-C comes before the end
    try:
        with sess:
            write_generated(spec, cfg, cli, model, sess, step, labels, digits, written, log)
    except KeyboardInterrupt:
        done = f"wrote {', '.join(written)} in {cfg.sample_dir} before it" if written else (
            "nothing was written")
        print(f"{cfg.model}.py: interrupted; {done}", file=sys.stderr)
        return 130
    return 0


def write_generated(spec, cfg, cli, model, sess, step, labels, digits, written, log=print):
    """generate()'s files, each name added to `written` once it is on disk."""
    z, codes = generation_noise(cfg, cfg.seed)
    images, labels, _, z = draw_images(sess, model, cfg, z, labels, log)
    if digits is not None:  # --reject keeps samples in the order they passed
        images, labels, z = in_digit_order(images, labels, z, digits)
    blocks = outputs.block_sizes(labels if labels is not None else
                                 codes if codes is not None else [0] * len(images))
    rows = len(blocks) if cfg.code_grid else None  # one row per code value exactly
    png = os.path.join(cfg.sample_dir, "generated.png")
    outputs.save_png(png, utils.montage(images, rows=rows, blocks=blocks))
    written.append("generated.png")
    save_npy(os.path.join(cfg.sample_dir, "generated.npy"), images)
    written.append("generated.npy")
    if labels is not None:
        save_npy(os.path.join(cfg.sample_dir, "generated_labels.npy"), labels)
        written.append("generated_labels.npy")
    values = ", ".join(map(str, cfg.code or range(CODE_SIZE)))
    held = "" if codes is None else f" (InfoGAN's code held at {values})"
    log(f"wrote {len(images)} images to {png} and generated.npy{held}")
    if cfg.walk:  # from the grid's z (the kept samples' under --reject) to another draw
        draw = None
        if cfg.refine:  # every frame refined as the grid was: the first frame is the grid
            draw = lambda z_t, labels_t: guided_sampling.refine(
                sess, model, z_t, labels_t, cfg.refine, cfg.refine_rate, cfg.refine_layer)
        frames = walk_frames(sess, model.sampler, z, generation_noise(cfg, cfg.seed + 1)[0],
                             cfg.walk_frames, labels, draw)
        save_npy(os.path.join(cfg.sample_dir, "walk.npy"), frames)
        written.append("walk.npy")
        gif = os.path.join(cfg.sample_dir, "walk.gif")
        grids = [utils.montage(f, rows=rows, blocks=blocks) for f in frames]
        utils.save_gif(gif, grids + grids[-2:0:-1], fps=12)  # there and back, looping
        written.append("walk.gif")
        log(f"wrote {gif} ({cfg.walk_frames} frames, and back) and walk.npy")
    if cfg.walk_digits:
        frames = digit_walk_frames(sess, model.sampler, z, cfg.walk_frames)
        save_npy(os.path.join(cfg.sample_dir, "walk_digits.npy"), frames)
        written.append("walk_digits.npy")
        gif = os.path.join(cfg.sample_dir, "walk_digits.gif")
        utils.save_gif(gif, [utils.montage(f) for f in frames], fps=12)
        written.append("walk_digits.gif")
        log(f"wrote {gif} ({len(frames)} frames) and walk_digits.npy")
    if cfg.export_generator:
        export_generator(spec, cfg, sess, model, step, cfg.export_generator, cli, log)
        written.append(f"the generator in {cfg.export_generator}")
