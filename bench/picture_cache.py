"""What the picture cache costs and saves: peak memory by folder size, the second run's start,
and the training speed from the cache against an in-memory copy.

    python bench/picture_cache.py                          # 1,000 and 60,000 synthetic pictures
    python bench/picture_cache.py --counts 1000,20000 --speed-steps 80

For each count: a synthetic folder (80x72 JPEGs of upscaled noise), then dcgan.py twice as a
user runs it (64 px, batch 16, fp32, the CPU's --base-channels): a first run of 2 steps that
decodes the folder into the cache, and a second of 2 more steps that reuses it. Printed: each
run's peak resident memory (the child's ru_maxrss), and for the second run the seconds from
launch to its "resuming" line and to its first step, beside a bare `import tensorflow` in a
fresh process and opening the cache in this one. Speed: one process, the same graph fed from
an in-memory copy and from the cache, in interleaved blocks of 10 steps (so load on the
machine hits both alike); steps/s of each and their ratio.
"""

# Flags are parsed before TensorFlow is imported, so --help and usage errors answer at once.
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from gan.flags import OneLineParser, bounded_int, exit_with_error  # noqa: E402  (no TensorFlow: flags first)

PROG = "picture_cache.py"
RUN_FLAGS = ["--image-size", "64", "--batch-size", "16", "--precision", "fp32", "--seed", "0",
             "--log-every", "1", "--sample-every", "1000", "--save-every", "1000"]


def counts(text):
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 16:
        raise argparse.ArgumentTypeError(f"{text!r}: give picture counts of 16 or more, "
                                         f"separated by commas, like 1000,60000")
    return values


def parse_args(argv):
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--counts", type=counts, default=[1000, 60000],
                        help="synthetic folder sizes, comma-separated")
    parser.add_argument("--speed-steps", type=bounded_int(0), default=60,
                        help="timed steps of each way in the speed comparison (0: skip it)")
    parser.add_argument("--work-dir", default=None,
                        help="keep the folders and runs here (default: a temp folder, removed)")
    return parser.parse_args(argv)


def synthetic_folder(folder, count):
    import numpy as np
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        noise = rng.integers(0, 256, (9, 10, 3), dtype=np.uint8)
        Image.fromarray(noise).resize((80, 72), Image.BILINEAR).save(
            os.path.join(folder, f"{i:06d}.jpg"), quality=90)


def timed_run(folder, run_dir, steps):
    """(peak RSS in MB, seconds to the "resuming"/"from scratch" line, seconds to the first
    step's progress, total seconds) of one dcgan.py run in a child process."""
    command = [sys.executable, os.path.join(ROOT, "dcgan.py"), "--data-dir", folder,
               "--checkpoint-dir", os.path.join(run_dir, "c"),
               "--sample-dir", os.path.join(run_dir, "s"), "--steps", str(steps)] + RUN_FLAGS
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seen, to_line, to_step = b"", None, None
    first_step = f" {steps - 1}/{steps} ".encode()  # tqdm's counter after the first new step
    while True:
        chunk = os.read(child.stdout.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        now = time.perf_counter() - started
        if to_line is None and (b"resuming dcgan" in seen or b"from scratch" in seen):
            to_line = now
        if to_step is None and first_step in seen:
            to_step = now
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{PROG}: dcgan.py failed: {' '.join(command)}")
    return usage.ru_maxrss / 1024, to_line, to_step, time.perf_counter() - started


def import_seconds():
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def cache_open_seconds(folder, cache_dir):
    from gan import picture_cache
    started = time.perf_counter()
    images, _ = picture_cache.load(folder, 64, 3, cache_dir, log=lambda m: None)
    seconds = time.perf_counter() - started
    images.close()
    return seconds


def speed(folder, cache_dir, steps, block=10):
    """Steps/s of the same dcgan graph fed from an in-memory copy and from the cache."""
    from gan import tf_quiet  # noqa: F401  (before TensorFlow)
    import numpy as np
    from gan import config, data, graph, picture_cache
    import dcgan
    cached, _ = picture_cache.load(folder, 64, 3, cache_dir, log=lambda m: None)
    cfg, explicit = config.new_run(dcgan.SPEC, ["--dataset", "folder", "--data-dir", folder,
                                                *RUN_FLAGS])
    cfg = config.fit_to_data(cfg, explicit, len(cached))
    sessions = {}
    for name, images in (("in memory", np.asarray(cached)), ("from the cache", cached)):
        dataset = data.Dataset(images, np.zeros(len(images), np.int32), name)
        model = graph.build(dcgan.SPEC, cfg, images.shape,
                            read_rows=getattr(images, "read_rows", None))
        sess = graph.start_session(model, cfg, dataset)
        sess.run(model.train.reshuffle)
        for _ in range(3):  # warm-up: the first steps pay for graph optimisation
            graph.train_step(sess, model.train, dcgan.SPEC.g_steps)
        sessions[name] = (sess, model, 0.0)
    for _ in range(max(1, steps // block)):
        for name, (sess, model, seconds) in sessions.items():
            started = time.perf_counter()
            for _ in range(block):
                graph.train_step(sess, model.train, dcgan.SPEC.g_steps)
            sessions[name] = (sess, model, seconds + time.perf_counter() - started)
    timed = max(1, steps // block) * block
    result = {name: timed / seconds for name, (_, _, seconds) in sessions.items()}
    for sess, _, _ in sessions.values():
        sess.close()
    cached.close()
    return result


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work_dir or scratch
        for count in args.counts:  # a first run that resumed would not decode: wrong figures
            if os.path.exists(os.path.join(work, f"run-{count}")):
                exit_with_error(PROG, f"{os.path.join(work, f'run-{count}')} already exists; "
                                      f"delete it, or pass another --work-dir", 2)
        print(f"machine: {os.cpu_count()} cores; a bare `import tensorflow` in a fresh process: "
              f"{import_seconds():.1f} s", flush=True)
        for count in args.counts:
            folder = os.path.join(work, f"pictures-{count}")
            if not os.path.isdir(folder):
                synthetic_folder(folder, count)
            run_dir = os.path.join(work, f"run-{count}")
            first = timed_run(folder, run_dir, 2)
            second = timed_run(folder, run_dir, 4)
            opened = cache_open_seconds(folder, os.path.join(run_dir, "c", "picture_cache"))
            print(f"{count} pictures: peak RSS first run {first[0]:.0f} MB ({first[3]:.1f} s, "
                  f"decodes into the cache), second run {second[0]:.0f} MB; second run "
                  f"launch to 'resuming' {second[1]:.1f} s, to its first step {second[2]:.1f} s;"
                  f" opening the cache {opened:.2f} s", flush=True)
        if args.speed_steps:
            count = args.counts[0]
            folder = os.path.join(work, f"pictures-{count}")
            result = speed(folder, os.path.join(work, f"run-{count}", "c", "picture_cache"),
                           args.speed_steps)
            memory, cache = result["in memory"], result["from the cache"]
            print(f"speed, {count} pictures, {args.speed_steps} steps each in blocks of 10: in "
                  f"memory {memory:.3f} steps/s, from the cache {cache:.3f} steps/s "
                  f"({cache / memory - 1:+.1%})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        exit_with_error(PROG, "interrupted", 130)
