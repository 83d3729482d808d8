"""Hostile picture folders (issue 25): memory, files that are not pictures, pictures as a viewer
shows them, and flags that do not apply to them. Tiny pictures made here with PIL."""

import json
import multiprocessing.pool
import os
import signal

import numpy as np
import pytest
from PIL import Image

import dcgan
from gan import data
from gan import memory
from gan import pictures
from gan import training
from conftest import FAST




@pytest.fixture
def deadline():
    """Fail, rather than hang the suite, if the test takes over 60 s (a FIFO read, a pool
    waiting for results that never come)."""
    def expired(signum, frame):
        raise TimeoutError("the test hung")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def write_pictures(folder, n=4, size=24):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            folder / f"{i}.png")
    return str(folder)


def picture_run(tmp_path, folder, *flags):
    return (["--data-dir", folder, "--sample-dir", str(tmp_path / "s"), "--checkpoint-dir",
             str(tmp_path / "c"), "--image-size", "16", "--base-channels", "4"] + FAST
            + ["--batch-size", "2", "--steps", "1"] + list(flags))


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


# ---------------------------------------------------------------------------------------------
# 1. Memory: estimated before decoding; running out while decoding is one line

def test_folder_too_big_for_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    # Training reads a folder through its cache on disk (test_picture_cache.py); the folder is
    # decoded into memory where a command needs the real pictures at once (--reject's
    # calibration, --shape-steps): that load is estimated first.
    folder = write_pictures(tmp_path / "pics")
    monkeypatch.setattr(memory, "available", lambda: (1000, "MemAvailable in /proc/meminfo"))
    monkeypatch.setattr(pictures, "decode_pictures", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(memory.OutOfMemory) as error:
        data.load_training_data("folder", folder, 16, 3)
    line = str(error.value)
    assert "4 pictures" in line and "16x16x3" in line and "needs about" in line
    assert "fewer pictures" in line and "--image-size" in line


def test_the_estimate_reads_meminfo_and_the_address_space_limit(monkeypatch):
    have, where = memory.available()
    assert have is not None and have > 0 and where
    monkeypatch.setattr(memory, "address_space_left", lambda: 12345)
    assert memory.available() == (12345, "the ulimit -v (RLIMIT_AS) left")


def test_a_worker_out_of_memory_ends_the_pool_in_one_line(tmp_path, capsys, monkeypatch,
                                                           deadline):
    folder = write_pictures(tmp_path / "pics")

    def no_memory(*args, **kwargs):
        raise MemoryError()
    monkeypatch.setattr(pictures, "decode_picture", no_memory)  # the forked workers see it too
    with pytest.raises(memory.OutOfMemory) as error:
        data.load_training_data("folder", folder, 16, 3)
    line = str(error.value)
    assert "ran out of memory decoding 4 pictures" in line and "--image-size" in line


def test_the_result_thread_dying_of_memory_is_one_line_not_a_hang(tmp_path, capsys,
                                                                   monkeypatch, deadline):
    folder = write_pictures(tmp_path / "pics")

    def no_memory(*args, **kwargs):
        raise MemoryError()
    # what happens when the parent cannot hold another result: the pool's result thread dies
    monkeypatch.setattr(multiprocessing.pool.IMapIterator, "_set", no_memory)
    with pytest.raises(memory.OutOfMemory, match="ran out of memory decoding 4 pictures"):
        data.load_picture_folder(folder, 16, 3, workers=1)
    assert "Traceback" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# 2. Regular files only

def test_symlinks_fifos_and_devices_are_not_read(tmp_path, capsys, deadline):
    folder = tmp_path / "pics"
    write_pictures(folder, n=2)
    outside = write_pictures(tmp_path / "elsewhere", n=3)
    os.symlink(os.path.join(outside, "0.png"), folder / "link.png")
    os.symlink(outside, folder / "linked_folder")
    os.symlink("/dev/zero", folder / "zero.png")
    os.mkfifo(folder / "fifo.png")  # opening it would wait for a writer forever
    images, skipped = data.load_picture_folder(str(folder), 16, 3, workers=2)
    assert len(images) == 2 and skipped == 3
    assert pictures.find_pictures(str(folder)) == ([str(folder / "0.png"), str(folder / "1.png")], 3)
    assert pictures.decode_picture(str(folder / "link.png"), 16, 3) is None
    assert pictures.decode_picture(str(folder / "fifo.png"), 16, 3) is None


# ---------------------------------------------------------------------------------------------
# 3. Decoded as a viewer shows them

def test_exif_orientation_is_applied(tmp_path):
    upright = np.zeros((20, 10), np.uint8)
    upright[:10] = 255  # tall, white on top
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as a camera stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    stored.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    picture = pictures.decode_picture(str(tmp_path / "photo.jpg"), 10, 1)[..., 0]
    assert picture[:3].mean() > 200 and picture[-3:].mean() < 50


def test_sixteen_bit_grayscale_keeps_its_shades(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 16).astype(np.uint16), (16, 1))
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode in pictures.SIXTEEN_BIT_MODES
    for channels in (1, 3):
        picture = pictures.decode_picture(str(tmp_path / "deep.png"), 16, channels)
        row = picture[8, :, 0].astype(int)
        assert row[0] <= 2 and row[-1] >= 250 and 100 <= row[8] <= 155, row
        assert len(np.unique(row)) >= 12  # not clipped to white


