"""--generate's extras: the latent walk, and a generator-only folder that draws like the run."""

import numpy as np
import pytest

import cgan
import dcgan
from gan import training


def copied(run_copy, name):
    """(flags of a private copy of conftest's tiny run of name, its sample folder)."""
    base = run_copy(name)
    return ["--data-dir", str(base / "mnist"), "--checkpoint-dir", str(base / "c"),
            "--sample-dir", str(base / "s")], base / "s"


def test_walk_frames_run_from_the_grid_to_another_draw(run_copy):
    run_dirs, samples = copied(run_copy, "dcgan")
    assert training.main(dcgan.SPEC, run_dirs + ["--generate", "--num-images", "6", "--walk",
                                                 "--walk-frames", "5"]) == 0
    frames = np.load(samples / "walk.npy")
    assert frames.shape == (5, 6, 28, 28, 1)
    np.testing.assert_array_equal(frames[0], np.load(samples / "generated.npy"))
    # The last frame is the images of the other end point: --seed 1's draw, seed 0's + 1.
    assert training.main(dcgan.SPEC, run_dirs + ["--generate", "--num-images", "6",
                                                 "--seed", "1"]) == 0
    np.testing.assert_array_equal(frames[-1], np.load(samples / "generated.npy"))
    assert not np.array_equal(frames[1], frames[0])  # it moves
    assert (samples / "walk.gif").exists()


@pytest.mark.parametrize("spec", [dcgan.SPEC, cgan.SPEC], ids=lambda s: s.name)
def test_exported_generator_draws_what_the_run_draws(spec, run_copy):
    """The export (averaged weights stored as G's own, --ema 0) draws the run's images, and
    holds G alone: no D, no optimizer slots. (conftest's tiny runs keep the scripts' --ema
    0.999, whose average after 2 steps is not the last weights.)"""
    run_dirs, samples = copied(run_copy, spec.name)
    export = samples.parent / "exported"
    assert training.main(spec, run_dirs + ["--generate", "--num-images", "10",
                                           "--export-generator", str(export)]) == 0
    from_run = np.load(samples / "generated.npy")
    assert training.main(spec, ["--checkpoint-dir", str(export), "--sample-dir",
                                str(samples), "--generate", "--num-images", "10"]) == 0
    np.testing.assert_array_equal(np.load(samples / "generated.npy"), from_run)
    import tensorflow as tf
    names = [n for n, _ in tf.train.list_variables(str(export / "model.ckpt-2"))]
    assert names and all(n.startswith("generator/") or n == "global_step" for n in names)
    assert not any("adam" in n for n in names)
    # G's own weights in the export are the run's averages, which differ from its last weights
    exported = tf.train.load_checkpoint(str(export / "model.ckpt-2"))
    run = tf.train.load_checkpoint(str(samples.parent / "c" / "model.ckpt-2"))
    weights = [n for n in names if n.startswith("generator/") and "moving_" not in n]
    for name in weights:
        np.testing.assert_array_equal(exported.get_tensor(name),
                                      run.get_tensor("generator_ema" + name[len("generator"):]))
    assert any(not np.array_equal(exported.get_tensor(n), run.get_tensor(n)) for n in weights)
    # Exporting again into the same folder is refused: nothing there is overwritten.
    assert training.main(spec, run_dirs + ["--generate", "--export-generator",
                                           str(export)]) == 2


def test_walk_needs_generate(run_dirs, capsys):
    assert training.main(dcgan.SPEC, run_dirs + ["--walk"]) == 2
    assert "--walk only applies with --generate" in capsys.readouterr().err


def test_digit_walk_keeps_the_style_and_ends_on_each_digit(run_copy):
    """cgan's --walk-digits: frame 0 is digit 0 and the last is digit 9 for the same z, equal
    to what --generate --digit draws for that z."""
    run_dirs, samples = copied(run_copy, "cgan")
    assert training.main(cgan.SPEC, run_dirs + ["--generate", "--num-images", "4",
                                                "--walk-digits", "--walk-frames", "3"]) == 0
    frames = np.load(samples / "walk_digits.npy")
    assert frames.shape == (9 * 2 + 1, 4, 28, 28, 1)
    for digit, frame in ((0, 0), (9, -1)):
        assert training.main(cgan.SPEC, run_dirs + ["--generate", "--num-images", "4",
                                                    "--digit", str(digit)]) == 0
        np.testing.assert_array_equal(frames[frame],
                                      np.load(samples / "generated.npy"))
