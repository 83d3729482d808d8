"""Training speed of each script's TF1 graph, against the same model written the modern way.

    python bench/benchmark.py                 # all graphs: default, fp32 and XLA rows
    python bench/benchmark.py --models dcgan --steps 50

For each graph: training images/s over --steps steps after --warmup steps (the scripts' own
graph from graph.build, in-graph batches, the same sess.run calls as training.py's loop), the
FLOPs of one training iteration, the share of this machine's peak (a large fp32 matmul,
measured in the same run) that reaches, and the ratio to the Keras + tf.function + tf.data
baseline (bench/keras_baseline.py, run in its own process, fp32). The `default` row is the
script as a user runs it (its default --precision, named in the row: `default=bf16`); the
last line reads `min ratio ours/baseline: X`, the smallest ratio of the default rows.
"""

# Flags are parsed before TensorFlow is imported, so --help and usage errors answer at once.
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import children  # noqa: E402
from gan.flags import (SCRIPTS, OneLineParser, bounded_int, exit_with_error,  # noqa: E402
                       positive_float)

VARIANTS = {  # row name -> the script flags it adds
    "default": [],  # the script's own default precision (--precision auto where it holds)
    "fp32": ["--precision", "fp32"],
    "bf16": ["--precision", "bf16"],  # oneDNN rewrite, CPU only
    "fp16": ["--precision", "fp16"],  # CUDA rewrite, GPU only
    "xla": ["--precision", "fp32", "--xla"],
    "ema": ["--precision", "fp32", "--ema", "0.999"],  # the cost of the weight average
    # fp32, with D's and G's updates in separate sess.run calls (as before the one-run step)
    "two-runs": ["--precision", "fp32"],
}
PROG = "benchmark.py"


def names_from(allowed, what):
    """A comma-separated list, each item one of allowed, each once."""
    def parse(text):
        names = [n for n in text.split(",") if n]
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"{text!r}: use {what} from {', '.join(allowed)}, comma-separated")
        if len(set(names)) < len(names):
            raise argparse.ArgumentTypeError(f"{text!r} names one twice; name each once")
        return names
    return parse


def add_models_flag(parser, models):
    """--models: which scripts' graphs to run, shared by the bench scripts."""
    parser.add_argument("--models", type=names_from(models, "scripts"), default=list(models),
                        help="comma-separated scripts (default: all)")


def parse_args(argv):
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
    add_models_flag(parser, SCRIPTS)
    parser.add_argument("--steps", type=bounded_int(1), default=30,
                        help="timed iterations per graph (default: %(default)s)")
    parser.add_argument("--warmup", type=bounded_int(0), default=5,
                        help="untimed iterations first (default: %(default)s)")
    parser.add_argument("--variants", type=names_from(tuple(VARIANTS), "rows"),
                        default=None,
                        help="rows per graph besides the baseline: default (the script's "
                             "default precision), fp32, bf16 (CPU only), fp16 "
                             "(GPU only), xla, ema (fp32 with --ema 0.999, the cost of the "
                             "weight average) and two-runs (fp32 with D's and G's updates in "
                             "separate sess.run calls, the before of the one-run step); the "
                             "first row's FLOPs are used for every row. Default: "
                             "default,fp32,xla, and fp16 too where TensorFlow sees a GPU")
    parser.add_argument("--profile", action="store_true",
                        help="after each graph's rows, where its fp32 step's time goes: "
                             "the ops a traced step ran, summed by type")
    parser.add_argument("--cgan-width", type=positive_float, default=None,
                        help="cgan's --width for both ours and the baseline (default: cgan's)")
    return parser.parse_args(argv)


def machine():
    import tensorflow as tf
    from gan.machine import cpu_name
    gpus = tf.config.list_physical_devices("GPU")
    return f"{cpu_name()}, {os.cpu_count()} cores, {len(gpus)} GPU(s), TensorFlow {tf.__version__}"


def peak_flops(n=2048, repeats=10):
    """FLOP/s of an n x n fp32 matmul, the yardstick for each graph's share of the machine."""
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        a = v1.Variable(tf.random.normal([n, n]))
        b = v1.Variable(tf.random.normal([n, n]))
        product = tf.reduce_sum(tf.matmul(a, b))
        init = v1.global_variables_initializer()
    with v1.Session(graph=graph) as sess:
        sess.run(init)
        sess.run(product)
        started = time.perf_counter()
        for _ in range(repeats):
            sess.run(product)
        return 2 * n ** 3 * repeats / (time.perf_counter() - started)