@pytest.mark.parametrize("make", [
    lambda: Image.new("LA", (8, 8), (0, 0)),
    lambda: Image.new("RGBA", (8, 8), (0, 0, 0, 0)),
    lambda: Image.new("1", (8, 8), 1),
    lambda: Image.new("CMYK", (8, 8), (0, 0, 0, 0)),
    lambda: Image.new("L", (8, 8), 255).convert("P"),
], ids=["LA", "RGBA", "1", "CMYK", "P"])
def test_every_mode_shows_white_as_white(tmp_path, make):
    picture = make()
    path = tmp_path / ("white.jpg" if picture.mode == "CMYK" else "white.png")
    picture.save(path)
    for channels in (1, 3):
        assert pictures.decode_picture(str(path), 8, channels).min() >= 250


def test_palette_transparency_is_white(tmp_path):
    picture = Image.new("P", (8, 8), 0)
    picture.putpalette([0, 0, 0] * 256)
    picture.save(tmp_path / "clear.png", transparency=0)
    for channels in (1, 3):
        assert pictures.decode_picture(str(tmp_path / "clear.png"), 8, channels).min() >= 250


# ---------------------------------------------------------------------------------------------
# 5. A flag that does not apply is refused, not recorded

def test_recipe_on_a_picture_folder_is_refused_and_never_recorded(tmp_path, capsys):
    folder = write_pictures(tmp_path / "pics")
    assert training.main(dcgan.SPEC, picture_run(tmp_path, folder, "--recipe", "article")) == 2
    line = one_error_line(capsys)
    assert "--recipe" in line and "picture" in line
    assert not os.path.exists(tmp_path / "c" / "config.json")
    assert training.main(dcgan.SPEC, picture_run(tmp_path, folder)) == 0
    with open(tmp_path / "c" / "config.json") as f:
        assert "recipe" not in json.load(f)
    assert training.main(dcgan.SPEC, ["--checkpoint-dir", str(tmp_path / "c"), "--sample-dir",
                                      str(tmp_path / "s"), "--generate", "--num-images", "2",
                                      "--recipe", "info"]) == 2


# ---------------------------------------------------------------------------------------------
# 1. Memory: the training graph is estimated before the session allocates it

def test_a_graph_too_big_for_memory_is_refused_in_one_line(tmp_path, capsys, monkeypatch,
                                                           run_dirs):
    import lsgan
    monkeypatch.setattr(memory, "available", lambda: (3 * 2 ** 30, "MemAvailable in /proc/meminfo"))
    # z 100000 x 1024 weights, with Adam's slots and the average: several GiB
    assert training.main(lsgan.SPEC, run_dirs + FAST + ["--steps", "1", "--z-dim", "100000"]) == 1
    line = one_error_line(capsys)
    assert "this graph" in line and "GiB" in line and "--z-dim" in line and "--batch-size" in line
    assert not os.path.exists(tmp_path / "checkpoints" / "config.json")


def test_tensorflow_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch, run_dirs):
    import tensorflow as tf
    from gan import graph

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with "
                                               "shape[20000,14,14,32]\nmore detail")
    monkeypatch.setattr(graph, "train_step", exhausted)
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "1"]) == 1
    line = one_error_line(capsys)
    assert "ran out of memory" in line and "shape[20000,14,14,32]" in line
    assert "--batch-size" in line


