"""Each article script run once as a real process, shared by the tests of a pytest worker.

The process boundary is what these runs are for: a script's own console (no TensorFlow start-up
lines, the progress bar, the done line), oneDNN held to AVX2 before TensorFlow loads, and cgan's
checkpoint restored by tensor name. A TensorFlow start-up costs ~8 CPU-seconds, so each script
starts once (issue 24: "one real subprocess per script") and its run is also the trained run that
other tests read or copy: the same layout as conftest's tiny_runs (mnist/, c/, s/).

    script_run(name, tmp_path_factory) -> Run(result, folder)
    run_flags(folder) -> the flags that point a script at a copy of that run
"""

import collections
import os
import shutil
import subprocess
import sys
import textwrap

from conftest import write_tiny_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Run = collections.namedtuple("Run", "result folder")
TWO_STEPS = ["--steps", "2", "--log-every", "1"]  # a row a step; a grid and checkpoint at 2
# What each script's run adds to the shared flags (--data-dir, --checkpoint-dir, --sample-dir,
# --batch-size 16), and why:
EXTRA = {
    # epoch-based: 128 images at batch 64 are 2 steps an epoch, so 2 epochs log, draw and save at
    # steps 2 and 4 (test_schedule's epoch schedule)
    "gan_mlp": ["--batch-size", "64", "--epochs", "2"],
    # --precision auto (the default) under ONEDNN_MAX_CPU_ISA=AVX2 (test_precision); 6000 images,
    # so a checkpoint that held the data would show (test_schedule); a score for TensorBoard
    "dcgan": TWO_STEPS + ["--device", "/cpu:0", "--eval-every", "2"],
    "cgan": TWO_STEPS + ["--precision", "fp32"],  # the tensor names restored below are fp32's
    "lsgan": TWO_STEPS + ["--precision", "fp32"],
}
ENV = {"dcgan": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}  # read by oneDNN when TensorFlow loads
IMAGES = {"dcgan": 6000}  # training images; the test split, which --eval-every's classifier
# reads whole at the first score (~0.8 CPU-s per 1,000), has 128

# cgan's process runs `cgan.py` as `python cgan.py` would (runpy, as __main__, nothing imported
# before it), then the article's second program on the checkpoint it wrote: import_meta_graph into
# a new graph, feed and fetch by tensor name, none of cgan.py's functions called.
CGAN_THEN_RESTORE = textwrap.dedent("""
    import runpy, sys
    sys.argv = sys.argv[1:]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code:
            raise
    ckpt = sys.argv[sys.argv.index("--checkpoint-dir") + 1] + "/model.ckpt-2"

    import numpy as np, tensorflow as tf
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        saver = tf.compat.v1.train.import_meta_graph(ckpt + ".meta")
        saver.restore(sess, ckpt)
        z = np.random.uniform(-1, 1, (100, 100)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[np.arange(100) // 10]
        g = sess.run("generator/g/Tanh:0", {"noise:0": z, "y_noise:0": y, "is_training:0": False})
        assert g.shape == (100, 28, 28, 1) and g.min() >= -1 and g.max() <= 1
        print("restored-by-name", g.std())
""")

_runs = {}


def script_run(name, tmp_path_factory):
    """The process run of `name`.py (trained the first time a test of this worker asks)."""
    if name not in _runs:
        folder = tmp_path_factory.mktemp(f"process-{name}")
        write_tiny_mnist(str(folder / "mnist"), n=IMAGES.get(name, 128), n_test=128)
        script = os.path.join(ROOT, f"{name}.py")
        argv = [script, *run_flags(folder), "--batch-size", "16", *EXTRA[name]]
        command = [sys.executable, "-c", CGAN_THEN_RESTORE, *argv] if name == "cgan" else \
            [sys.executable, *argv]
        env = {k: v for k, v in os.environ.items()
               if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_QUIET_SET_IT")}  # as a user's shell
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                                env={**env, **ENV.get(name, {})}, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        _runs[name] = Run(result, folder)
    return _runs[name]


def run_flags(folder):
    return ["--data-dir", str(folder / "mnist"), "--checkpoint-dir", str(folder / "c"),
            "--sample-dir", str(folder / "s")]


def copy_of(name, tmp_path_factory, tmp_path):
    """A private copy of the process run of `name`, for a test to resume or change."""
    destination = tmp_path / f"copy-{name}"
    shutil.copytree(script_run(name, tmp_path_factory).folder, destination, symlinks=True)
    return destination
