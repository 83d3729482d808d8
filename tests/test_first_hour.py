"""A learner's first hour (issue 28): README's commands, in README's order, after `make train`.

The commands are read from README's code blocks (and `make train`'s from the Makefile), so
README and this test cannot drift apart. They run in-process in a fresh folder that holds what
a checkout holds after `make train` (MNIST_data/, pretrained/, a trained checkpoints/dcgan), with
tiny data and step counts: --steps N becomes N // 2000, a batch of 16 (4 pictures of 16x16 for
a picture folder). Each must exit 0 and leave the files its README comment names.
"""

import os
import re
import shlex
import shutil

import numpy as np
import pytest

import cgan
import dcgan
import evaluate
import gan_mlp
import lsgan
from conftest import write_tiny_mnist
from gan import training

LOSS_PLOT_UNDER_TEST = True  # conftest's no_loss_plot: README names a losses.png

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = {f"{spec.name}.py": spec for spec in (dcgan.SPEC, cgan.SPEC, gan_mlp.SPEC, lsgan.SPEC)}
STEP_SCALE = 2000  # README's --steps N runs N // STEP_SCALE tiny steps
OUTPUT = re.compile(r"[\w.-]+(?:/[\w.-]+)+\.(?:png|gif|npy|csv|json)")


def readme_commands():
    """(argv, comment) of each `.venv/bin/python` or `make` line in README's code blocks, in
    order; `make train` is replaced by the Makefile's train command."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        blocks = re.findall(r"^```\n(.*?)^```", f.read(), re.S | re.M)
    commands = []
    for line in "\n".join(blocks).splitlines():
        command, _, comment = line.partition("#")
        words = shlex.split(command)
        if words[:2] == ["make", "train"]:
            commands.append((makefile_train(), comment))
        elif words and words[0] == ".venv/bin/python":
            commands.append((words[1:], comment))
    return commands


def makefile_train():
    with open(os.path.join(ROOT, "Makefile")) as f:
        recipe = re.search(r"^train:.*\n\t\$\(PY\) (.*)$", f.read(), re.M).group(1)
    return shlex.split(recipe)


def tiny(argv):
    """argv with tiny step counts, batches and picture sizes (training commands only)."""
    script, args = argv[0], list(argv[1:])
    if script not in SPECS or "--generate" in args or "--help" in args:
        if script == "evaluate.py" and "--checkpoint-dir" in args:
            args += ["--num-images", "20"]
        return script, args
    if "--steps" in args:
        i = args.index("--steps") + 1
        args[i] = str(max(1, int(args[i]) // STEP_SCALE))
    else:
        args += ["--steps", str(max(1, SPECS[script].defaults.get("steps", 2000) // STEP_SCALE))]
    if "--data-dir" in args and args[args.index("--data-dir") + 1] != "MNIST_data":
        args += ["--batch-size", "4", "--image-size", "16", "--base-channels", "4"]
    else:
        args += ["--batch-size", "16"]
    return script, args + ["--sample-every", "2", "--save-every", "2", "--log-every", "1"]


def expected_outputs(comment):
    """The files a README comment names, with step numbers scaled as the steps are."""
    return [re.sub(r"step_(\d+)\.png",
                   lambda m: f"step_{int(m.group(1)) // STEP_SCALE:06d}.png", path)
            for path in OUTPUT.findall(comment)]


def run(script, args):
    try:
        if script == "evaluate.py":
            return evaluate.main(args)
        return training.main(SPECS[script], args)
    except SystemExit as e:  # --help
        return e.code


@pytest.fixture
def fresh_checkout(tmp_path, monkeypatch):
    """A folder as a learner's checkout is after `make train`'s install: MNIST, pretrained/,
    and a folder of pictures for the picture example (README's `pics/`)."""
    write_tiny_mnist(str(tmp_path / "MNIST_data"))
    shutil.copytree(os.path.join(ROOT, "pretrained"), tmp_path / "pretrained")
    import imageio.v2 as imageio
    (tmp_path / "pics" / "holiday").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(8):
        imageio.imwrite(tmp_path / "pics" / "holiday" / f"{i}.png",
                        rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_commands_work_in_readme_order(fresh_checkout, capsys):
    commands = readme_commands()
    typed = [" ".join(argv) for argv, _ in commands]
    assert typed[0] == "dcgan.py"  # make train comes first
    assert any("--checkpoint-dir checkpoints/pics" in t and "--data-dir" in t for t in typed)
    assert len(commands) >= 12
    for argv, comment in commands:
        script, args = tiny(argv)
        code = run(script, args)
        captured = capsys.readouterr()
        assert code == 0, f"{' '.join(argv)} exited {code}: {captured.err.strip()}"
        assert "Traceback" not in captured.err
        if "--help" in args:
            assert "usage:" in captured.out
        for path in expected_outputs(comment):
            assert os.path.exists(path), f"{' '.join(argv)} did not write {path}"
    # The picture run and the pretrained runs wrote into their own sample folders only.
    assert (fresh_checkout / "samples" / "pics" / "run.json").exists()
    assert not (fresh_checkout / "samples" / "cgan" / "walk.gif").exists()
    assert not (fresh_checkout / "samples" / "dcgan" / "walk.gif").exists()