def iteration_flops(graph, sess, ops, g_steps):
    """FLOPs of one training iteration: the ops each of its sess.run calls really executed,
    each costed by TensorFlow's registered FLOP statistics (matmuls, convolutions, ...)."""
    import tensorflow as tf
    from tensorflow.python.framework import ops as ops_lib
    v1 = tf.compat.v1
    total = 0
    first = ops.d_then_g_and_step if g_steps == 1 else ops.d_then_g
    for fetch, times in ((first, 1), (ops.g_train, g_steps - 1)):
        run_meta = v1.RunMetadata()
        sess.run(fetch, options=v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE),
                 run_metadata=run_meta)
        executed = {node.node_name.split(":")[0] for dev in run_meta.step_stats.dev_stats
                    for node in dev.node_stats}
        for op in graph.get_operations():
            if op.name not in executed:
                continue
            try:
                total += times * (ops_lib.get_stats_for_node_def(graph, op.node_def,
                                                                 "flops").value or 0)
            except (ValueError, KeyError):
                pass  # no statistic registered, or a shape unknown: not a heavy op here
    return total


def profile(spec, cfg, dataset, steps=10, top=8):
    """Print where a training iteration's time goes: TensorFlow's trace (RunMetadata step
    stats) of `steps` iterations, op time summed by op type over both the D and G parts."""
    import collections
    import tensorflow as tf
    from gan import graph
    v1 = tf.compat.v1
    model = graph.build(spec, cfg, dataset.images.shape)
    ops = model.train
    by_type, runs, traced_wall = collections.Counter(), 0, 0.0
    kinds = {op.name: op.type for op in model.graph.get_operations()}
    with graph.start_session(model, cfg, dataset) as sess:
        sess.run(ops.reshuffle)
        for _ in range(3):
            graph.train_step(sess, ops, spec.g_steps)
        fetches = [ops.d_then_g_and_step] if spec.g_steps == 1 else (
            [ops.d_then_g] + [ops.g_train] * (spec.g_steps - 2) + [ops.g_train_and_step])
        for _ in range(steps):
            for fetch in fetches:
                run_meta = v1.RunMetadata()
                started = time.perf_counter()
                sess.run(fetch, options=v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE),
                         run_metadata=run_meta)
                traced_wall += time.perf_counter() - started
                runs += 1
                for dev in run_meta.step_stats.dev_stats:
                    for node in dev.node_stats:
                        by_type[executed_type(node, kinds)] += node.all_end_rel_micros
    op_ms = sum(by_type.values()) / 1000 / steps
    print(f"  {spec.name} profile: {runs // steps} sess.run per iteration; traced "
          f"{1000 * traced_wall / steps:.1f} ms/iteration; op time summed over threads "
          f"{op_ms:.1f} ms/iteration, by op type:")
    for kind, micros in by_type.most_common(top):
        print(f"    {kind:<28} {micros / 1000 / steps:>7.2f} ms  "
              f"{100 * micros / sum(by_type.values()):>5.1f}%")


def executed_type(node, kinds):
    """The op type a traced node really ran: Grappler's fusions (MatMul + bias add into
    _FusedMatMul, convolution + bias + ReLU into _FusedConv2D) keep the last node's name, so
    the type comes from the trace's own label ("name = Type(inputs)") when it has one."""
    label = node.timeline_label
    if " = " in label:
        return label.split(" = ", 1)[1].split("(", 1)[0]
    name = node.node_name.split(":")[0]
    return kinds.get(name, name)


def random_mnist(n=8192):
    """Random digits-shaped data (speed does not depend on the pixels), as the baseline uses."""
    import numpy as np
    from gan import data
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.int32)
    return data.Dataset(images, labels, f"{n} random 28x28 images")


def run_config(spec, argv, num_examples):
    """The frozen config of a new run of spec with these flags (as tests/conftest.make_config);
    what --precision auto picked shows in the rows' labels, so its line is not printed."""
    from gan import config
    cfg, explicit = config.new_run(spec, argv, log=lambda message: None)
    return config.fit_to_data(cfg, explicit, num_examples)


def variant_config(name, variant, num_examples, cgan_width=None):
    """(spec, frozen config) of one row: the script's defaults and the variant's flags."""
    import importlib
    spec = importlib.import_module(name).SPEC
    # --ema 0 except in the ema rows: the Keras baseline keeps no weight average
    argv = ["--ema", "0"] + VARIANTS[variant]
    if cgan_width:
        argv += ["--width", str(cgan_width)]
    if spec.picture_sizes:
        argv += ["--dataset", "mnist"]
    return spec, run_config(spec, argv, num_examples)


def in_separate_runs(sess, ops, g_steps):
    """An iteration as the scripts ran it before d_then_g: a sess.run for each update."""
    sess.run(ops.d_train)
    for _ in range(g_steps - 1):
        sess.run(ops.g_train)
    sess.run(ops.g_train_and_step)


