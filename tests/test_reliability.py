"""No run loses work, no bad input gets a traceback: kills, signals, NaN, corruption, mismatches."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import cgan
from gan import checkpoints
import dcgan
from gan import training
from gan import outputs
from conftest import FAST

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, spec=dcgan.SPEC):
    return training.main(spec, args)


def weights(path):
    reader = tf.train.load_checkpoint(str(path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def start_script(run_dirs, extra):
    """dcgan.py in a child process, as a user starts it."""
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "dcgan.py")] + run_dirs + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def wait_for_checkpoint(folder, newer_than=-1, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = checkpoints.checkpoint_steps(folder) if os.path.isdir(folder) else []
        if steps and steps[0] > newer_than:
            return
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


def test_resume_is_exact(tmp_path, tiny_mnist):
    """12 steps in one run equal 6 + 6 in two runs, bit for bit (CPU), optimizer state included,
    and G's averaged weights (--ema), across an epoch boundary (8 steps of 16 tiny images); the
    control (another seed in the second half) must differ, or the test proves nothing."""
    def dirs(name):
        return ["--data-dir", tiny_mnist, "--sample-dir", str(tmp_path / name / "s"),
                "--checkpoint-dir", str(tmp_path / name / "c"), "--ema", "0.9",
                "--precision", "fp32"] + FAST  # the property is exact arithmetic

    assert run(dirs("whole") + ["--steps", "12"]) == 0
    assert run(dirs("split") + ["--steps", "6"]) == 0
    assert run(dirs("split") + ["--steps", "12"]) == 0
    whole = weights(tmp_path / "whole" / "c" / "model.ckpt-12")
    split = weights(tmp_path / "split" / "c" / "model.ckpt-12")
    assert set(whole) == set(split) and any("adam" in name for name in whole)
    assert any(name.startswith("generator_ema/") for name in whole)
    for name in whole:
        np.testing.assert_array_equal(whole[name], split[name], err_msg=name)
    rows = lambda n: [(r["step"], r["d_loss"], r["g_loss"]) for r in
                      outputs.read_loss_log(str(tmp_path / n / "s" / "losses.csv"))]
    assert rows("whole") == rows("split")

    assert run(dirs("control") + ["--steps", "6"]) == 0
    assert run(dirs("control") + ["--steps", "12", "--seed", "1"]) == 0
    control = weights(tmp_path / "control" / "c" / "model.ckpt-12")
    assert any(not np.array_equal(whole[n], control[n]) for n in whole)


def test_sigkill_mid_run_resumes_from_last_checkpoint(tmp_path, run_dirs):
    folder = str(tmp_path / "checkpoints")
    child = start_script(run_dirs, ["--batch-size", "16", "--save-every", "3", "--steps", "100000"])
    wait_for_checkpoint(folder)
    time.sleep(0.3)
    child.kill()
    child.wait()
    saved = checkpoints.checkpoint_steps(folder)[0]
    out = subprocess.run([sys.executable, os.path.join(ROOT, "dcgan.py")] + run_dirs +
                         ["--batch-size", "16", "--save-every", "3", "--steps", str(saved + 1)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"resuming dcgan from step {saved}" in out.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_and_exits_cleanly(tmp_path, run_dirs, sig):
    folder = str(tmp_path / "checkpoints")
    child = start_script(run_dirs, ["--batch-size", "16", "--save-every", "2", "--steps", "100000"])
    wait_for_checkpoint(folder)
    child.send_signal(sig)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 128 + sig, out[-2000:]
    assert "Traceback" not in out
    step = checkpoints.checkpoint_steps(folder)[0]
    assert f"saved step {step}" in out


def newest_complete(folder):
    """The newest checkpoint step on disk whose every tensor reads back, or None."""
    for step in checkpoints.checkpoint_steps(folder):
        try:
            if weights(os.path.join(folder, f"model.ckpt-{step}")):
                return step
        except (tf.errors.OpError, ValueError):
            continue
    return None


def test_repeated_kills_always_restore(tmp_path, run_dirs):
    """SIGKILL at random moments (mid-step or mid-save); every restart resumes from the newest
    checkpoint that is complete on disk when it starts (read back here, before the restart).
    Each restart is killed only after it saved a newer checkpoint, so it was past importing
    TensorFlow and restoring."""
    folder = str(tmp_path / "checkpoints")
    rng = np.random.default_rng(0)
    flags = ["--batch-size", "16", "--save-every", "1", "--keep", "2", "--steps", "100000",
             "--precision", "fp32"]
    newest = -1
    for restart in range(3):
        expected = newest_complete(folder) if restart else None
        assert (expected is not None) == bool(restart)
        child = start_script(run_dirs, flags)
        wait_for_checkpoint(folder, newer_than=newest)
        time.sleep(rng.uniform(0.5, 2.0))
        child.kill()
        out, _ = child.communicate()
        assert "Traceback" not in out
        if restart:
            assert f"resuming dcgan from step {expected} in" in out, out[-2000:]
        else:
            assert "from scratch" in out, out[-2000:]
        newest = checkpoints.checkpoint_steps(folder)[0]
    assert len(checkpoints.checkpoint_steps(folder)) <= 3  # --keep 2, plus one mid-prune


class NanAfter:
    """dcgan's discriminator with NaN injected into its logits from a given step on."""

    def __init__(self, step):
        self.step = step

    def __call__(self, images, labels, cfg, training_):
        logits = dcgan.discriminator(images, labels, cfg, training_)
        step = tf.compat.v1.train.get_or_create_global_step()
        return logits + tf.where(step >= self.step, np.nan, 0.0)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, run_dirs, capsys):
    spec = training.GanSpec(name="dcgan", generator=dcgan.generator, discriminator=NanAfter(3),
                            defaults=dcgan.DEFAULTS)
    assert run(run_dirs + FAST + ["--steps", "10"], spec) == 1
    err = capsys.readouterr().err
    assert "became nan at step 4" in err and "newest checkpoint is step 2" in err
    assert checkpoints.checkpoint_steps(str(tmp_path / "checkpoints")) == [2]


