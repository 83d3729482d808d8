"""Images from a generator: the fixed-z sample grids, and new images from a checkpoint.

    sample_from_checkpoint(spec, cfg, labels) -> uint8 [N, H, W, C]   (evaluate.py uses it too)
    generate(spec, cfg)                        -> --generate: generated.png and generated.npy
"""

import os

import numpy as np

import checkpoints
import graph
import outputs
from config import NUM_CLASSES
from errors import UsageError

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
        saved = np.load(path, allow_pickle=False) if os.path.exists(path) else None
    except (OSError, ValueError, EOFError):
        saved = None
        log(f"warning: {path} is unreadable; drawing the grid's z again from --seed {cfg.seed}")
    if saved is not None and saved.dtype == np.float32 and saved.shape == z.shape:
        return saved
    outputs.best_effort(path, lambda: np.save(path, z), log)
    return z


def grid_png(sess, sampler, spec, z):
    """The grid image (uint8) for z; cgan's has one row per digit."""
    images = outputs.to_uint8(graph.images_of(sess, sampler, z, grid_labels(spec, len(z))))
    return outputs.image_grid(images, rows=NUM_CLASSES if spec.conditional else None)


def sample_from_checkpoint(spec, cfg, labels=None, log=print):
    """uint8 images [cfg.num_images, H, W, C] from the newest checkpoint in cfg.checkpoint_dir."""
    model = graph.build(spec, cfg)
    with graph.start_session(model, cfg) as sess:
        if checkpoints.restore_newest(sess, model.saver, cfg.checkpoint_dir,
                                      model.variable_shapes, log, allow_extra=True) is None:
            raise UsageError(f"no checkpoint in {cfg.checkpoint_dir}; train first "
                             f"(python {cfg.model}.py) or pass --checkpoint-dir")
        z = draw_z(cfg.seed, cfg.num_images, cfg.z_dim)
        return outputs.to_uint8(graph.images_of(sess, model.sampler, z, labels))


def generate(spec, cfg, log=print):
    """--generate: a grid (PNG) and the images (.npy, uint8) from the newest checkpoint."""
    outputs.check_generated_outputs_free(cfg.sample_dir)
    digits, labels = None, None
    if spec.conditional:
        digits = cfg.digit or list(range(NUM_CLASSES))
        labels = np.array(digits)[np.arange(cfg.num_images) * len(digits) // cfg.num_images]
    images = sample_from_checkpoint(spec, cfg, labels, log)
    png = os.path.join(cfg.sample_dir, "generated.png")
    outputs.save_png(png, outputs.image_grid(images, rows=len(digits) if digits else None))
    np.save(os.path.join(cfg.sample_dir, "generated.npy"), images)
    if labels is not None:
        np.save(os.path.join(cfg.sample_dir, "generated_labels.npy"), labels)
    log(f"wrote {len(images)} images to {png} and generated.npy")
    return 0
