"""dcgan.py on a folder of the user's own pictures: mixed formats and modes, broken files.

One 2-step 16x16 run at the CPU's default --base-channels (module fixture `picture_run`) is
shared; a test that resumes, generates or edits it works on a copy (copy_run)."""

import contextlib
import io
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import dcgan
from gan import training
from gan import data
from conftest import FAST




def write_picture_folder(folder):
    """Nine readable pictures of every common format and mode, in subfolders, and two broken."""
    rng = np.random.default_rng(0)
    rgb = lambda w, h: Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    (folder / "a" / "b").mkdir(parents=True)
    rgb(50, 40).save(folder / "wide.jpg")
    rgb(30, 60).save(folder / "tall.png")
    rgb(20, 20).convert("L").save(folder / "a" / "gray.png")
    rgb(40, 40).convert("RGBA").save(folder / "a" / "alpha.png")
    rgb(40, 40).convert("P").save(folder / "a" / "palette.bmp")
    frames = [rgb(32, 32).convert("P") for _ in range(3)]
    frames[0].save(folder / "a" / "b" / "anim.gif", save_all=True, append_images=frames[1:])
    rgb(33, 33).save(folder / "a" / "b" / "photo.webp")
    rgb(64, 64).convert("CMYK").save(folder / "a" / "b" / "cmyk.jpg")
    rgb(100, 100).save(folder / "big.JPEG")
    (folder / "corrupt.jpg").write_bytes(b"this is not a jpeg")
    good = folder / "tall.png"
    (folder / "truncated.png").write_bytes(good.read_bytes()[:200])
    (folder / "notes.txt").write_text("not a picture, ignored")


def test_folder_decodes_every_format_and_skips_broken(tmp_path):
    write_picture_folder(tmp_path / "pics")
    images, skipped = data.load_picture_folder(str(tmp_path / "pics"), 32, 3, workers=2)
    assert images.shape == (9, 32, 32, 3) and images.dtype == np.uint8 and skipped == 2
    gray, _ = data.load_picture_folder(str(tmp_path / "pics"), 16, 1, workers=2)
    assert gray.shape == (9, 16, 16, 1)


@pytest.fixture(scope="module")
def picture_run(tmp_path_factory):
    """pics/ (write_picture_folder) trained 2 steps at 16x16 on /cpu:0 with the default width
    into run/; its flags (without --steps) and what it printed."""
    root = tmp_path_factory.mktemp("picture-run")
    write_picture_folder(root / "pics")
    flags = FAST + ["--data-dir", str(root / "pics"), "--image-size", "16", "--device",
                    "/cpu:0", "--batch-size", "4"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = training.main(dcgan.SPEC, flags + dirs(root / "run") + ["--steps", "2"])
    assert code == 0, out.getvalue()
    return SimpleNamespace(run=root / "run", flags=flags, out=out.getvalue())


def dirs(run):
    return ["--sample-dir", str(run / "s"), "--checkpoint-dir", str(run / "c")]


def copy_run(picture_run, tmp_path):
    """A private copy of the shared run (its picture cache is decoded again on a resume)."""
    return shutil.copytree(picture_run.run, tmp_path / "run")


def test_dcgan_trains_and_generates_on_pictures(picture_run, tmp_path):
    assert "skipped 2 unreadable files" in picture_run.out
    grid = np.asarray(Image.open(picture_run.run / "s" / "step_000002.png"))
    assert grid.ndim == 3 and grid.shape[2] == 3  # colour grid
    assert (picture_run.run / "s" / "training.gif").exists()
    # --generate needs no repeated flags: size, channels and data set come from config.json
    run = copy_run(picture_run, tmp_path)
    assert training.main(dcgan.SPEC, dirs(run) + ["--generate", "--num-images", "5"]) == 0
    assert np.load(run / "s" / "generated.npy").shape == (5, 16, 16, 3)


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "is not a folder"),
    (lambda p: p.mkdir(), "no pictures"),
    (lambda p: (p.mkdir(), (p / "x.txt").write_text("hi")), "no pictures"),
    (lambda p: (p.mkdir(), (p / "x.png").write_bytes(b"broken")), "could be read"),
])
def test_folder_errors_are_one_line(tmp_path, capsys, setup, message):
    setup(tmp_path / "pics")
    args = ["--data-dir", str(tmp_path / "pics"), "--sample-dir", str(tmp_path / "s"),
            "--checkpoint-dir", str(tmp_path / "c"), "--steps", "1"]
    assert training.main(dcgan.SPEC, args) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_image_size_must_be_a_power_of_two(tmp_path, capsys):
    write_picture_folder(tmp_path / "pics")
    args = ["--data-dir", str(tmp_path / "pics"), "--image-size", "100", "--steps", "1",
            "--sample-dir", str(tmp_path / "s"), "--checkpoint-dir", str(tmp_path / "c")]
    assert training.main(dcgan.SPEC, args) == 2
    assert "--image-size 100" in capsys.readouterr().err


def test_picture_width_default_is_by_device_printed_saved_and_kept(picture_run, tmp_path,
                                                                  capsys):
    width = dcgan.PICTURE_WIDTH["cpu"]
    assert f"--base-channels {width}: the default on a CPU" in picture_run.out
    saved = json.loads((picture_run.run / "c" / "config.json").read_text())
    assert saved["base_channels"] == width
    # A resume takes the saved width (the restore is strict, so another width would fail).
    run = copy_run(picture_run, tmp_path)
    assert training.main(dcgan.SPEC, picture_run.flags + dirs(run) + ["--steps", "3"]) == 0
    assert "the default on a" not in capsys.readouterr().out
    assert json.loads((run / "c" / "config.json").read_text())["base_channels"] == width


def test_a_checkpoint_that_does_not_fit_leaves_config_and_a_new_sample_dir_alone(
        picture_run, tmp_path, capsys):
    run = copy_run(picture_run, tmp_path)
    config_json = run / "c" / "config.json"
    edited = json.loads(config_json.read_text())
    width = edited["base_channels"]
    edited["base_channels"] = width // 2  # a hand edit: the checkpoint holds the default width
    config_json.write_text(json.dumps(edited))
    before = config_json.read_bytes()
    new_samples = tmp_path / "new-samples"
    assert training.main(dcgan.SPEC, picture_run.flags + dirs(run) + [
        "--steps", "3", "--sample-dir", str(new_samples)]) != 0
    assert "does not fit" in capsys.readouterr().err
    assert config_json.read_bytes() == before
    assert not new_samples.exists() or not any(new_samples.iterdir())  # no claim left behind


def test_saved_picture_width_without_a_value_is_refused(picture_run, tmp_path, capsys):
    run = copy_run(picture_run, tmp_path)
    config_json = run / "c" / "config.json"
    width = json.loads(config_json.read_text())["base_channels"]
    text = config_json.read_text()
    assert f'"base_channels": {width}' in text
    config_json.write_text(text.replace(f'"base_channels": {width}', '"base_channels": null'))
    assert training.main(dcgan.SPEC, picture_run.flags + dirs(run) + ["--steps", "3"]) == 2
    err = capsys.readouterr().err
    assert "base_channels: null" in err and "no value" in err and err.count("\n") == 1
