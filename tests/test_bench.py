"""bench/: every script answers --help, and bad input with one line on stderr and exit code 2.

Each runs in its own process from the repository root; none trains (the flags are checked
before TensorFlow is imported, except where a script's own flags are forwarded)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_SCRIPTS = ("ablate.py", "benchmark.py", "pictures.py", "keras_baseline.py",
                  "time_to_quality.py", "picture_quality.py")


def run(command, timeout=60):
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHON": sys.executable})


def python(script, *args):
    return run([sys.executable, os.path.join("bench", script), *args])


def quality(*args):
    return run(["bash", os.path.join("bench", "quality.sh"), *args])


def assert_one_line_usage_error(result, *words):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "error:" in lines[0] and all(w in lines[0] for w in words), lines[0]


@pytest.mark.parametrize("script", PYTHON_SCRIPTS)
def test_help(script):
    result = python(script, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: " + script)
    assert "Traceback" not in result.stdout + result.stderr


def test_quality_help_without_other_arguments():
    result = quality("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: bench/quality.sh NAME SCRIPT")
    assert result.stderr == ""


@pytest.mark.parametrize("script, args, words", [
    ("ablate.py", ["nope"], ["invalid choice: 'nope'", "dcgan"]),
    ("benchmark.py", ["--steps", "abc"], ["--steps", "'abc' is not a whole number"]),
    ("pictures.py", ["--data-dir", "no/such/folder"], ["no/such/folder is not a folder"]),
    ("keras_baseline.py", ["nope"], ["invalid choice: 'nope'"]),
    ("time_to_quality.py", ["--models", "cgan"], ["--models", "'cgan'", "lsgan"]),
    ("picture_quality.py", ["--variants", "fp32-128"], ["--variants", "'fp32-128'", "bf16-32"]),
    ("picture_quality.py", ["--steps", "30", "--minutes", "1"], ["--steps", "--minutes", "one"]),
    ("benchmark.py", ["--variants", "default,fp32,default"], ["--variants", "twice"]),
], ids=["ablate-unknown-model", "benchmark-not-a-number", "pictures-missing-folder",
        "keras_baseline-unknown-model", "time_to_quality-unknown-model",
        "picture_quality-unknown-variant", "picture_quality-steps-and-minutes",
        "benchmark-variant-twice"])
def test_bad_input_is_one_line(script, args, words):
    assert_one_line_usage_error(python(script, *args), *words)


def test_ablate_checks_the_scripts_own_flags_in_one_line(capsys):
    """ablate.py forwards flags after MODEL to that script's parser, which imports TensorFlow:
    so this runs ablate.main(argv) in-process (TensorFlow is loaded here already), with the
    module loaded from bench/ as the script is and the process left as it was (sys.path,
    sys.modules, the SIGTERM handler ablate installs). Its own argv reaching main is the same
    sys.argv[1:] as in the subprocess tests above."""
    import importlib.util
    import signal
    path, modules = list(sys.path), set(sys.modules)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        spec = importlib.util.spec_from_file_location("bench_ablate",
                                                      os.path.join(ROOT, "bench", "ablate.py"))
        ablate = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ablate)
        with pytest.raises(SystemExit) as exit_:
            ablate.main(["dcgan", "--steps", "abc"])
    finally:
        signal.signal(signal.SIGTERM, handler)
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if getattr(sys.modules[name], "__file__", "") and os.path.dirname(
                    sys.modules[name].__file__) == os.path.join(ROOT, "bench"):
                del sys.modules[name]
    out, err = capsys.readouterr()
    result = subprocess.CompletedProcess([], exit_.value.code, out, err)
    assert_one_line_usage_error(result, "--steps", "python dcgan.py --help")


def test_time_to_quality_never_writes_over_an_existing_plot(tmp_path):
    plot = tmp_path / "mine.png"
    plot.write_bytes(b"not ours")
    assert_one_line_usage_error(python("time_to_quality.py", "--plot", str(plot)),
                                "--plot", "exists")
    assert plot.read_bytes() == b"not ours"


def test_quality_wrong_script_is_one_line():
    result = quality("some-run", "nope.py", "--steps", "2")
    assert_one_line_usage_error(result, "no training script nope", "dcgan.py")
    assert not os.path.exists(os.path.join(ROOT, "runs", "some-run"))


def test_quality_missing_script_is_one_line():
    assert_one_line_usage_error(quality("some-run"), "SCRIPT")


def test_picture_quality_never_reuses_an_existing_folder(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "photo.jpg").write_bytes(b"not ours")
    assert_one_line_usage_error(python("picture_quality.py", "--keep", str(mine)),
                                "--keep", "already exists")
    assert (mine / "photo.jpg").read_bytes() == b"not ours"
