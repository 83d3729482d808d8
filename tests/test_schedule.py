"""What a run writes and when: checkpoints without the data, epoch schedules at any batch size,
--minutes, and a quiet console. The scripts' own processes are script_processes.py's, shared."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from gan import checkpoints
import dcgan
import gan_mlp
from gan import outputs
from gan import training
from conftest import FAST
from script_processes import copy_of, run_flags, script_run


def test_checkpoint_holds_the_model_not_the_data(tmp_path_factory):
    """A checkpoint's files stay within a small factor of its variables' own bytes, however
    many images the run trains on (the data set is a local variable, filled at start-up): dcgan's
    process run trained on 6000 images."""
    folder = script_run("dcgan", tmp_path_factory).folder
    prefix = str(folder / "c" / "model.ckpt-2")
    reader = tf.train.load_checkpoint(prefix)
    names = reader.get_variable_to_shape_map()
    assert not set(names) & set(checkpoints.OLD_DATA_VARIABLES)
    variable_bytes = sum(reader.get_tensor(n).nbytes for n in names)
    files = [prefix + ".index", prefix + ".meta"] + [
        os.path.join(folder / "c", f) for f in os.listdir(folder / "c")
        if f.startswith("model.ckpt-2.data")]
    on_disk = sum(os.path.getsize(f) for f in files)
    assert on_disk < 1.5 * variable_bytes + 500_000  # the meta graph is about 0.3 MB
    assert 6000 * 28 * 28 > variable_bytes  # so the data would have shown


def test_epoch_schedule_follows_the_batch_size(tmp_path_factory):
    """gan_mlp logs, draws and saves once an epoch at any --batch-size: its process run's 128
    tiny images at batch 64 are 2 steps an epoch, so --epochs 2 writes rows, grids and
    checkpoints at 2 and 4, and an epoch line at each."""
    result, folder = script_run("gan_mlp", tmp_path_factory)
    rows = outputs.read_loss_log(str(folder / "s" / "losses.csv"))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert all(np.isfinite(float(r["d_loss"])) and float(r["d_real"]) > 0 for r in rows)
    for step in (2, 4):
        assert f"epoch {step // 2}: step {step}, D loss" in result.stdout
        assert (folder / "s" / f"step_{step:06d}.png").exists()
    assert "nan" not in result.stdout
    assert checkpoints.checkpoint_steps(str(folder / "c")) == [4, 2]


@pytest.mark.parametrize("script", ["gan_mlp", "dcgan", "cgan", "lsgan"])
def test_console_shows_no_tensorflow_start_up_lines(tmp_path_factory, script):
    """The script's own process (script_processes.py): no TensorFlow start-up lines, the
    progress bar to 100%, the done line."""
    result, _ = script_run(script, tmp_path_factory)
    console = result.stdout + result.stderr
    assert "E0000" not in console and "I0000" not in console and "WARNING" not in console
    assert f"{script}: 100%|" in result.stdout  # the bar, named after the model
    steps = 4 if script == "gan_mlp" else 2
    assert f"\ndone: {steps} steps; samples in " in result.stdout


def test_precision_auto_is_the_default_resolved_printed_saved_and_kept(tmp_path, run_dirs,
                                                                       capsys, monkeypatch):
    """Trains at the default precision on whatever CPU it finds (bf16 where oneDNN runs it)."""
    from gan import config
    expected, _ = config.automatic_precision("/cpu:0")
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "1", "--device",
                                                        "/cpu:0"]) == 0
    assert f"--precision auto: {expected}" in capsys.readouterr().out
    saved = json.loads((tmp_path / "checkpoints" / "config.json").read_text())
    assert saved["precision"] == expected
    # A resume without the flag keeps the run's precision, even if auto would pick another: the
    # saved one is changed to fp32, and auto is made to say bf16 (no bf16 graph is built).
    from gan import machine
    monkeypatch.setattr(machine, "here", lambda: (True, True, "told so by the test"))
    assert config.automatic_precision("/cpu:0")[0] == "bf16"
    other = "fp32"
    saved["precision"] = other
    (tmp_path / "checkpoints" / "config.json").write_text(json.dumps(saved))
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "2"]) == 0
    assert "--precision auto" not in capsys.readouterr().out
    assert json.loads((tmp_path / "checkpoints" / "config.json").read_text())["precision"] == other


def test_run_saved_without_a_precision_resumes_at_fp32(tmp_path_factory, tmp_path, capsys):
    """Runs saved before --precision had its auto default trained at fp32: they stay fp32."""
    folder = copy_of("dcgan", tmp_path_factory, tmp_path)
    saved = json.loads((folder / "c" / "config.json").read_text())
    del saved["precision"]
    (folder / "c" / "config.json").write_text(json.dumps(saved))
    assert training.main(dcgan.SPEC, run_flags(folder) + ["--steps", "3"]) == 0
    assert "--precision auto" not in capsys.readouterr().out
    assert json.loads((folder / "c" / "config.json").read_text())["precision"] == "fp32"


def test_saved_precision_this_device_cannot_run_goes_on_at_fp32_and_minutes_stops_cleanly(
        tmp_path_factory, tmp_path, capsys):
    """A run moved to another machine: fp16 saved on a GPU, resumed where there is none; this
    resume also stops at --minutes."""
    folder = copy_of("dcgan", tmp_path_factory, tmp_path)  # at step 2
    saved = json.loads((folder / "c" / "config.json").read_text())
    saved["precision"] = "fp16"
    (folder / "c" / "config.json").write_text(json.dumps(saved))
    (folder / "s" / "training.gif").unlink()  # the process run's: the stop must write its own
    assert training.main(dcgan.SPEC, run_flags(folder) + ["--steps", "100000", "--minutes",
                                                          "0.02", "--device", "/cpu:0"]) == 0
    out = capsys.readouterr().out
    assert "saved at --precision fp16, which needs a GPU; fp32 is used here" in out
    # the fallback is this machine's: the run's own setting stays, for when it moves back
    assert json.loads((folder / "c" / "config.json").read_text())["precision"] == "fp16"

    # --minutes stops cleanly, with a checkpoint, a grid and the GIF of the step it stopped at
    step = checkpoints.checkpoint_steps(str(folder / "c"))[0]
    assert 2 < step < 100000 and "--minutes 0.02 reached" in out
    assert (folder / "s" / f"step_{step:06d}.png").exists()
    assert (folder / "s" / "training.gif").exists()


def test_gan_mlp_defaults_to_fp32_where_bf16_scored_worse():
    from conftest import make_config
    assert make_config(gan_mlp.SPEC, ["--device", "/cpu:0"], 1000).precision == "fp32"


def test_tensorboard_holds_plain_tags_and_the_sample_grid(tmp_path_factory):
    """dcgan's process run logged each step and scored step 2 (--eval-every 2)."""
    folder = script_run("dcgan", tmp_path_factory).folder / "c" / "tensorboard"
    tags, images = set(), []
    for path in folder.iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.add(value.tag)
                if value.HasField("image"):
                    images.append(value.image)
    assert {"d_loss", "g_loss", "d_real", "d_fake", "quality/mnist_score", "samples"} <= tags
    assert not any(t.endswith("_1") for t in tags)
    assert images and images[0].height > 28 and images[0].encoded_image_string[:4] == b"\x89PNG"