# ---------------------------------------------------------------------------------------------
# 4. A parent stops its children and removes its temporary folder on SIGTERM

def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if entry.isdigit() and int(fields[1]) == pid:
            found.append((int(entry), command))
    return found


def start_picture_quality(argv, scratch, stderr_path):
    """`python bench/picture_quality.py ARGV` in a fork of this process: the script run as
    __main__ with that sys.argv (runpy), TMPDIR=scratch, its stderr in stderr_path; its pid.
    A fork, not a fresh interpreter: the script imports TensorFlow before its first child (8
    CPU-s in a fresh process), and here it is loaded already."""
    import runpy
    import sys
    import tempfile
    import traceback
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:  # the child: never back into pytest, whatever happens
        os.dup2(os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        os.environ["TMPDIR"] = str(scratch)
        tempfile.tempdir = None  # read TMPDIR again, as a fresh process does
        script = os.path.join(root, "bench", "picture_quality.py")
        sys.argv = [script] + list(argv)
        sys.path.insert(0, os.path.dirname(script))
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as e:  # sys.exit(main()), as the script ends
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def test_sigterm_stops_picture_quality_its_child_and_its_temp_folder(tmp_path, tiny_mnist):
    """SIGTERM while its first child runs (evaluate.py scoring the real pictures, before
    dcgan.py; both go through children.run): the child is stopped, the temporary folder
    removed, the exit is 143 with one line."""
    import time
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    stderr_path = tmp_path / "stderr"
    parent = start_picture_quality(["--count", "64", "--steps", "1000000", "--variants",
                                    "fp32-32", "--data-dir", tiny_mnist], scratch, stderr_path)
    status, child = None, None
    try:
        deadline = time.time() + 300
        while child is None and time.time() < deadline:
            time.sleep(0.2)
            done, raw = os.waitpid(parent, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
            assert not done, stderr_path.read_text()  # it ended before its first child
            child = next((pid for pid, command in children_of(parent)
                          if "evaluate.py" in command or "dcgan.py" in command), None)
        assert child is not None
        assert os.listdir(scratch)  # its temporary folder, while it runs
        time.sleep(1)  # mid-run: the child takes seconds to import TensorFlow alone
        assert os.path.exists(f"/proc/{child}")
        os.kill(parent, signal.SIGTERM)
        deadline = time.time() + 180
        while status is None and time.time() < deadline:
            time.sleep(0.2)
            done, raw = os.waitpid(parent, os.WNOHANG)
            status = os.waitstatus_to_exitcode(raw) if done else None
    finally:
        if status is None:
            os.kill(parent, signal.SIGKILL)
            os.waitpid(parent, 0)
        left = child is not None and os.path.exists(f"/proc/{child}")
        if left:  # an orphan would go on after the test
            os.kill(child, signal.SIGKILL)
    assert not left, "the child outlived its parent"
    err = stderr_path.read_text()
    assert status == 143, err
    assert err.strip().splitlines() == ["picture_quality.py: error: stopped by SIGTERM"], err
    assert os.listdir(scratch) == []


def test_sigterm_stops_quality_sh_and_its_child(tmp_path):
    """bench/quality.sh waits for its steps in the background, so SIGTERM stops the step too
    (a stand-in Python that sleeps and writes its pid: no training here)."""
    import subprocess
    import time
    fake = tmp_path / "python"
    pid_file = tmp_path / "child.pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 300\n")
    fake.chmod(0o755)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    name = f"test-sigterm-{os.getpid()}"
    shell = subprocess.Popen(["bash", os.path.join(root, "bench", "quality.sh"), name,
                              "dcgan.py"], env={**os.environ, "PYTHON": str(fake)},
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.time() < deadline:
            time.sleep(0.1)
        child = int(pid_file.read_text())
        shell.send_signal(signal.SIGTERM)
        _, err = shell.communicate(timeout=30)
        time.sleep(0.5)
        left = os.path.exists(f"/proc/{child}")
        if left:
            os.kill(child, signal.SIGKILL)
    finally:
        if shell.poll() is None:
            shell.kill()
        import shutil
        shutil.rmtree(os.path.join(root, "runs", name), ignore_errors=True)
    assert shell.returncode == 143 and not left
    assert err.strip().splitlines()[-1].startswith("quality.sh: error: stopped by SIGTERM")
