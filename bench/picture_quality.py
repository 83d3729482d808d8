"""Does a faster picture-folder setting train as well, per step or per minute? Scored on digits.

    python bench/picture_quality.py                      # 300 steps of each variant, seed 0
    python bench/picture_quality.py --steps 600 --seed 1 --keep runs/pictures
    python bench/picture_quality.py --minutes 5          # the same wall time for each variant

A user's own pictures cannot be scored, so this writes --count MNIST training digits as a
folder of 64x64 RGB PNG pictures and trains `dcgan.py --data-dir FOLDER` on it (the real script,
in a subprocess) with each variant's flags for the same number of steps (or, with --minutes,
for the same wall time: the faster setting makes more steps; run nothing else beside it). Each
run's newest
checkpoint then draws 2,000 pictures (`dcgan.py --generate`), which are turned back into 28x28
grey digits and scored by `evaluate.py --images`. Printed per variant: training wall seconds,
steps, images/s, MNIST score, Frechet distance, digits present; then the ratios to the first
variant.
"""

# Flags are parsed before TensorFlow is imported, so --help and usage errors answer at once.
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
import children  # noqa: E402
from benchmark import names_from  # noqa: E402  (no TensorFlow at import)
from gan.flags import OneLineParser, bounded_int, exit_with_error, positive_float_upto  # noqa: E402

PROG = "picture_quality.py"
VARIANTS = {  # name -> dcgan.py flags
    "fp32-64": ["--precision", "fp32", "--base-channels", "64"],  # the article's, on a GPU too
    "bf16-64": ["--precision", "bf16", "--base-channels", "64"],
    "fp32-32": ["--precision", "fp32", "--base-channels", "32"],
    "bf16-32": ["--precision", "bf16", "--base-channels", "32"],  # the default on a bf16 CPU
}
SCORED = 2000  # pictures drawn and scored per run
DEFAULT_STEPS = 300
MAX_STEPS = 1_000_000


def parse_args(argv):
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--variants", type=names_from(tuple(VARIANTS), "variants"),
                        default=["fp32-64", "bf16-32"],
                        help="comma-separated: " + "; ".join(
                            f"{k}: {' '.join(v)}" for k, v in VARIANTS.items()))
    parser.add_argument("--steps", type=bounded_int(1, MAX_STEPS), default=None,
                        help=f"training steps of every variant; {DEFAULT_STEPS} unless "
                             f"--minutes is given")
    parser.add_argument("--minutes", type=positive_float_upto(24 * 60), default=None,
                        help="instead of --steps: train every variant for this many minutes")
    parser.add_argument("--count", type=bounded_int(64, 60000), default=6000,
                        help="MNIST training digits written as pictures")
    parser.add_argument("--seed", type=bounded_int(0, 2**31 - 1), default=0,
                        help="dcgan.py's --seed for every variant")
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "MNIST_data"),
                        help="MNIST's IDX files: the digits drawn, and evaluate.py's reference")
    parser.add_argument("--keep", default=None,
                        help="a new folder to keep the pictures and runs in (default: a "
                             "temporary folder, removed at the end)")
    args = parser.parse_args(argv)
    if args.steps and args.minutes:
        parser.error("--steps and --minutes both set how long each variant trains; give one "
                     "of them")
    if not args.minutes:
        args.steps = args.steps or DEFAULT_STEPS
    args.data_dir = os.path.abspath(args.data_dir)  # the children run in the repository root
    if args.keep and os.path.exists(args.keep):
        parser.error(f"--keep {args.keep} already exists; name a new folder")
    return args


def write_digit_pictures(folder, count, data_dir):
    """The first `count` MNIST training digits as 64x64 RGB PNGs (white on black)."""
    import numpy as np
    from PIL import Image
    from gan import data
    digits = data.load_training_data("mnist", data_dir, log=lambda m: None).images[:count, :, :, 0]
    os.makedirs(folder)
    for i, digit in enumerate(digits):
        picture = Image.fromarray(digit).resize((64, 64), Image.BILINEAR).convert("RGB")
        picture.save(os.path.join(folder, f"{i:05d}.png"))
    return np.asarray(digits)


def as_digits(pictures):
    """[N, 64, 64, 3] uint8 pictures -> [N, 28, 28] uint8 grey digits for evaluate.py."""
    import numpy as np
    from PIL import Image
    grey = pictures.astype(np.float32).mean(axis=3).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(g).resize((28, 28), Image.BILINEAR))
                     for g in grey])


def run(command, log):
    """Run a repository script; its output goes to log; a failure stops the benchmark, and
    Ctrl-C or SIGTERM stops the script too (children.run)."""
    with open(log, "a") as out:
        code = children.run([sys.executable] + command, cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT)
    if code:
        with open(log) as f:  # its last lines: the folder may be a temporary one, removed on exit
            tail = [line.strip() for line in f.read().splitlines() if line.strip()][-1:]
        exit_with_error(PROG, f"{command[0]} failed (exit {code}): "
                              f"{tail[0] if tail else 'no output'}", 1)


