"""No run loses work, no bad input gets a traceback: kills, signals, NaN, corruption, mismatches."""

import os
import shutil
import signal
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
import forked_scripts


def run(args, spec=dcgan.SPEC):
    return training.main(spec, args)


def weights(path):
    reader = tf.train.load_checkpoint(str(path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def start_script(run_dirs, extra, output):
    """dcgan.py in a process of its own, as a user starts it (a fork of a server that has
    imported TensorFlow: forked_scripts), its stdout and stderr into the file output."""
    return forked_scripts.start("dcgan.py", run_dirs + extra, output)


def wait_for_checkpoint(folder, newer_than=-1, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = checkpoints.checkpoint_steps(folder) if os.path.isdir(folder) else []
        if steps and steps[0] > newer_than:
            return
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


@pytest.mark.fresh_graphs  # each run builds its graph, as a new process would
def test_resume_is_exact_and_retention_holds_across_restarts(tmp_path, tiny_mnist):
    """12 steps in one run equal 6 + 6 in two runs, bit for bit (CPU), optimizer state included,
    and G's averaged weights (--ema), across an epoch boundary (8 steps of 16 tiny images); the
    control (a copy of the first half, another seed in the second) must differ, or the test
    proves nothing. The same restart keeps --keep 2 across processes and removes temp files."""
    def dirs(name):
        return ["--data-dir", tiny_mnist, "--sample-dir", str(tmp_path / name / "s"),
                "--checkpoint-dir", str(tmp_path / name / "c"), "--ema", "0.9",
                "--precision", "fp32",  # the property is exact arithmetic
                "--batch-size", "16", "--save-every", "2", "--keep", "2", "--log-every", "1",
                "--sample-every", "1000"]

    assert run(dirs("whole") + ["--steps", "12"]) == 0
    assert run(dirs("split") + ["--steps", "6"]) == 0
    shutil.copytree(tmp_path / "split", tmp_path / "control")
    split = tmp_path / "split" / "c"
    (split / "model.ckpt-99.data-00000-of-00001.tempstate42").write_bytes(b"x")  # a killed save's
    assert run(dirs("split") + ["--steps", "12"]) == 0
    whole = weights(tmp_path / "whole" / "c" / "model.ckpt-12")
    resumed = weights(split / "model.ckpt-12")
    assert set(whole) == set(resumed) and any("adam" in name for name in whole)
    assert any(name.startswith("generator_ema/") for name in whole)
    for name in whole:
        np.testing.assert_array_equal(whole[name], resumed[name], err_msg=name)
    rows = lambda n: [(r["step"], r["d_loss"], r["g_loss"]) for r in
                      outputs.read_loss_log(str(tmp_path / n / "s" / "losses.csv"))]
    assert rows("whole") == rows("split")

    # retention across the restart: the first run's 4 and 6 are pruned too; the temp file went
    assert checkpoints.checkpoint_steps(str(split)) == [12, 10]
    assert not list(split.glob("*tempstate*"))

    assert run(dirs("control") + ["--steps", "12", "--seed", "1"]) == 0
    control = weights(tmp_path / "control" / "c" / "model.ckpt-12")
    assert any(not np.array_equal(whole[n], control[n]) for n in whole)


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
    """Four dcgan.py processes in turn on one folder. The first two are SIGKILLed at random
    moments (mid-step or mid-save); every restart resumes from the newest checkpoint that is
    complete on disk when it starts (read back here, before the restart). Each is stopped only
    after it saved a newer checkpoint, so it was past importing TensorFlow and restoring. The
    third gets SIGINT (Ctrl-C), the fourth SIGTERM: each saves the step it is on, says so and
    exits 128 + the signal without a traceback; the fourth resumes from the third's save."""
    folder = str(tmp_path / "checkpoints")
    rng = np.random.default_rng(0)
    flags = ["--batch-size", "16", "--save-every", "1", "--keep", "2", "--steps", "100000",
             "--precision", "fp32"]
    newest = -1
    stops = [signal.SIGKILL, signal.SIGKILL, signal.SIGINT, signal.SIGTERM]
    for restart, sig in enumerate(stops):
        expected = newest_complete(folder) if restart else None
        assert (expected is not None) == bool(restart)
        child = start_script(run_dirs, flags, tmp_path / f"out-{restart}.txt")
        wait_for_checkpoint(folder, newer_than=newest)
        if sig == signal.SIGKILL:
            time.sleep(rng.uniform(0.05, 0.6))  # a random moment: mid-step or mid-save
        child.send_signal(sig)
        out, _ = child.communicate(timeout=120)
        assert "Traceback" not in out, out[-2000:]
        if restart:
            assert f"resuming dcgan from step {expected} in" in out, out[-2000:]
        else:
            assert "from scratch" in out, out[-2000:]
        newest = checkpoints.checkpoint_steps(folder)[0]
        if sig != signal.SIGKILL:  # SIGINT, SIGTERM: saved the step it was on, exit 130, 143
            assert child.returncode == 128 + sig, out[-2000:]
            assert f"{sig.name}: saved step {newest} to" in out, out[-2000:]
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


def copy_dirs(base):
    """Flags for run_copy's folders: its data, checkpoints and samples."""
    return ["--data-dir", str(base / "mnist"), "--checkpoint-dir", str(base / "c"),
            "--sample-dir", str(base / "s")]


def test_corrupt_newest_checkpoint_falls_back(run_copy, capsys):
    base = run_copy("dcgan")  # checkpoints of steps 1 and 2
    data = base / "c" / "model.ckpt-2.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    capsys.readouterr()
    assert run(copy_dirs(base) + ["--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint step 2 is unreadable" in out and "resuming dcgan from step 1" in out


def test_all_checkpoints_corrupt_is_a_clear_error(run_copy, capsys):
    base = run_copy("dcgan")
    for index in (base / "c").glob("*.index"):
        index.write_bytes(b"")
    capsys.readouterr()
    assert run(copy_dirs(base) + ["--generate"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "none of the 2 checkpoints" in lines[0], lines


def test_checkpoint_of_another_script_is_named(run_copy, capsys):
    base = run_copy("dcgan")
    capsys.readouterr()
    assert run(copy_dirs(base) + ["--generate"], cgan.SPEC) == 2
    assert "holds a dcgan run, not cgan" in capsys.readouterr().err


def test_other_z_size_is_named(run_copy, capsys):
    base = run_copy("dcgan")
    capsys.readouterr()
    assert run(copy_dirs(base) + ["--generate", "--z-dim", "64"]) == 2
    assert "trained with --z-dim 100, not 64" in capsys.readouterr().err
    # With the saved flags edited by hand, the shape check still catches it before restoring.
    path = base / "c" / "config.json"
    path.write_text(path.read_text().replace('"z_dim": 100', '"z_dim": 64'))
    assert run(copy_dirs(base) + ["--steps", "3"]) == 1
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


def test_second_trainer_on_same_folder_is_refused(tmp_path, run_dirs, capsys):
    folder = tmp_path / "checkpoints"
    with checkpoints.RunLock(str(folder)):  # as a running trainer holds it
        assert run(run_dirs + ["--steps", "1"]) == 1
    assert f"another training run (pid {os.getpid()})" in capsys.readouterr().err
    # released, nothing stale left behind: the next start gets past the lock, to a check that
    # only runs while holding it (the batch against the data), without building a graph
    assert run(run_dirs + ["--steps", "1", "--batch-size", "1000"]) == 2
    err = capsys.readouterr().err
    assert "another training run" not in err and "more than the 128 training images" in err, err
