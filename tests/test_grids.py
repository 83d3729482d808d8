"""Grids near-square for any count, cgan's digits and InfoGAN's code in row blocks, --code and
--code-grid, the loss plot of short runs, epoch lines on small folders, the default sample
folder, and the line for a run already past --steps (issue 28)."""

import os

import imageio.v2 as imageio
import numpy as np
import pytest

import cgan
import dcgan
from conftest import FAST, write_tiny_mnist
from gan import config
from gan import outputs
from gan import sampling
from gan import training
import utils

CELL = 29  # a 28-pixel image and its 1-pixel border


def grid_shape(n, **kwargs):
    """(rows, columns) of utils.montage of n 28x28 images."""
    grid = utils.montage(np.zeros((n, 28, 28, 1), np.uint8), **kwargs)
    return (grid.shape[0] - 1) // CELL, (grid.shape[1] - 1) // CELL


@pytest.mark.parametrize("n, shape", [(64, (8, 8)), (50, (7, 8)), (100, (10, 10)), (1, (1, 1)),
                                      (2, (1, 2)), (10, (3, 4)), (1000, (32, 32))])
def test_plain_grids_are_near_square(n, shape):
    rows, cols = grid_shape(n)
    assert (rows, cols) == shape
    assert rows * cols - n < cols  # never a row of padding alone


