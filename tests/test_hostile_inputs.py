"""Hostile and careless inputs through the real scripts, in subprocesses as a user runs them.

Each case asserts: no traceback, the one-line error (or the right result), and the user's own
files byte-identical afterwards. The principles they hold (README, Reliability): a run writes,
truncates or deletes only files it wrote; what it reads back from disk is checked like a flag
and never chooses code; MNIST preparation never replaces a file.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import write_tiny_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_RUN = ["--batch-size", "16", "--steps", "1", "--log-every", "1"]


def run(script, args, timeout=300):
    result = subprocess.run([sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args],
                            capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    return result


def assert_error(result, text, code=None):
    """Failed with exactly one line on stderr that contains text."""
    assert result.returncode != 0, result.stdout[-2000:]
    if code is not None:
        assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr


def snapshot(folder):
    """{relative path: bytes} of every file under folder but the trainers' lock file (a run
    folder's own file, which each trainer takes by writing its PID into it)."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in set(files) - {"train.lock"}:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-step dcgan run on tiny MNIST: (its data, checkpoint and sample folders)."""
    base = tmp_path_factory.mktemp("trained")
    write_tiny_mnist(str(base / "mnist"))
    args = ["--data-dir", base / "mnist", "--checkpoint-dir", base / "c", "--sample-dir",
            base / "s"] + TINY_RUN
    assert run("dcgan.py", args).returncode == 0
    return base


@pytest.fixture
def copy_of(trained, tmp_path):
    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


def dirs(base, checkpoints="c", samples="s", data="mnist"):
    return ["--data-dir", base / data, "--checkpoint-dir", base / checkpoints,
            "--sample-dir", base / samples]


# ---------------------------------------------------------------------------------------------
# The user's data

def test_incomplete_own_idx_set_is_refused(tmp_path):
    folder = tmp_path / "mine"
    write_tiny_mnist(str(folder), seed=5)
    os.remove(folder / "train-labels-idx1-ubyte.gz")
    before = snapshot(folder)
    assert_error(run("gan_mlp.py", dirs(tmp_path, data="mine") + TINY_RUN),
                 "not MNIST's", code=1)
    assert snapshot(folder) == before


def test_mnist_run_resumed_on_a_picture_folder_is_refused(copy_of):
    pics = copy_of / "pics"
    pics.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(pics / "mine.png")
    before = snapshot(pics), snapshot(copy_of / "c")
    assert_error(run("dcgan.py", dirs(copy_of, data="pics") + TINY_RUN),
                 "was trained on MNIST", code=2)
    assert (snapshot(pics), snapshot(copy_of / "c")) == before  # no .gz written into pics/


# ---------------------------------------------------------------------------------------------
# Output folders: only this run's files are written, truncated or deleted

def test_sample_dir_of_another_run_is_refused(copy_of):
    (copy_of / "s" / "step_000123.png").write_bytes(b"the user's own picture")
    before = snapshot(copy_of / "s")
    assert_error(run("dcgan.py", dirs(copy_of, checkpoints="other") + TINY_RUN),
                 "holds the samples of another run", code=2)
    assert snapshot(copy_of / "s") == before


def test_sample_dir_holding_users_files_is_refused(tmp_path):
    write_tiny_mnist(str(tmp_path / "mnist"))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "step_000123.png").write_bytes(b"mine")
    (tmp_path / "s" / "losses.csv").write_text("my,own,table\n")
    before = snapshot(tmp_path / "s")
    assert_error(run("lsgan.py", dirs(tmp_path) + TINY_RUN), "did not write", code=2)
    assert snapshot(tmp_path / "s") == before


def test_fresh_on_another_scripts_folder_deletes_nothing(copy_of):
    before = snapshot(copy_of)
    assert_error(run("cgan.py", dirs(copy_of) + TINY_RUN + ["--fresh"]),
                 "holds a dcgan run", code=2)
    assert snapshot(copy_of) == before


