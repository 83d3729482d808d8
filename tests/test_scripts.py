"""gan_mlp.py, cgan.py and lsgan.py on tiny data: each trains, resumes and generates."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cgan
import gan_mlp
import lsgan
from gan import training
from gan import outputs
from conftest import FAST


@pytest.mark.parametrize("spec", [gan_mlp.SPEC, cgan.SPEC, lsgan.SPEC], ids=lambda s: s.name)
def test_trains_resumes_and_generates(spec, tmp_path, run_dirs):
    assert training.main(spec, run_dirs + FAST + ["--steps", "2"]) == 0
    assert training.main(spec, run_dirs + FAST + ["--steps", "4"]) == 0
    rows = outputs.read_loss_log(str(tmp_path / "samples" / "losses.csv"))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert (tmp_path / "samples" / "training.gif").exists()
    assert training.main(spec, run_dirs + ["--generate", "--num-images", "10"]) == 0
    assert np.load(tmp_path / "samples" / "generated.npy").shape == (10, 28, 28, 1)


def test_gan_mlp_epochs_flag(tmp_path, run_dirs, capsys):
    # 128 tiny images at batch 64 are 2 steps an epoch; --epochs 2 is 4 steps, 2 epoch lines.
    assert training.main(gan_mlp.SPEC, run_dirs + ["--batch-size", "64", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1: step 2" in out and "epoch 2: step 4" in out
    assert (tmp_path / "checkpoints" / "model.ckpt-4.index").exists()


def test_cgan_generates_only_requested_digits(tmp_path, run_dirs):
    assert training.main(cgan.SPEC, run_dirs + FAST + ["--steps", "1"]) == 0
    assert training.main(cgan.SPEC, run_dirs + ["--generate", "--digit", "3,7",
                                                "--num-images", "6"]) == 0
    labels = np.load(tmp_path / "samples" / "generated_labels.npy")
    assert labels.tolist() == [3, 3, 3, 7, 7, 7]


def test_cgan_digit_needs_generate(run_dirs, capsys):
    assert training.main(cgan.SPEC, run_dirs + ["--digit", "3"]) == 2
    assert "--digit only applies with --generate" in capsys.readouterr().err


def test_cgan_restores_by_tensor_name_in_a_fresh_process(tmp_path, run_dirs):
    """The article's second program: import_meta_graph, then feed and fetch by name."""
    assert training.main(cgan.SPEC, run_dirs + FAST + ["--steps", "2"]) == 0
    ckpt = tmp_path / "checkpoints" / "model.ckpt-2"
    program = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        tf.compat.v1.disable_eager_execution()
        with tf.compat.v1.Session() as sess:
            saver = tf.compat.v1.train.import_meta_graph("{ckpt}.meta")
            saver.restore(sess, "{ckpt}")
            z = np.random.uniform(-1, 1, (100, 100)).astype(np.float32)
            y = np.eye(10, dtype=np.float32)[np.arange(100) // 10]
            g = sess.run("generator/g/Tanh:0",
                         {{"noise:0": z, "y_noise:0": y, "is_training:0": False}})
            assert g.shape == (100, 28, 28, 1) and g.min() >= -1 and g.max() <= 1
            print("restored-by-name", g.std())
    """)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "restored-by-name" in result.stdout