def test_row_blocks_wrap_within_their_own_rows():
    # cgan's plain --generate: 64 images over ten digits are ten rows of 6 or 7, one digit each
    # (it was 10 rows of 7 whose digits straddled rows, the last row one image).
    labels = np.arange(10)[np.arange(64) * 10 // 64]
    blocks = outputs.block_sizes(labels)
    assert sorted(blocks) == [6] * 6 + [7] * 4
    assert grid_shape(64, blocks=blocks) == (10, 7)
    # --digit 7: one block of 64 is 8x8 (it was a 1857x30 px strip); --digit 1,3,5: 9 rows of 8
    assert grid_shape(64, blocks=[64]) == (8, 8)
    assert grid_shape(64, blocks=[22, 21, 21]) == (9, 8)
    images = np.concatenate([np.full((n, 2, 2, 1), v, np.uint8) for v, n in ((10, 4), (20, 2))])
    grid = utils.montage(images, blocks=[4, 2])  # 10 10 / 10 10 / 20 20
    np.testing.assert_array_equal(grid[1::3, 1::3], [[10, 10], [10, 10], [20, 20]])
    grid = utils.montage(images[1:], blocks=[3, 2])  # 10 10 10 / 20 20 .
    np.testing.assert_array_equal(grid[1::3, 1::3], [[10, 10, 10], [20, 20, 128]])


def test_code_is_set_by_swapping_the_largest_entry():
    z = sampling.draw_z(0, 500, 100)
    codes = np.arange(500) % 10
    held = sampling.with_code(z, codes)
    np.testing.assert_array_equal(held[:, -10:].argmax(axis=1), codes)
    np.testing.assert_array_equal(held[:, :-10], z[:, :-10])
    np.testing.assert_array_equal(np.sort(held[:, -10:], axis=1), np.sort(z[:, -10:], axis=1))


def copied(run_copy, name):
    """(flags of a private copy of conftest's tiny run of name, its sample folder)."""
    base = run_copy(name)
    return ["--data-dir", str(base / "mnist"), "--checkpoint-dir", str(base / "c"),
            "--sample-dir", str(base / "s")], base / "s"


@pytest.fixture
def info_run(run_copy):
    """Copies of conftest's tiny dcgan run: one of its default `info` recipe (the code), and
    one whose config.json says `stable` (the refusal below reads the run's saved recipe before
    anything is restored)."""
    assert dcgan.DEFAULTS["recipe"] == "info"
    info, samples = copied(run_copy, "dcgan")
    stable = samples.parent.parent / "stable"
    import json
    import shutil
    shutil.copytree(samples.parent, stable)
    saved = json.loads((stable / "c" / "config.json").read_text())
    saved["recipe"] = "stable"
    (stable / "c" / "config.json").write_text(json.dumps(saved))
    return samples, {"info": info, "stable": ["--checkpoint-dir", str(stable / "c"),
                                              "--sample-dir", str(stable / "s")]}


def test_code_holds_the_code_and_code_grid_has_a_row_per_value(info_run):
    samples, runs = info_run
    assert training.main(dcgan.SPEC, runs["info"] + ["--generate", "--num-images", "20",
                                                      "--code", "3"]) == 0
    three = np.load(samples / "generated.npy")
    assert training.main(dcgan.SPEC, runs["info"] + ["--generate", "--num-images", "20"]) == 0
    plain = np.load(samples / "generated.npy")
    z = sampling.draw_z(0, 20, 100)
    already = z[:, -10:].argmax(axis=1) == 3  # those draws had code 3 already: same images
    assert already.any() and not already.all()
    np.testing.assert_array_equal(three[already], plain[already])
    assert not np.array_equal(three[~already], plain[~already])
    # --code-grid: ten rows, each column's noise the same in every row; 20 images -> 2 columns
    assert training.main(dcgan.SPEC, runs["info"] + ["--generate", "--num-images", "20",
                                                      "--code-grid"]) == 0
    grid = np.load(samples / "generated.npy")
    png = imageio.imread(samples / "generated.png")
    assert grid.shape[0] == 20 and png.shape == (1 + 10 * CELL, 1 + 2 * CELL)
    for column in range(2):  # row k holds code k; the row of this z's own code is plain's
        own = z[column, -10:].argmax()
        np.testing.assert_array_equal(grid[2 * own + column], plain[column])
    # --code 1,2 with --code-grid: two rows; --seed picks other images
    assert training.main(dcgan.SPEC, runs["info"] + ["--generate", "--num-images", "5",
                                                      "--code-grid", "--code", "1,2"]) == 0
    assert imageio.imread(samples / "generated.png").shape == (1 + 2 * CELL, 1 + 3 * CELL)
    assert training.main(dcgan.SPEC, runs["info"] + ["--generate", "--num-images", "20",
                                                      "--seed", "1"]) == 0
    assert not np.array_equal(np.load(samples / "generated.npy"), plain)


def test_code_is_refused_in_one_line_where_the_run_has_none(info_run, capsys):
    _, runs = info_run
    assert training.main(dcgan.SPEC, runs["stable"] + ["--generate", "--code", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "has no categorical code" in err and "--recipe stable" in err
    assert training.main(dcgan.SPEC, runs["info"] + ["--code", "3"]) == 2
    assert "--code only applies with --generate" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # cgan has no code: not one of its flags
        config.parse(cgan.SPEC, ["--generate", "--code", "3"])


def test_cgan_digit_grid_is_square_not_a_strip(run_copy):
    run_dirs, samples = copied(run_copy, "cgan")
    assert training.main(cgan.SPEC, run_dirs + ["--generate", "--digit", "7"]) == 0
    assert imageio.imread(samples / "generated.png").shape == (
        1 + 8 * CELL, 1 + 8 * CELL)
    assert training.main(cgan.SPEC, run_dirs + ["--generate"]) == 0
    assert imageio.imread(samples / "generated.png").shape == (
        1 + 10 * CELL, 1 + 7 * CELL)
    labels = np.load(samples / "generated_labels.npy")
    assert list(labels) == sorted(labels)


def test_loss_plot_marks_a_single_point(tmp_path, monkeypatch):
    """A 200-step gan_mlp run logs once: one point, which a plain line does not draw."""
    import matplotlib.pyplot as plt
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    csv_path = str(tmp_path / "losses.csv")
    outputs.append_loss_rows(csv_path, [dict(step=200, epoch=1, d_loss=1.2, g_loss=0.9,
                                             d_real=0.6, d_fake=0.4, images_per_sec=100)])
    outputs.plot_losses(csv_path, str(tmp_path / "losses.png"))
    assert (tmp_path / "losses.png").exists()
    lines = [line for ax in figures[0].axes for line in ax.lines]
    assert len(lines) == 8 and all(line.get_marker() == "o" for line in lines)
    # many points: plain lines, as before
    outputs.append_loss_rows(csv_path, [dict(step=s, epoch=1, d_loss=1, g_loss=1, d_real=0.5,
                                             d_fake=0.5, images_per_sec=1)
                                        for s in range(201, 301)])
    outputs.plot_losses(csv_path, str(tmp_path / "losses.png"))
    assert all(line.get_marker() in (None, "None", "") for ax in figures[1].axes
               for line in ax.lines)


def test_epoch_lines_are_at_most_one_per_log_interval(tmp_path, capsys):
    # 32 tiny images at batch 16: 2 steps an epoch, 5 epochs in 10 steps; --log-every 5
    write_tiny_mnist(str(tmp_path / "mnist"), n=32)
    args = ["--data-dir", str(tmp_path / "mnist"), "--checkpoint-dir", str(tmp_path / "c"),
            "--batch-size", "16", "--log-every", "5", "--sample-every", "10",
            "--save-every", "10", "--steps", "10"]
    assert training.main(dcgan.SPEC, args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert 1 <= len(lines) <= 2, lines


def test_a_run_past_steps_says_why_it_stops(run_copy, capsys):
    run_dirs, _ = copied(run_copy, "dcgan")  # at step 2
    capsys.readouterr()
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "already at step 2, past --steps 1" in out and "e.g. --steps 4" in out


def test_default_sample_folder_follows_the_checkpoint_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    join = os.path.join
    assert config.default_sample_dir(join("checkpoints", "pics")) == join("samples", "pics")
    assert config.default_sample_dir(str(tmp_path / "checkpoints" / "a" / "b")) == join(
        "samples", "a", "b")
    assert config.default_sample_dir(join("pretrained", "cgan")) == join(
        "pretrained", "cgan", "samples")
    flags, _, _ = config.parse(dcgan.SPEC, [])
    assert flags["sample_dir"] == join("samples", "dcgan")
    flags, _, _ = config.parse(dcgan.SPEC, ["--checkpoint-dir", "runs/x", "--sample-dir", "s"])
    assert flags["sample_dir"] == "s"
    with pytest.raises(SystemExit):  # below samples/: its default could be another run's
        config.parse(dcgan.SPEC, ["--checkpoint-dir", "samples/x"])


def test_generate_writes_into_the_runs_own_folder_and_old_runs_keep_theirs(tmp_path,
                                                                            monkeypatch, capsys):
    """--checkpoint-dir pretrained-like folders no longer write into samples/<model>; a run
    saved by the previous version with its samples elsewhere leaves them as they are (a path
    read back from config.json is said, never written); and a copied checkpoint folder (the
    original's run id and config.json) never touches the original's samples."""
    import shutil
    monkeypatch.chdir(tmp_path)
    write_tiny_mnist("MNIST_data")
    assert training.main(dcgan.SPEC, FAST + ["--steps", "2"]) == 0  # checkpoints/dcgan
    mine = {p.name: p.read_bytes() for p in (tmp_path / "samples" / "dcgan").iterdir()}
    assert training.main(dcgan.SPEC, ["--generate", "--num-images", "4"]) == 0
    assert "generated.png" not in mine
    assert (tmp_path / "samples" / "dcgan" / "generated.png").exists()
    mine = {p.name: p.read_bytes() for p in (tmp_path / "samples" / "dcgan").iterdir()}
    # `other`, a pretrained-like folder: a copy of checkpoints/dcgan (its run id, and its
    # config.json naming samples/dcgan). --generate writes other/samples; resume and --fresh
    # write and delete only below other/; samples/dcgan is left byte for byte.
    shutil.copytree(tmp_path / "checkpoints" / "dcgan", tmp_path / "other")
    assert training.main(dcgan.SPEC, ["--generate", "--checkpoint-dir", "other"]) == 0
    assert (tmp_path / "other" / "samples" / "generated.png").exists()
    assert training.main(dcgan.SPEC, FAST + ["--steps", "3", "--checkpoint-dir", "other"]) == 0
    assert (tmp_path / "other" / "samples" / "losses.csv").exists()
    assert training.main(dcgan.SPEC, FAST + ["--steps", "2", "--checkpoint-dir", "other",
                                             "--fresh"]) == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "samples" / "dcgan").iterdir()} == mine
    # A run whose config.json names samples/old: resumed without --sample-dir it writes
    # samples/pics and says where the old ones are; samples/old is left byte for byte.
    assert training.main(dcgan.SPEC, FAST + ["--steps", "2", "--checkpoint-dir",
                                             "checkpoints/pics", "--sample-dir",
                                             "samples/old"]) == 0
    old = {p.name: p.read_bytes() for p in (tmp_path / "samples" / "old").iterdir()}
    capsys.readouterr()
    assert training.main(dcgan.SPEC, FAST + ["--steps", "3", "--checkpoint-dir",
                                             "checkpoints/pics", "--sample-every", "1"]) == 0
    assert "names samples/old for its samples" in capsys.readouterr().out
    assert (tmp_path / "samples" / "pics" / "step_000003.png").exists()
    assert {p.name: p.read_bytes() for p in (tmp_path / "samples" / "old").iterdir()} == old