def test_corrupt_newest_checkpoint_falls_back(tmp_path, run_dirs, capsys):
    assert run(run_dirs + FAST + ["--steps", "4"]) == 0
    data = tmp_path / "checkpoints" / "model.ckpt-4.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    assert run(run_dirs + FAST + ["--steps", "6"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint step 4 is unreadable" in out and "resuming dcgan from step 2" in out


def test_all_checkpoints_corrupt_is_a_clear_error(tmp_path, run_dirs, capsys):
    assert run(run_dirs + FAST + ["--steps", "4"]) == 0
    for index in (tmp_path / "checkpoints").glob("*.index"):
        index.write_bytes(b"")
    capsys.readouterr()
    assert run(run_dirs + ["--generate"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "none of the 2 checkpoints" in lines[0], lines


def test_checkpoint_of_another_script_is_named(tmp_path, run_dirs, capsys):
    assert run(run_dirs + FAST + ["--steps", "1"]) == 0
    assert run(run_dirs + ["--generate"], cgan.SPEC) == 2
    assert "holds a dcgan run, not cgan" in capsys.readouterr().err


def test_other_z_size_is_named(tmp_path, run_dirs, capsys):
    assert run(run_dirs + FAST + ["--steps", "1"]) == 0
    assert run(run_dirs + ["--generate", "--z-dim", "64"]) == 2
    assert "trained with --z-dim 100, not 64" in capsys.readouterr().err
    # With the saved flags edited by hand, the shape check still catches it before restoring.
    path = tmp_path / "checkpoints" / "config.json"
    path.write_text(path.read_text().replace('"z_dim": 100', '"z_dim": 64'))
    assert run(run_dirs + FAST + ["--steps", "2"]) == 1
    assert "has shape [100, 1024] there but [64, 1024]" in capsys.readouterr().err


def test_unwritable_output_folder_is_refused(tmp_path, tiny_mnist, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = ["--data-dir", tiny_mnist, "--checkpoint-dir", str(blocker / "c"),
            "--sample-dir", str(tmp_path / "s")]
    assert run(args) == 2
    assert "--checkpoint-dir" in capsys.readouterr().err


def test_failed_save_keeps_previous_checkpoint(tmp_path, run_dirs, monkeypatch, capsys):
    real_save = tf.compat.v1.train.Saver.save
    calls = []

    def save_then_disk_full(self, sess, path, **kwargs):
        calls.append(kwargs["global_step"])
        if len(calls) > 1:
            open(f"{path}-{kwargs['global_step']}.data-00000-of-00001.tempstate1", "wb").close()
            raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
        return real_save(self, sess, path, **kwargs)

    monkeypatch.setattr(tf.compat.v1.train.Saver, "save", save_then_disk_full)
    assert run(run_dirs + FAST + ["--steps", "6"]) == 1
    err = capsys.readouterr().err
    assert "no space left on the disk" in err and "newest good one is step 2" in err
    folder = tmp_path / "checkpoints"
    assert checkpoints.checkpoint_steps(str(folder)) == [2]
    assert not list(folder.glob("*tempstate*"))
    monkeypatch.undo()
    assert run(run_dirs + ["--generate"]) == 0


def test_retention_holds_across_restarts_and_temp_files_go(tmp_path, run_dirs):
    folder = tmp_path / "checkpoints"
    for steps in (2, 4, 6):
        assert run(run_dirs + FAST + ["--keep", "2", "--steps", str(steps)]) == 0
        (folder / "model.ckpt-99.data-00000-of-00001.tempstate42").write_bytes(b"x")
    assert run(run_dirs + FAST + ["--keep", "2", "--steps", "8"]) == 0
    assert checkpoints.checkpoint_steps(str(folder)) == [8, 6]
    assert not list(folder.glob("*tempstate*"))


def test_second_trainer_on_same_folder_is_refused(tmp_path, run_dirs, capsys):
    folder = tmp_path / "checkpoints"
    with checkpoints.RunLock(str(folder)):  # as a running trainer holds it
        assert run(run_dirs + ["--steps", "1"]) == 1
    assert f"another training run (pid {os.getpid()})" in capsys.readouterr().err
    assert run(run_dirs + ["--steps", "1"]) == 0  # released: nothing stale is left behind
