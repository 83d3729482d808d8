"""A picture folder is decoded once into a cache (picture_cache.py) and trained from it.

One 2-step fp32 run on a folder of 40 pictures (module fixture `base`) is shared by the tests:
none writes into it or its pictures; a test that resumes it works on a copy (copy_run). Where
a promise lives in picture_cache.load itself (a changed folder, a damaged cache), the test calls
it directly, as training does (training.main hands it its log, print)."""

import contextlib
import io
import json
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import dcgan
from conftest import FAST, make_config
from gan import data
from gan import graph
from gan import picture_cache
from gan import pictures
from gan import training

v1 = tf.compat.v1
FP32 = ["--precision", "fp32"]




def write_pictures(folder, n=40, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
            folder / f"p{i:03d}.png")


def listing(folder):
    return sorted((os.path.relpath(os.path.join(r, f), folder), os.stat(os.path.join(r, f)).st_mtime_ns)
                  for r, _, files in os.walk(folder) for f in files)


def args(pics, run, steps=2, extra=()):
    """dcgan.py's flags for a 16x16, --base-channels 4 run of folder pics into folder run."""
    return (["--data-dir", str(pics), "--sample-dir", str(run / "s"),
             "--checkpoint-dir", str(run / "c"), "--image-size", "16",
             "--base-channels", "4"] + FAST + ["--steps", str(steps)] + list(extra))


