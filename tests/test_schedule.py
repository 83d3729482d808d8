"""What a run writes and when: checkpoints without the data, epoch schedules at any batch size,
--minutes, and a quiet console."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from gan import checkpoints
import dcgan
import gan_mlp
from gan import outputs
from gan import training
from conftest import FAST, write_tiny_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_checkpoint_holds_the_model_not_the_data(tmp_path, run_dirs):
    """A checkpoint's files stay within a small factor of its variables' own bytes, however
    many images the run trains on (the data set is a local variable, filled at start-up)."""
    write_tiny_mnist(str(tmp_path / "big"), n=6000)
    args = ["--data-dir", str(tmp_path / "big"), "--sample-dir", str(tmp_path / "s"),
            "--checkpoint-dir", str(tmp_path / "c")]
    assert training.main(dcgan.SPEC, args + FAST + ["--steps", "2"]) == 0
    prefix = str(tmp_path / "c" / "model.ckpt-2")
    reader = tf.train.load_checkpoint(prefix)
    names = reader.get_variable_to_shape_map()
    assert not set(names) & set(checkpoints.OLD_DATA_VARIABLES)
    variable_bytes = sum(reader.get_tensor(n).nbytes for n in names)
    files = [prefix + ".index", prefix + ".meta"] + [
        os.path.join(tmp_path / "c", f) for f in os.listdir(tmp_path / "c")
        if f.startswith("model.ckpt-2.data")]
    on_disk = sum(os.path.getsize(f) for f in files)
    assert on_disk < 1.5 * variable_bytes + 500_000  # the meta graph is about 0.3 MB
    assert 6000 * 28 * 28 > variable_bytes  # so the data would have shown


def test_epoch_schedule_follows_the_batch_size(tmp_path, run_dirs, capsys):
    """gan_mlp logs, draws and saves once an epoch at any --batch-size: 128 tiny images at
    batch 32 are 4 steps an epoch, so --epochs 3 writes rows, grids and checkpoints at 4, 8, 12."""
    assert training.main(gan_mlp.SPEC, run_dirs + ["--batch-size", "32", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    rows = outputs.read_loss_log(str(tmp_path / "samples" / "losses.csv"))
    assert [r["step"] for r in rows] == ["4", "8", "12"]
    assert all(np.isfinite(float(r["d_loss"])) and float(r["d_real"]) > 0 for r in rows)
    for step in (4, 8, 12):
        assert f"epoch {step // 4}: step {step}, D loss" in out and "nan" not in out
        assert (tmp_path / "samples" / f"step_{step:06d}.png").exists()
    assert checkpoints.checkpoint_steps(str(tmp_path / "checkpoints")) == [12, 8, 4]


def test_minutes_stops_cleanly_with_a_checkpoint_grid_and_gif(tmp_path, run_dirs, capsys):
    assert training.main(dcgan.SPEC, run_dirs + ["--batch-size", "16", "--steps", "100000",
                                                 "--minutes", "0.05"]) == 0
    step = checkpoints.checkpoint_steps(str(tmp_path / "checkpoints"))[0]
    assert 0 < step < 100000 and "--minutes 0.05 reached" in capsys.readouterr().out
    assert (tmp_path / "samples" / f"step_{step:06d}.png").exists()
    assert (tmp_path / "samples" / "training.gif").exists()


@pytest.mark.parametrize("script", ["gan_mlp.py", "dcgan.py", "cgan.py", "lsgan.py"])
def test_console_shows_no_tensorflow_start_up_lines(tmp_path, script):
    write_tiny_mnist(str(tmp_path / "mnist"))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, script), "--data-dir", str(tmp_path / "mnist"),
         "--sample-dir", str(tmp_path / "s"), "--checkpoint-dir", str(tmp_path / "c"),
         "--batch-size", "16", "--steps", "2", "--log-every", "1"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    console = result.stdout + result.stderr
    assert "E0000" not in console and "I0000" not in console and "WARNING" not in console


def test_precision_auto_is_the_default_resolved_printed_saved_and_kept(tmp_path, run_dirs,
                                                                       capsys, monkeypatch):
    """Trains at the default precision on whatever CPU it finds (bf16 where oneDNN runs it)."""
    import json
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


def test_run_saved_without_a_precision_resumes_at_fp32(tmp_path, run_dirs, capsys):
    """Runs saved before --precision had its auto default trained at fp32: they stay fp32."""
    import json
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "1", "--precision",
                                                        "fp32"]) == 0
    saved = json.loads((tmp_path / "checkpoints" / "config.json").read_text())
    del saved["precision"]
    (tmp_path / "checkpoints" / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "2"]) == 0
    assert "--precision auto" not in capsys.readouterr().out
    assert json.loads((tmp_path / "checkpoints" / "config.json").read_text())["precision"] == "fp32"


def test_saved_precision_this_device_cannot_run_goes_on_at_fp32(tmp_path, run_dirs, capsys):
    """A run moved to another machine: fp16 saved on a GPU, resumed where there is none."""
    import json
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "1", "--precision",
                                                        "fp32"]) == 0
    saved = json.loads((tmp_path / "checkpoints" / "config.json").read_text())
    saved["precision"] = "fp16"
    (tmp_path / "checkpoints" / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "2", "--device",
                                                        "/cpu:0"]) == 0
    assert "saved at --precision fp16, which needs a GPU; fp32 is used here" in \
        capsys.readouterr().out
    # the fallback is this machine's: the run's own setting stays, for when it moves back
    assert json.loads((tmp_path / "checkpoints" / "config.json").read_text())["precision"] == "fp16"


def test_gan_mlp_defaults_to_fp32_where_bf16_scored_worse():
    from conftest import make_config
    assert make_config(gan_mlp.SPEC, ["--device", "/cpu:0"], 1000).precision == "fp32"


def test_tensorboard_holds_plain_tags_and_the_sample_grid(tmp_path, run_dirs):
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "2", "--eval-every",
                                                        "2"]) == 0
    folder = tmp_path / "checkpoints" / "tensorboard"
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
