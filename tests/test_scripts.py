"""gan_mlp.py, cgan.py and lsgan.py on tiny data: each trains, resumes and generates. Each
starts from a copy of its script's own process run (script_processes.py), trained to step 2
(gan_mlp: 4, two epochs), so a resume by one step and two generates are all that run here."""

import numpy as np
import pytest

import cgan
import gan_mlp
import lsgan
from gan import training
from gan import outputs
from script_processes import copy_of, run_flags, script_run


@pytest.mark.parametrize("spec", [gan_mlp.SPEC, cgan.SPEC, lsgan.SPEC], ids=lambda s: s.name)
def test_trains_resumes_and_generates(spec, tmp_path_factory, tmp_path):
    folder = copy_of(spec.name, tmp_path_factory, tmp_path)
    flags, trained = run_flags(folder), 4 if spec is gan_mlp.SPEC else 2
    assert training.main(spec, flags + ["--generate", "--num-images", "10"]) == 0
    first = np.load(folder / "s" / "generated.npy")
    assert first.shape == (10, 28, 28, 1)

    # the resume goes on from the run's last step: one row more, none repeated
    # (gan_mlp: a batch is not resumed, it is typed again: 2 steps an epoch at 64)
    more = ["--epochs", "3", "--batch-size", "64"] if spec is gan_mlp.SPEC else ["--steps", "3"]
    assert training.main(spec, flags + more) == 0
    rows = outputs.read_loss_log(str(folder / "s" / "losses.csv"))
    steps = [int(r["step"]) for r in rows]
    assert steps == ([2, 4, 6] if spec is gan_mlp.SPEC else [1, 2, 3]), steps
    assert (folder / "s" / "training.gif").exists()
    assert (folder / "c" / f"model.ckpt-{steps[-1]}.index").exists() and trained < steps[-1]

    # --generate draws with the newer checkpoint: the same z, other images
    assert training.main(spec, flags + ["--generate", "--num-images", "10"]) == 0
    assert not np.array_equal(np.load(folder / "s" / "generated.npy"), first)


def test_cgan_generates_only_requested_digits(tmp_path_factory, tmp_path):
    folder = copy_of("cgan", tmp_path_factory, tmp_path)
    assert training.main(cgan.SPEC, run_flags(folder) + ["--generate", "--digit", "3,7",
                                                         "--num-images", "6"]) == 0
    labels = np.load(folder / "s" / "generated_labels.npy")
    assert labels.tolist() == [3, 3, 3, 7, 7, 7]
    assert np.load(folder / "s" / "generated.npy").shape == (6, 28, 28, 1)


def test_cgan_digit_needs_generate(run_dirs, capsys):
    assert training.main(cgan.SPEC, run_dirs + ["--digit", "3"]) == 2
    assert "--digit only applies with --generate" in capsys.readouterr().err


def test_cgan_restores_by_tensor_name_in_a_fresh_process(tmp_path_factory):
    """The article's second program: import_meta_graph, then feed and fetch by name. It runs in
    cgan's own process after cgan.py has trained there (script_processes.py): a new graph from
    the .meta file alone, none of cgan.py's functions called, so it needs only what the
    checkpoint holds."""
    result, _ = script_run("cgan", tmp_path_factory)
    assert "restored-by-name" in result.stdout
