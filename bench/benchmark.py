"""Training speed of each script's TF1 graph, against the same model written the modern way.

    .venv/bin/python bench/benchmark.py                 # all graphs, fp32 / bf16 / XLA rows
    .venv/bin/python bench/benchmark.py --models dcgan --steps 50

For each graph: training images/s over --steps steps after --warmup steps (the scripts' own
graph, in-graph batches, the same sess.run calls as training.py's loop), the FLOPs of one
training iteration, the share of this machine's peak (a large fp32 matmul, measured in the same
run) that reaches, and the ratio to the Keras + tf.function + tf.data baseline
(bench/keras_baseline.py, run in its own process). The last line reads
`min ratio ours/baseline: X`, the smallest fp32 ratio over the graphs.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

import training

v1 = tf.compat.v1
MODELS = ("gan_mlp", "dcgan", "cgan", "lsgan")


def machine():
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpus = tf.config.list_physical_devices("GPU")
    return f"{name}, {os.cpu_count()} cores, {len(gpus)} GPU(s), TensorFlow {tf.__version__}"


def peak_flops(n=2048, repeats=10):
    """FLOP/s of an n x n fp32 matmul, the yardstick for each graph's share of the machine."""
    graph = tf.Graph()
    with graph.as_default():
        a = tf.Variable(tf.random.normal([n, n]))
        b = tf.Variable(tf.random.normal([n, n]))
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
    from tensorflow.python.framework import ops as ops_lib
    total = 0
    for fetch, times in ((ops["d_train"], 1), (ops["g_train"], g_steps)):
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


def ours(name, steps, warmup, xla=False, precision="fp32", cgan_width=None, ema=0.0):
    """images/s and FLOPs per iteration of the script's own training graph."""
    module = __import__(name)
    spec = module.SPEC
    # --ema 0 but in the ema rows: the Keras baseline keeps no weight average
    argv = ["--precision", precision, "--ema", str(ema)] + (["--xla"] if xla else [])
    if cgan_width:
        argv += ["--width", str(cgan_width)]
    cfg, _ = training.parse_config(spec, argv)
    cfg.device = training.validate_device(cfg.device)
    if hasattr(cfg, "dataset"):
        cfg.dataset = "mnist"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8192, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, 8192).astype(np.int32)
    graph = tf.Graph()
    with graph.as_default(), tf.device(cfg.device):
        v1.set_random_seed(0)
        v1.train.get_or_create_global_step()
        ops = training.build_training(spec, cfg, len(images), images.shape[1:])
        init = [v1.global_variables_initializer(), v1.local_variables_initializer()]
    with v1.Session(graph=graph, config=training.session_config(cfg)) as sess:
        sess.run(init, {ops["images_in"]: images, ops["labels_in"]: labels})
        sess.run(ops["reshuffle"])

        for _ in range(warmup):
            training.train_step(sess, ops, spec.g_steps)
        started = time.perf_counter()
        for _ in range(steps):
            training.train_step(sess, ops, spec.g_steps)
        seconds = time.perf_counter() - started
        flops = iteration_flops(graph, sess, ops, spec.g_steps)
    return dict(images_per_sec=steps * cfg.batch_size / seconds, step_ms=1000 * seconds / steps,
                flops=flops, batch=cfg.batch_size)


def baseline(name, steps, warmup, cgan_width=None):
    command = [sys.executable, os.path.join(HERE, "keras_baseline.py"), name,
               "--steps", str(steps), "--warmup", str(warmup)]
    if cgan_width:
        command += ["--cgan-width", str(cgan_width)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if result.returncode:
        raise RuntimeError(f"baseline {name} failed: {result.stderr[-1000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated scripts")
    parser.add_argument("--steps", type=int, default=30, help="timed iterations per graph")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    parser.add_argument("--variants", default="fp32,bf16,xla",
                        help="rows per graph besides the baseline: fp32, bf16, xla, and ema "
                             "(fp32 with --ema 0.999, the cost of the weight average)")
    parser.add_argument("--cgan-width", type=float, default=None,
                        help="cgan's --width for both ours and the baseline (default: cgan's)")
    args = parser.parse_args()

    peak = peak_flops()
    print(f"machine: {machine()}")
    print(f"peak (2048^2 fp32 matmul): {peak / 1e9:.0f} GFLOP/s")
    print(f"{'graph':<10} {'variant':<9} {'batch':>5} {'ms/iter':>8} {'img/s':>8} "
          f"{'GFLOP/it':>9} {'% peak':>7} {'ours/base':>9}")
    ratios = []
    for name in args.models.split(","):
        width = (args.cgan_width or __import__("cgan").DEFAULTS["width"]) if name == "cgan" else None
        base = baseline(name, args.steps, args.warmup, width)
        rows = []
        for variant in args.variants.split(","):
            result = ours(name, args.steps, args.warmup, xla=variant == "xla",
                          precision="bf16" if variant == "bf16" else "fp32", cgan_width=width,
                          ema=0.999 if variant == "ema" else 0.0)
            rows.append((variant, result))
        flops = rows[0][1]["flops"]
        for variant, r in rows:
            ratio = r["images_per_sec"] / base["images_per_sec"]
            if variant == "fp32":
                ratios.append(ratio)
            share = 100 * flops / (r["step_ms"] / 1000) / peak
            print(f"{name:<10} {variant:<9} {r['batch']:>5} {r['step_ms']:>8.1f} "
                  f"{r['images_per_sec']:>8.0f} {flops / 1e9:>9.2f} {share:>7.1f} {ratio:>9.2f}")
        print(f"{name:<10} {'keras':<9} {rows[0][1]['batch']:>5} {base['step_ms']:>8.1f} "
              f"{base['images_per_sec']:>8.0f} {'':>9} {'':>7} {'1.00':>9}")
    print(f"min ratio ours/baseline: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
