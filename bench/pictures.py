"""Which bounds a picture-folder run: decoding the pictures, or training on them?

    python bench/pictures.py                          # 1,000 synthetic 250x250 JPEGs
    python bench/pictures.py --data-dir ~/faces       # your own folder

Prints images/s of the input pipeline alone (data.load_picture_folder: decode, resize,
center-crop; done once at start, in parallel) and of training dcgan.py's 64x64 graph on the
decoded images (graph.build and graph.start_session: in-graph batches, as in a real run).
Decoding runs once per run while training reads the in-memory copy every step, so a run is
bound by training unless decoding is slower than training per image.
"""

# Flags are parsed before TensorFlow is imported, so --help and usage errors answer at once.
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from gan.flags import OneLineParser, bounded_int, exit_with_error  # noqa: E402  (no TensorFlow: flags first)

PROG = "pictures.py"


def existing_folder(text):
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is not a folder; point it at a folder of "
                                         f"pictures, or leave it out for synthetic ones")
    return text


def parse_args(argv):
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", type=existing_folder, default=None,
                        help="a folder of pictures (subfolders too); default: synthetic JPEGs")
    parser.add_argument("--count", type=bounded_int(1), default=1000,
                        help="synthetic pictures (without --data-dir)")
    parser.add_argument("--image-size", type=bounded_int(1), default=64,
                        help="dcgan.py's --image-size: 16, 32, 64, 128 or 256")
    parser.add_argument("--batch-size", type=bounded_int(1), default=64,
                        help="images per step; at most the number of pictures")
    parser.add_argument("--steps", type=bounded_int(1), default=10, help="timed training steps")
    parser.add_argument("--warmup", type=bounded_int(0), default=2,
                        help="untimed training steps first")
    parser.add_argument("--compare", action="store_true",
                        help="also time the step as two sess.run calls (as before d_then_g), "
                             "--precision bf16, --base-channels 32 and both, in the same run, "
                             "as ratios to fp32 at --base-channels 64 (the article's setting)")
    args = parser.parse_args(argv)
    if args.data_dir is None and args.batch_size > args.count:
        parser.error(f"--batch-size {args.batch_size} is more than --count {args.count} "
                     f"pictures; use --count {args.batch_size} or more, or --batch-size "
                     f"{args.count} or less")
    return args


def synthetic_folder(folder, count, size=250):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(count):
        smooth = rng.integers(0, 256, (size // 10, size // 10, 3), dtype=np.uint8)
        picture = Image.fromarray(smooth).resize((size, size), Image.BILINEAR)
        picture.save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def picture_config(spec, folder, image_size, batch_size):
    """dcgan.py's frozen config for a new run on the folder (as tests/conftest.make_config),
    without the data: checked before any picture is decoded."""
    from gan import config
    argv = ["--dataset", "folder", "--data-dir", folder, "--image-size", str(image_size),
            "--batch-size", str(batch_size), "--precision", "fp32", "--base-channels", "64"]
    return config.new_run(spec, argv)


def training_speed(spec, cfg, dataset, steps, warmup, separate_runs=False):
    from gan import graph
    from benchmark import in_separate_runs
    train_step = in_separate_runs if separate_runs else graph.train_step
    model = graph.build(spec, cfg, dataset.images.shape)
    with graph.start_session(model, cfg, dataset) as sess:
        sess.run(model.train.reshuffle)
        for i in range(warmup + steps):
            if i == warmup:
                started = time.perf_counter()
            train_step(sess, model.train, spec.g_steps)
        return steps * cfg.batch_size / (time.perf_counter() - started)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from gan import tf_quiet  # noqa: F401  (before TensorFlow)
    import numpy as np
    import tensorflow as tf

    from gan import config
    from gan import data
    import dcgan
    from gan.errors import UserError

    tf.compat.v1.disable_eager_execution()  # TF1 graph mode, as the scripts run
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = args.data_dir or scratch
            cfg, explicit = picture_config(dcgan.SPEC, folder, args.image_size, args.batch_size)
            if not args.data_dir:
                synthetic_folder(folder, args.count)
            started = time.perf_counter()
            images, skipped = data.load_picture_folder(folder, args.image_size, 3)
            decode = len(images) / (time.perf_counter() - started)
        print(f"machine: {os.cpu_count()} cores, TensorFlow {tf.__version__}")
        print(f"pipeline (decode + resize + crop, {os.cpu_count()} processes): {decode:.0f} "
              f"images/s ({len(images)} pictures, {skipped} skipped)", flush=True)
        dataset = data.Dataset(images, np.zeros(len(images), np.int32),
                               f"{len(images)} pictures in {folder}")
        cfg = config.fit_to_data(cfg, explicit, len(images))
        train = training_speed(dcgan.SPEC, cfg, dataset, args.steps, args.warmup)
        variants = {}
        if args.compare:  # the speed levers of a CPU run, timed in this same process
            variants["two sess.run per step (the step before d_then_g)"] = training_speed(
                dcgan.SPEC, cfg, dataset, args.steps, args.warmup, separate_runs=True)
            for name, change in (("bf16", dict(precision="bf16")),
                                 ("half width (--base-channels 32)", dict(base_channels=32)),
                                 ("bf16 + half width (dcgan.py's default on a CPU with bf16)",
                                  dict(precision="bf16", base_channels=32))):
                variants[name] = training_speed(dcgan.SPEC, cfg.replace(**change), dataset,
                                                args.steps, args.warmup)
    except UserError as e:
        exit_with_error(PROG, str(e), e.exit_code)
    except KeyboardInterrupt:
        exit_with_error(PROG, "interrupted", 130)
    print(f"training dcgan {args.image_size}x{args.image_size}x3, batch {args.batch_size}, fp32 "
          f"at --base-channels 64: {train:.0f} images/s")
    print(f"bound by: {'training' if train < decode else 'the input pipeline'} "
          f"(decoding happens once per run, training every step)")
    for name, speed in variants.items():
        print(f"  {name}: {speed:.0f} images/s, {speed / train:.2f}x fp32 at --base-channels 64")
    return 0


if __name__ == "__main__":
    sys.exit(main())
