"""Quick ablations: train a script's graph in-process for a few thousand steps and score it.

    python bench/ablate.py dcgan --recipe mbstd,glrelu --beta1 0.5 \\
        --learning-rate 2e-4 --steps 3000 --batch-size 64

MODEL is one of gan_mlp, dcgan, cgan, lsgan; every other flag is that script's own (see
`python dcgan.py --help`) and is checked by its parser. Same graph code as the scripts
(graph.build, graph.start_session), seed 0 unless --seed, on /cpu:0 unless --device, one data
permutation for the whole run (no per-epoch reshuffle, no checkpoints or grids: faster than a
real run), then evaluate.py's figures for 5,000 samples (z from numpy seed 1) in eval mode.
Prints a sample spread ("diversity": the mean over pixels of the std over 64 fixed z) every 250
steps, and a RESULT line (two with --ema: averaged weights, then the last ones); writes a grid
of 64 samples to --grid. The dcgan ablation table in docs/RESULTS.md was measured with this script.
"""

# Flags are parsed before TensorFlow is imported, so --help and usage errors answer at once.
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import children  # noqa: E402
from gan.flags import SCRIPTS, OneLineParser, exit_with_error  # noqa: E402  (no TensorFlow: flags first)
import utils

EVAL_SAMPLES = 5000
PRINT_EVERY = 250
PROG = "ablate.py"
# The scripts' flags for things an ablation does not do (no checkpoints, grids, logs, resumes)
UNUSED_FLAGS = ("generate", "fresh", "minutes", "sample_dir", "checkpoint_dir", "sample_every",
                "save_every", "log_every", "eval_every", "keep", "num_images", "digit")


class HelpFormatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, and each flag's default."""


def front_parser():
    parser = OneLineParser(
        prog=PROG, allow_abbrev=False, description=__doc__,
        usage=f"{PROG} [-h] [--grid PNG] MODEL [SCRIPT FLAGS ...]",
        epilog="Any other flag is the script's own (python MODEL.py --help lists them), e.g.\n"
               "--recipe, --steps, --batch-size, --learning-rate, --ema, --data-dir, --device.",
        formatter_class=HelpFormatter)
    parser.add_argument("model", metavar="MODEL", choices=SCRIPTS,
                        help=f"which script's graph to train: {', '.join(SCRIPTS)}")
    parser.add_argument("--grid", metavar="PNG", default="ablation.png",
                        help="PNG file for a grid of 64 samples (its folder must exist)")
    return parser