def train_and_score(name, folder, work, args):
    import numpy as np
    runs = os.path.join(work, name)
    dirs = ["--checkpoint-dir", os.path.join(runs, "checkpoints"),
            "--sample-dir", os.path.join(runs, "samples")]
    log = os.path.join(work, f"{name}.log")
    started = time.perf_counter()
    length = (["--steps", str(MAX_STEPS), "--minutes", str(args.minutes), "--sample-every", "100"]
              if args.minutes else ["--steps", str(args.steps), "--sample-every", str(args.steps)])
    run(["dcgan.py", "--data-dir", folder, "--seed", str(args.seed), "--save-every",
         str(MAX_STEPS)] + length + VARIANTS[name] + dirs, log)
    seconds = time.perf_counter() - started
    run(["dcgan.py", "--generate", "--num-images", str(SCORED)] + dirs, log)
    pictures = np.load(os.path.join(runs, "samples", "generated.npy"), allow_pickle=False)
    digits = os.path.join(runs, "digits.npy")
    np.save(digits, as_digits(pictures))
    scores = os.path.join(runs, "scores.json")
    run(["evaluate.py", "--images", digits, "--json", scores, "--data-dir", args.data_dir], log)
    with open(scores) as f:
        figures = json.load(f)["digits.npy"]
    return dict(seconds=seconds, figures=figures, images_per_sec=training_speed(runs),
                steps=steps_trained(runs))


def training_speed(runs):
    """Training images/s of the run's last logged step (its losses.csv), start-up excluded."""
    import csv
    with open(os.path.join(runs, "samples", "losses.csv")) as f:
        return float(list(csv.DictReader(f))[-1]["images_per_sec"])


def steps_trained(runs):
    """The step of the run's newest checkpoint (a --minutes run saves where it stopped)."""
    from gan.checkpoints import checkpoint_steps  # listed, never globbed: --keep is the user's
    return checkpoint_steps(os.path.join(runs, "checkpoints"))[0]


def score_real_pictures(folder, work, data_dir):
    """The figures of real digits after the same trip (28 -> 64x64 RGB -> 28): the ceiling."""
    import numpy as np
    from PIL import Image
    files = sorted(os.listdir(folder))[:SCORED]
    pictures = np.stack([np.asarray(Image.open(os.path.join(folder, f))) for f in files])
    digits = os.path.join(work, "real_digits.npy")
    np.save(digits, as_digits(pictures))
    scores = os.path.join(work, "real_scores.json")
    run(["evaluate.py", "--images", digits, "--json", scores, "--data-dir", data_dir],
        os.path.join(work, "real.log"))
    with open(scores) as f:
        return json.load(f)["real_digits.npy"]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    children.raise_on_sigterm()
    try:
        return compare(args)
    except KeyboardInterrupt:  # the running script is stopped, the temporary folder removed
        exit_with_error(PROG, "interrupted", 130)
    except children.Terminated as e:
        exit_with_error(PROG, f"stopped by {e}", 128 + e.signum)


def compare(args):
    from gan import tf_quiet  # noqa: F401  (before TensorFlow)
    from gan.errors import UserError
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or scratch
        os.makedirs(work, exist_ok=True)
        folder = os.path.join(work, "pictures")
        try:
            write_digit_pictures(folder, args.count, args.data_dir)
        except UserError as e:
            exit_with_error(PROG, str(e), e.exit_code)
        length = f"--minutes {args.minutes:g}" if args.minutes else f"--steps {args.steps}"
        print(f"{args.count} MNIST digits as 64x64 RGB pictures; dcgan.py {length} "
              f"--seed {args.seed}; {SCORED} generated pictures scored as 28x28 digits")
        print(f"{'variant':<9} {'flags':<36} {'run s':>6} {'steps':>6} {'img/s':>6} {'score':>6} "
              f"{'Frechet':>8} {'unsure':>7} {'digits':>6}", flush=True)
        real = score_real_pictures(folder, work, args.data_dir)
        print(f"{'real':<9} {'(the pictures themselves)':<36} {'':>6} {'':>6} {'':>6} "
              f"{real['mnist_score']:>6.2f} {real['frechet']:>8.1f} "
              f"{100 * real['unsure_share']:>6.1f}% {real['digits_present']:>6}", flush=True)
        results = {}
        for name in args.variants:
            result = results[name] = train_and_score(name, folder, work, args)
            f = result["figures"]
            print(f"{name:<9} {' '.join(VARIANTS[name]):<36} {result['seconds']:>6.0f} "
                  f"{result['steps']:>6} {result['images_per_sec']:>6.0f} {f['mnist_score']:>6.2f} "
                  f"{f['frechet']:>8.1f} {100 * f['unsure_share']:>6.1f}% "
                  f"{f['digits_present']:>6}", flush=True)
    first = results[args.variants[0]]
    for name in args.variants[1:]:
        speed = results[name]["images_per_sec"] / first["images_per_sec"]
        gain = results[name]["figures"]["mnist_score"] - first["figures"]["mnist_score"]
        print(f"{name} against {args.variants[0]}: {speed:.2f}x the training images/s, "
              f"MNIST score {gain:+.2f} at the same "
              f"{f'{args.minutes:g} minutes' if args.minutes else f'{args.steps} steps'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