def weights(path):
    reader = tf.train.load_checkpoint(str(path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def main_printing(flags):
    """(exit code, what training.main printed on stdout): for module fixtures (no capsys)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = training.main(dcgan.SPEC, flags)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The shared run: 40 pictures in pics/, 2 fp32 steps into run/ (its cache in
    run/c/picture_cache), and what it printed."""
    root = tmp_path_factory.mktemp("cache-base")
    write_pictures(root / "pics")
    before = listing(root / "pics")
    code, out = main_printing(args(root / "pics", root / "run", extra=FP32))
    assert code == 0, out
    return SimpleNamespace(pics=root / "pics", run=root / "run", out=out, before=before,
                           cache=root / "run" / "c" / picture_cache.CACHE_FOLDER)


def copy_run(base, destination):
    """A copy of the shared run. Its cache's data file is a hard link (same inode and mtime,
    so the copy's cache is the one its index describes, as if the run had been left where it
    was): a test may resume the copy, but never write the data file in place."""
    def copy(source, target):
        if os.path.basename(source) == picture_cache.DATA:
            os.link(source, target)
        else:
            shutil.copy2(source, target)
    shutil.copytree(base.run, destination, copy_function=copy)
    return destination


@pytest.fixture(scope="module")
def resumed(base, tmp_path_factory):
    """A copy of the shared run resumed to step 4 with a decoder that fails: (folder, printed)."""
    run = copy_run(base, tmp_path_factory.mktemp("cache-resumed") / "run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pictures, "decode_picture", lambda *a, **k: 1 / 0)
        code, out = main_printing(args(base.pics, run, steps=4, extra=FP32))
    assert code == 0, out
    return SimpleNamespace(run=run, out=out)


def test_first_run_writes_the_cache_and_the_next_reuses_it(base, resumed):
    # The first run decodes every picture into the cache in its checkpoint folder.
    assert "decoded 40 pictures" in base.out and "into the picture cache" in base.out
    index = json.loads((base.cache / picture_cache.INDEX).read_text())
    assert index["count"] == 40
    assert os.path.getsize(base.cache / picture_cache.DATA) == 40 * 16 * 16 * 3
    # The next run (a resume) decodes nothing: the decoder that fails would show.
    assert "reusing the picture cache" in resumed.out and "decoded" not in resumed.out
    assert listing(base.pics) == base.before  # nothing written in the picture folder


def test_cached_rows_are_the_decoded_pictures(base, tmp_path):
    decoded, _ = data.load_picture_folder(str(base.pics), 16, 3, workers=2)
    cached, skipped = picture_cache.load(str(base.pics), 16, 3, str(tmp_path / "cache"),
                                         workers=2, log=lambda m: None)
    assert skipped == 0 and cached.shape == decoded.shape
    rows = np.array([39, 0, 5, 5, 17])
    np.testing.assert_array_equal(cached[rows], decoded[rows])
    np.testing.assert_array_equal(np.asarray(cached), decoded)


@pytest.mark.parametrize("change", ["added", "modified", "image size"])
def test_a_changed_folder_is_decoded_again(base, tmp_path, capsys, change):
    """The cache is keyed by the folder's contents and the image size: a change is decoded
    again, and said so, in picture_cache.load (which training calls with its log)."""
    pics, cache = tmp_path / "pics", str(tmp_path / "cache")
    shutil.copytree(base.pics, pics)  # mtimes kept
    picture_cache.load(str(pics), 16, 3, cache, workers=2, log=print)
    picture_cache.load(str(pics), 16, 3, cache, workers=2, log=print)
    assert "reusing the picture cache" in capsys.readouterr().out  # unchanged: reused
    size = 16
    if change == "added":
        write_pictures(pics, n=1, start=40)
    elif change == "modified":
        picture = pics / "p007.png"
        Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(picture)
        os.utime(picture, ns=(10 ** 18, 10 ** 18))
    else:
        size = 8
    images, _ = picture_cache.load(str(pics), size, 3, cache, workers=2, log=print)
    out = capsys.readouterr().out
    assert "decoding" in out and "reusing" not in out
    why = "written at 16x16x3" if change == "image size" else "folder changed"
    assert why in out
    count = 41 if change == "added" else 40
    assert f"decoded {count} pictures" in out and f"at {size}x{size}x3" in out
    assert images.shape == (count, size, size, 3)
    if change == "modified":
        assert not images[7].any()  # the new, black picture
    # the picture folder holds only the pictures: the cache went to its own folder
    assert all(name.startswith("p") and name.endswith(".png") for name, _ in listing(pics))


def test_the_cache_is_never_written_in_the_picture_folder(tmp_path, capsys):
    write_pictures(tmp_path / "pics", n=4)
    before = listing(tmp_path / "pics")
    code = training.main(dcgan.SPEC, args(tmp_path / "pics", tmp_path / "run", extra=[
        "--cache-dir", str(tmp_path / "pics" / "cache")]))
    err = capsys.readouterr().err
    assert code == 2 and "inside the picture folder" in err and err.count("\n") == 1
    # nor when the checkpoint folder itself is in it (the default cache would be too)
    code = training.main(dcgan.SPEC, args(tmp_path / "pics", tmp_path / "run") + [
        "--checkpoint-dir", str(tmp_path / "pics" / "c")])
    err = capsys.readouterr().err
    assert code == 2 and "lies in --data-dir" in err and err.count("\n") == 1
    assert not (tmp_path / "pics" / "c" / "picture_cache").exists()
    assert [e for e in listing(tmp_path / "pics") if not e[0].startswith("c/")] == before


def test_resume_on_a_cached_folder_is_exact(base, resumed, tmp_path):
    """4 steps in one run equal 2 + 2 (the shared run, then its copy resumed from the cache,
    which decoded nothing), over an epoch boundary (2 steps of 16 of 40); at fp32, as every
    test of an arithmetic property (bf16 rounds where the CPU has it)."""
    assert training.main(dcgan.SPEC, args(base.pics, tmp_path / "whole", steps=4,
                                          extra=FP32)) == 0
    whole = weights(tmp_path / "whole" / "c" / "model.ckpt-4")
    split = weights(resumed.run / "c" / "model.ckpt-4")
    assert set(whole) == set(split) and any("adam" in name for name in whole)
    for name in whole:
        np.testing.assert_array_equal(whole[name], split[name], err_msg=name)


def test_training_from_the_cache_equals_training_in_memory(base, tmp_path):
    """The cache's batches are the in-memory data set's, in the same order: same weights."""
    pics = str(base.pics)
    flags = ["--image-size", "16", "--base-channels", "4", "--batch-size", "16", "--seed", "3",
             "--device", "/cpu:0", "--precision", "fp32", "--data-dir", pics]
    cfg = make_config(dcgan.SPEC, flags, num_examples=40)
    memory = data.load_training_data("folder", pics, 16, 3, log=lambda m: None)
    cached = data.load_training_data("folder", pics, 16, 3, log=lambda m: None,
                                     cache_dir=str(tmp_path / "cache"))
    results = []
    for dataset in (memory, cached):
        model = graph.build(dcgan.SPEC, cfg, dataset.images.shape,
                            read_rows=getattr(dataset.images, "read_rows", None))
        assert (model.train.images_in is None) == (dataset is cached)
        with graph.start_session(model, cfg, dataset) as sess:
            sess.run(model.train.reshuffle)
            for step in range(3):  # over the epoch boundary (2 steps of 16 of 40)
                if step and step % cfg.steps_per_epoch == 0:
                    sess.run(model.train.reshuffle)
                graph.train_step(sess, model.train, 1)
            with model.graph.as_default():
                results.append(sess.run({v.op.name: v for v in v1.global_variables()}))
    for name in results[0]:
        np.testing.assert_array_equal(results[0][name], results[1][name], err_msg=name)


def test_a_damaged_cache_is_refused_or_rebuilt(base, tmp_path, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(base.cache, cache)  # a private cache of the shared folder, then damaged
    index_path = cache / picture_cache.INDEX
    good = json.loads(index_path.read_text())

    def load():
        return picture_cache.load(str(base.pics), 16, 3, str(cache), named=True, workers=2,
                                  log=print)

    # Not an index this repository wrote: training refuses in one line, nothing overwritten.
    index_path.write_text('{"count": 4')
    assert training.main(dcgan.SPEC, args(base.pics, tmp_path / "run",
                                          extra=["--cache-dir", str(cache)])) == 1
    err = capsys.readouterr().err
    assert "is not a picture cache index" in err and err.count("\n") == 1
    assert index_path.read_text() == '{"count": 4'

    # Ours, but its count does not fit the data file: decoded again, never trusted.
    index_path.write_text(json.dumps({**good, "count": 80, "data_bytes": 80 * 16 * 16 * 3}))
    images, _ = load()
    out = capsys.readouterr().out
    assert "does not fit" in out and "decoded 40 pictures" in out and len(images) == 40
    assert json.loads(index_path.read_text())["count"] == 40

    # A data file cut short: decoded again.
    with open(cache / picture_cache.DATA, "r+b") as f:
        f.truncate(100)
    images, _ = load()
    out = capsys.readouterr().out
    assert "does not fit" in out and "decoded 40 pictures" in out and len(images) == 40
    assert os.path.getsize(cache / picture_cache.DATA) == 40 * 16 * 16 * 3
    assert not [n for n in os.listdir(cache) if n.startswith(".tmp-")]
    # and the rebuilt cache is the one the next load reuses
    load()
    assert "reusing the picture cache" in capsys.readouterr().out


def test_a_failed_batch_read_is_one_line(base, tmp_path, capsys, monkeypatch):
    """The cache's data file cut short under a running trainer: one line, no traceback."""
    real_read = picture_cache.CachedImages.read_rows
    cache = tmp_path / "cache"  # its own cache (decoded here): the shared one is not cut

    def read_then_cut(self, rows):
        os.truncate(cache / picture_cache.DATA, 100)
        return real_read(self, rows)
    monkeypatch.setattr(picture_cache.CachedImages, "read_rows", read_then_cut)
    assert training.main(dcgan.SPEC, args(base.pics, tmp_path / "run",
                                          extra=["--cache-dir", str(cache)])) == 1
    err = capsys.readouterr().err
    assert "picture cache failed" in err and "shorter" in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_a_cache_dir_that_cannot_be_written_is_one_line(base, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    code = training.main(dcgan.SPEC, args(base.pics, tmp_path / "run",
                                          extra=["--cache-dir", str(tmp_path / "afile")]))
    err = capsys.readouterr().err
    assert code == 1 and "afile" in err and err.count("\n") == 1 and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "mine"