def check_grid_path(path):
    """--grid is checked before training, so a bad path does not waste the run."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        exit_with_error(PROG, f"--grid {path} is a folder; give a file name, e.g. "
                              f"{os.path.join(path, 'grid.png')}")
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        exit_with_error(PROG, f"--grid {path}: cannot write in {folder}; create the folder or "
                              f"choose another path")


def make_config(spec, args):
    """The frozen run config from the script's own flags, as its main() makes it for a new run
    (a flag error is one line, exit 2), on MNIST, on /cpu:0 unless --device is given."""
    from gan import config
    script_parser = config.build_parser(spec).parser
    script_parser.error = lambda message: exit_with_error(
        PROG, f"{message} (flags after MODEL are {spec.name}.py's own; python {spec.name}.py "
              f"--help lists them)")
    script_parser.parse_args(args)  # only to check them with one-line errors
    flags, explicit, _ = config.parse(spec, args)
    unused = [name for name in UNUSED_FLAGS if name in explicit]
    if unused:
        exit_with_error(PROG, f"--{unused[0].replace('_', '-')} does nothing here: an ablation "
                              f"keeps no checkpoints, grids or logs and scores once at the end; "
                              f"drop it")
    if flags["dataset"] == "folder":
        exit_with_error(PROG, "ablations score MNIST digits; drop --dataset folder")
    if spec.picture_sizes:
        flags["dataset"] = "mnist"
    if "device" not in explicit:
        flags["device"] = "/cpu:0"
    if "data_dir" in explicit and not os.path.isdir(flags["data_dir"]):
        exit_with_error(PROG, f"--data-dir {flags['data_dir']} is not a folder; point it at a "
                              f"folder with MNIST's IDX files, or leave it out to use "
                              f"{config.DATA_DIR_DEFAULT} (fetched if absent)")
    values = config.merge_saved(spec, flags, explicit, None)
    return config.freeze(spec, values, explicit, log=print), explicit


def train_and_score(spec, cfg, explicit, args, grid_path):
    import tempfile

    import numpy as np
    import tensorflow as tf

    from gan import checkpoints
    from gan import config
    from gan import data
    from gan import graph
    from gan import metrics
    from gan import outputs
    from gan import sampling

    tf.compat.v1.disable_eager_execution()
    mnist = data.load_training_data("mnist", cfg.data_dir, log=print)
    cfg = config.fit_to_data(cfg, explicit, len(mnist.images))
    model = graph.build(spec, cfg, mnist.images.shape)
    ops, sampler = model.train, model.sampler
    fixed = {**graph.sampler_feed(sampler, sampling.draw_z(0, 64, cfg.z_dim),
                                  np.arange(64) % 10 if spec.conditional else None),
             sampler.is_training: True}
    z = sampling.draw_z(1, EVAL_SAMPLES, cfg.z_dim)
    labels = np.arange(EVAL_SAMPLES) % 10 if spec.conditional else None
    samples = {}
    with graph.start_session(model, cfg, mnist) as sess, \
            tempfile.TemporaryDirectory() as scratch:
        sess.run(ops.reshuffle)  # once: one permutation for the whole run
        for step in range(cfg.steps):
            losses = graph.train_step(sess, ops, spec.g_steps, fetch=step % PRINT_EVERY == 0)
            if losses:
                x = sess.run(sampler.images, fixed)
                print(step, round(losses["d_loss"], 3), round(losses["g_loss"], 3), "diversity",
                      round(float(x.std(axis=0).mean()), 4), flush=True)
        samples[""] = outputs.to_uint8(graph.images_of(sess, sampler, z, labels))
        if cfg.ema:  # also score the last weights of the same run, read back as evaluate.py does
            checkpoints.save(sess, model.saver, scratch, cfg.steps, keep=1)
            last = cfg.replace(ema=0.0, checkpoint_dir=scratch, seed=1, num_images=EVAL_SAMPLES)
            samples["last weights "] = sampling.sample_from_checkpoint(spec, last, labels,
                                                                       log=lambda m: None)
    classifier = metrics.Classifier()
    reference, _ = classifier(utils.load_mnist(cfg.data_dir, "test", log=print)[0])
    for kind, images in samples.items():
        r = metrics.score(images, classifier, reference, labels)
        print("RESULT", kind + " ".join(args), "score", round(r["mnist_score"], 3), "frechet",
              round(r["frechet"], 1), "digits", r["digits_present"], "largest",
              round(r["largest_share"], 3), flush=True)
    outputs.save_png(grid_path, utils.montage(samples[""][:64]))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    front, args = front_parser().parse_known_args(argv)
    check_grid_path(front.grid)
    children.raise_on_sigterm()
    import importlib
    spec = importlib.import_module(front.model).SPEC  # imports TensorFlow
    from gan.errors import UserError
    try:
        cfg, explicit = make_config(spec, args)
        train_and_score(spec, cfg, explicit, args, front.grid)
    except UserError as e:
        exit_with_error(PROG, str(e), e.exit_code)
    except KeyboardInterrupt:
        exit_with_error(PROG, "interrupted", 130)
    except children.Terminated as e:  # its temporary folder (--ema) is removed on the way out
        exit_with_error(PROG, f"stopped by {e}", 128 + e.signum)
    return 0


if __name__ == "__main__":
    sys.exit(main())