def test_loss_log_cut_mid_row_does_not_stop_a_resume(copy_of):
    csv = copy_of / "s" / "losses.csv"
    csv.write_text(csv.read_text() + "2,1,0.69")  # a crash or full disk mid-row
    result = run("dcgan.py", dirs(copy_of) + TINY_RUN[:2] + ["--steps", "3", "--log-every", "1"])
    assert result.returncode == 0, result.stderr
    assert (copy_of / "c" / "model.ckpt-3.index").exists()
    steps = [line.split(",")[0] for line in csv.read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3"]


def test_truncated_sample_z_is_drawn_again(copy_of):
    z = copy_of / "c" / "sample_z.npy"
    z.write_bytes(z.read_bytes()[:100])
    result = run("dcgan.py", dirs(copy_of) + TINY_RUN[:2] + ["--steps", "2"])
    assert result.returncode == 0 and "sample_z.npy is unreadable" in result.stdout


# ---------------------------------------------------------------------------------------------
# What is read back from disk is checked like a flag, and chooses no code

@pytest.mark.parametrize("entry, text", [
    ({"z_dim": "x"}, "z_dim: \"x\""),
    ({"z_dim": [1]}, "z_dim: [1]"),
    ({"z_dim": None}, "it has no value"),
    ({"ema": "0.5"}, "a float is needed, not a str"),
    ({"recipe": "magic"}, "recipe: \"magic\""),
    ({"model": 7}, "not a name"),
])
def test_bad_saved_config_is_one_line_and_left_as_it_is(copy_of, entry, text):
    path = copy_of / "c" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **entry}))
    before = snapshot(copy_of)
    assert_error(run("dcgan.py", dirs(copy_of) + TINY_RUN[:2] + ["--steps", "2"]), text, code=2)
    assert_error(run("dcgan.py", dirs(copy_of) + ["--generate"]), text, code=2)
    assert snapshot(copy_of) == before


def test_saved_model_name_chooses_no_code(copy_of):
    path = copy_of / "c" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "model": "this"}))
    result = run("evaluate.py", ["--checkpoint-dir", copy_of / "c", "--num-images", "20",
                                 "--data-dir", copy_of / "mnist"])
    assert_error(result, "names the model \"this\"", code=2)
    assert "Zen of Python" not in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# Flags and files given to evaluate.py

@pytest.mark.parametrize("args, text", [
    (["--seed", "-5"], "must be 0 or more"),
    (["--seed", "1e20"], "not a whole number"),
    (["--num-images", "10000000"], "must be at most 100000"),
    (["--z-dim", "100000000000"], "must be at most 100000"),
    (["--image-size", "32"], "apply to picture folders"),
    (["--steps", "5", "--epochs", "1"], "not both"),
])
def test_bad_flags_are_one_line(tmp_path, args, text):
    write_tiny_mnist(str(tmp_path / "mnist"))
    result = run("dcgan.py", dirs(tmp_path) + args)
    assert result.returncode == 2 and text in result.stderr and "Traceback" not in result.stderr


def test_one_picture_at_batch_64_is_refused(tmp_path):
    (tmp_path / "pics").mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "pics" / "one.png")
    assert_error(run("dcgan.py", dirs(tmp_path, data="pics") + ["--steps", "1"]),
                 "--batch-size 64 is more than the 1 training images", code=2)


def evaluate_images(tmp_path, array, name="x.npy", extra=()):
    write_tiny_mnist(str(tmp_path / "mnist"))
    path = tmp_path / name
    if isinstance(array, bytes):
        path.write_bytes(array)
    else:
        np.save(path, array)
    return run("evaluate.py", ["--images", path, "--data-dir", tmp_path / "mnist", *extra])


@pytest.mark.parametrize("array, text", [
    (np.zeros((0, 28, 28), np.uint8), "need at least 2"),
    (np.zeros((1, 28, 28, 1), np.uint8), "need at least 2"),
    (np.zeros((4, 32, 32, 3), np.uint8), "need [N, 28, 28]"),
    (np.full((4, 784), 300.0), "values from 300"),
    (np.array([["a"] * 784] * 2), "use uint8 or floats"),
])
def test_evaluate_refuses_what_it_cannot_score(tmp_path, array, text):
    assert_error(evaluate_images(tmp_path, array), text, code=2)


def test_evaluate_refuses_an_npz_renamed_npy(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 28, 28), np.uint8))
    result = evaluate_images(tmp_path, (tmp_path / "a.npz").read_bytes())
    assert_error(result, "an .npz archive", code=2)