def ours(spec, cfg, dataset, steps, warmup, separate_runs=False):
    """images/s and FLOPs per iteration of the script's own training graph."""
    from gan import graph
    model = graph.build(spec, cfg, dataset.images.shape)
    ops = model.train
    train_step = in_separate_runs if separate_runs else graph.train_step
    with graph.start_session(model, cfg, dataset) as sess:
        sess.run(ops.reshuffle)
        for _ in range(warmup):
            train_step(sess, ops, spec.g_steps)
        started = time.perf_counter()
        for _ in range(steps):
            train_step(sess, ops, spec.g_steps)
        seconds = time.perf_counter() - started
        flops = iteration_flops(model.graph, sess, ops, spec.g_steps)
    return dict(images_per_sec=steps * cfg.batch_size / seconds, step_ms=1000 * seconds / steps,
                flops=flops, batch=cfg.batch_size)


def baseline(name, steps, warmup, cgan_width=None):
    command = [sys.executable, os.path.join(HERE, "keras_baseline.py"), name,
               "--steps", str(steps), "--warmup", str(warmup)]
    if cgan_width:
        command += ["--cgan-width", str(cgan_width)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        exit_with_error(PROG, f"the Keras baseline for {name} ran over an hour; use fewer "
                              f"--steps", 1)
    lines = result.stdout.strip().splitlines()
    if result.returncode or not lines:
        why = (result.stderr.strip().splitlines() or ["no output"])[-1]
        exit_with_error(PROG, f"the Keras baseline for {name} failed (exit {result.returncode}: "
                              f"{why}); run {' '.join(command[1:])} to see it all", 1)
    return json.loads(lines[-1])


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from gan import tf_quiet  # noqa: F401  (before TensorFlow)
    import tensorflow as tf
    from gan.errors import UserError

    tf.compat.v1.disable_eager_execution()  # TF1 graph mode, as the scripts run
    gpu = bool(tf.config.list_physical_devices("GPU"))
    variants = args.variants or (["default", "fp32", "fp16", "xla"] if gpu
                                 else ["default", "fp32", "xla"])
    if "fp16" in variants and not gpu:
        exit_with_error(PROG, "--variants fp16 is the CUDA rewrite and TensorFlow sees no GPU; "
                              "on CPU use bf16")
    if "bf16" in variants and gpu:
        exit_with_error(PROG, "--variants bf16 is the CPU (oneDNN) rewrite and the graphs run on "
                              "the GPU; use fp16")
    ratios = []
    children.raise_on_sigterm()
    try:
        dataset = random_mnist()
        rows = {}  # every row's config first: a variant this machine cannot run stops here
        for name in args.models:
            width = None
            if name == "cgan":
                import cgan
                width = args.cgan_width or cgan.DEFAULTS["width"]
            rows[name] = (width, [(variant, *variant_config(name, variant, len(dataset.images),
                                                            width)) for variant in variants])
        peak = peak_flops()
        print(f"machine: {machine()}")
        print(f"peak (2048^2 fp32 matmul): {peak / 1e9:.0f} GFLOP/s")
        print(f"{'graph':<10} {'variant':<12} {'batch':>5} {'ms/iter':>8} {'img/s':>8} "
              f"{'GFLOP/it':>9} {'% peak':>7} {'ours/base':>9}", flush=True)
        for name, (width, configs) in rows.items():
            base = baseline(name, args.steps, args.warmup, width)
            results = [(f"{variant}={cfg.precision}" if variant == "default" else variant,
                        ours(spec, cfg, dataset, args.steps, args.warmup,
                             separate_runs=variant == "two-runs"))
                       for variant, spec, cfg in configs]
            flops = results[0][1]["flops"]
            for variant, r in results:
                ratio = r["images_per_sec"] / base["images_per_sec"]
                if variant.startswith("default"):
                    ratios.append(ratio)
                share = 100 * flops / (r["step_ms"] / 1000) / peak
                print(f"{name:<10} {variant:<12} {r['batch']:>5} {r['step_ms']:>8.1f} "
                      f"{r['images_per_sec']:>8.0f} {flops / 1e9:>9.2f} {share:>7.1f} "
                      f"{ratio:>9.2f}", flush=True)
            print(f"{name:<10} {'keras fp32':<12} {results[0][1]['batch']:>5} "
                  f"{base['step_ms']:>8.1f} "
                  f"{base['images_per_sec']:>8.0f} {'':>9} {'':>7} {'1.00':>9}", flush=True)
            if args.profile:
                spec, cfg = variant_config(name, "fp32", len(dataset.images), width)
                profile(spec, cfg, dataset)
    except UserError as e:
        exit_with_error(PROG, str(e), e.exit_code)
    except KeyboardInterrupt:
        exit_with_error(PROG, "interrupted", 130)
    except children.Terminated as e:  # subprocess.run killed the Keras child on the way out
        exit_with_error(PROG, f"stopped by {e}", 128 + e.signum)
    if ratios:
        print(f"min ratio ours/baseline: {min(ratios):.2f}")
    else:
        print("min ratio ours/baseline: - (no default row; add default to --variants)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