def test_evaluate_checks_json_path_before_scoring(tmp_path):
    (tmp_path / "out").mkdir()
    result = evaluate_images(tmp_path, np.zeros((4, 28, 28), np.uint8),
                             extra=("--json", tmp_path / "out"))
    assert_error(result, "is a folder", code=2)
    assert "score" not in result.stdout


@pytest.mark.parametrize("layout", ["N,28,28 uint8", "N,784 float [0,1]", "N,28,28,1 [-1,1]"])
def test_evaluate_reads_common_layouts_and_ranges(tmp_path, layout):
    digits = np.zeros((6, 28, 28), np.uint8)
    digits[:, 8:20, 12:16] = 255
    array = {"N,28,28 uint8": digits,
             "N,784 float [0,1]": digits.reshape(6, 784) / 255.0,
             "N,28,28,1 [-1,1]": digits[..., None] / 127.5 - 1.0}[layout]
    result = evaluate_images(tmp_path, array)
    assert result.returncode == 0, result.stderr
    assert "x.npy" in result.stdout and ("read as" in result.stdout) == ("uint8" not in layout)


# ---------------------------------------------------------------------------------------------
# Found by a hostile review: a refused start, foreign files, damaged files that pass a glance

def test_a_refused_start_leaves_no_claim_behind(tmp_path):
    write_tiny_mnist(str(tmp_path / "mnist"))
    assert_error(run("dcgan.py", dirs(tmp_path) + ["--steps", "1", "--batch-size", "200"]),
                 "--batch-size 200 is more", code=2)
    result = run("dcgan.py", dirs(tmp_path) + TINY_RUN)
    assert result.returncode == 0, result.stderr


def test_users_files_in_a_new_checkpoint_dir_are_refused(tmp_path):
    write_tiny_mnist(str(tmp_path / "mnist"))
    (tmp_path / "c" / "tensorboard").mkdir(parents=True)
    (tmp_path / "c" / "tensorboard" / "events.out.mine").write_bytes(b"mine")
    (tmp_path / "c" / "checkpoint").write_text("my own state file")
    before = snapshot(tmp_path / "c")
    for extra in ([], ["--fresh"]):
        assert_error(run("gan_mlp.py", dirs(tmp_path) + TINY_RUN + extra), "holds checkpoint",
                     code=2)
        assert snapshot(tmp_path / "c") == before


def test_retention_never_trades_good_checkpoints_for_an_unreadable_one(copy_of):
    (copy_of / "c" / "model.ckpt-1000000.index").write_bytes(b"junk")
    result = run("dcgan.py", dirs(copy_of) + TINY_RUN[:2] + ["--steps", "3", "--keep", "1"])
    assert result.returncode == 0 and "step 1000000 is unreadable" in result.stdout
    assert (copy_of / "c" / "model.ckpt-3.index").exists()
    assert run("dcgan.py", dirs(copy_of) + ["--generate", "--num-images", "2"]).returncode == 0


@pytest.mark.parametrize("name, damage", [
    ("c/config.json", "[" * 100000 + "]" * 100000),
    ("s/run.json", "[" * 100000 + "]" * 100000),
    ("s/losses.csv", "step,epoch,d_loss,g_loss\n1," + "x" * 200000 + "\n"),
], ids=["nested-config", "nested-marker", "huge-csv-field"])
def test_pathological_files_are_one_line_or_survived(copy_of, name, damage):
    (copy_of / name).write_text(damage)
    result = run("dcgan.py", dirs(copy_of) + TINY_RUN[:2] + ["--steps", "2"])
    if name == "c/config.json":
        assert_error(result, "not readable JSON", code=1)
    elif name == "s/run.json":
        assert_error(result, "run.json is unreadable", code=2)
    else:
        assert result.returncode == 0, result.stderr


def test_data_dir_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    assert_error(run("gan_mlp.py", dirs(tmp_path, data="afile") + TINY_RUN), "is a file", code=1)
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_damaged_classifier_is_one_line(tmp_path):
    from gan import metrics
    from gan.errors import UsageError
    shutil.copytree(metrics.CLASSIFIER_DIR, tmp_path / "classifier")
    data_file = next((tmp_path / "classifier").glob("*.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:1000])
    with pytest.raises(UsageError, match="is damaged"):
        metrics.Classifier(str(tmp_path / "classifier"))
