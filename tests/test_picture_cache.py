"""A picture folder is decoded once into a cache (picture_cache.py) and trained from it."""

import json
import os

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


def write_pictures(folder, n=40, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
            folder / f"p{i:03d}.png")


def listing(folder):
    return sorted((os.path.relpath(os.path.join(r, f), folder), os.stat(os.path.join(r, f)).st_mtime_ns)
                  for r, _, files in os.walk(folder) for f in files)


def args(tmp_path, name="run", steps=2, extra=()):
    return (["--data-dir", str(tmp_path / "pics"), "--sample-dir", str(tmp_path / name / "s"),
             "--checkpoint-dir", str(tmp_path / name / "c"), "--image-size", "16",
             "--base-channels", "4"] + FAST + ["--steps", str(steps)] + list(extra))


def weights(path):
    reader = tf.train.load_checkpoint(str(path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_first_run_writes_the_cache_and_the_next_reuses_it(tmp_path, capsys, monkeypatch):
    write_pictures(tmp_path / "pics")
    before = listing(tmp_path / "pics")
    assert training.main(dcgan.SPEC, args(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "decoded 40 pictures" in out and "into the picture cache" in out
    cache = tmp_path / "run" / "c" / picture_cache.CACHE_FOLDER
    index = json.loads((cache / picture_cache.INDEX).read_text())
    assert index["count"] == 40 and os.path.getsize(cache / picture_cache.DATA) == 40 * 16 * 16 * 3
    # The second run decodes nothing: a decoder that fails would show.
    monkeypatch.setattr(pictures, "decode_picture", lambda *a, **k: 1 / 0)
    assert training.main(dcgan.SPEC, args(tmp_path, steps=4)) == 0
    out = capsys.readouterr().out
    assert "reusing the picture cache" in out and "decoded" not in out
    assert listing(tmp_path / "pics") == before  # nothing written in the picture folder


def test_cached_rows_are_the_decoded_pictures(tmp_path):
    write_pictures(tmp_path / "pics")
    decoded, _ = data.load_picture_folder(str(tmp_path / "pics"), 16, 3, workers=2)
    cached, skipped = picture_cache.load(str(tmp_path / "pics"), 16, 3, str(tmp_path / "cache"),
                                         workers=2, log=lambda m: None)
    assert skipped == 0 and cached.shape == decoded.shape
    rows = np.array([39, 0, 5, 5, 17])
    np.testing.assert_array_equal(cached[rows], decoded[rows])
    np.testing.assert_array_equal(np.asarray(cached), decoded)


@pytest.mark.parametrize("change", ["added", "modified"])
def test_a_changed_folder_is_decoded_again(tmp_path, capsys, change):
    write_pictures(tmp_path / "pics")
    assert training.main(dcgan.SPEC, args(tmp_path)) == 0
    capsys.readouterr()
    if change == "added":
        write_pictures(tmp_path / "pics", n=1, start=40)
    else:
        picture = tmp_path / "pics" / "p007.png"
        Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(picture)
        os.utime(picture, ns=(10 ** 18, 10 ** 18))
    assert training.main(dcgan.SPEC, args(tmp_path, steps=4)) == 0
    out = capsys.readouterr().out
    assert "folder changed" in out and "decoding" in out and "reusing" not in out
    count = 41 if change == "added" else 40
    assert f"decoded {count} pictures" in out
    if change == "modified":
        cache = picture_cache.load(str(tmp_path / "pics"), 16, 3,
                                   str(tmp_path / "run" / "c" / "picture_cache"), log=print)[0]
        assert not cache[7].any()  # the new, black picture


def test_the_cache_is_never_written_in_the_picture_folder(tmp_path, capsys):
    write_pictures(tmp_path / "pics")
    before = listing(tmp_path / "pics")
    code = training.main(dcgan.SPEC, args(tmp_path, extra=[
        "--cache-dir", str(tmp_path / "pics" / "cache")]))
    err = capsys.readouterr().err
    assert code == 2 and "inside the picture folder" in err and err.count("\n") == 1
    # nor when the checkpoint folder itself is in it (the default cache would be too)
    code = training.main(dcgan.SPEC, args(tmp_path) + ["--checkpoint-dir",
                                                       str(tmp_path / "pics" / "c")])
    err = capsys.readouterr().err
    assert code == 2 and "lies in --data-dir" in err and err.count("\n") == 1
    assert not (tmp_path / "pics" / "c" / "picture_cache").exists()
    assert [e for e in listing(tmp_path / "pics") if not e[0].startswith("c/")] == before


def test_resume_on_a_cached_folder_is_exact(tmp_path):
    """4 steps in one run equal 2 + 2 (the second from the cache), over an epoch boundary; at
    fp32, as every test of an arithmetic property (bf16 rounds where the CPU has it)."""
    write_pictures(tmp_path / "pics")
    fp32 = ["--precision", "fp32"]
    assert training.main(dcgan.SPEC, args(tmp_path, "whole", steps=4, extra=fp32)) == 0
    assert training.main(dcgan.SPEC, args(tmp_path, "split", steps=2, extra=fp32)) == 0
    assert training.main(dcgan.SPEC, args(tmp_path, "split", steps=4, extra=fp32)) == 0
    whole = weights(tmp_path / "whole" / "c" / "model.ckpt-4")
    split = weights(tmp_path / "split" / "c" / "model.ckpt-4")
    assert set(whole) == set(split) and any("adam" in name for name in whole)
    for name in whole:
        np.testing.assert_array_equal(whole[name], split[name], err_msg=name)


def test_training_from_the_cache_equals_training_in_memory(tmp_path):
    """The cache's batches are the in-memory data set's, in the same order: same weights."""
    write_pictures(tmp_path / "pics")
    flags = ["--image-size", "16", "--base-channels", "4", "--batch-size", "16", "--seed", "3",
             "--device", "/cpu:0", "--precision", "fp32", "--data-dir", str(tmp_path / "pics")]
    cfg = make_config(dcgan.SPEC, flags, num_examples=40)
    memory = data.load_training_data("folder", str(tmp_path / "pics"), 16, 3, log=lambda m: None)
    cached = data.load_training_data("folder", str(tmp_path / "pics"), 16, 3, log=lambda m: None,
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


def test_a_damaged_cache_is_refused_or_rebuilt(tmp_path, capsys):
    write_pictures(tmp_path / "pics")
    assert training.main(dcgan.SPEC, args(tmp_path)) == 0
    cache = tmp_path / "run" / "c" / "picture_cache"
    index_path = cache / picture_cache.INDEX
    good = json.loads(index_path.read_text())
    capsys.readouterr()

    # Not an index this repository wrote: one line, nothing overwritten.
    index_path.write_text('{"count": 4')
    assert training.main(dcgan.SPEC, args(tmp_path, steps=4)) == 1
    err = capsys.readouterr().err
    assert "is not a picture cache index" in err and err.count("\n") == 1
    assert index_path.read_text() == '{"count": 4'

    # Ours, but its count does not fit the data file: decoded again, never trusted.
    index_path.write_text(json.dumps({**good, "count": 80, "data_bytes": 80 * 16 * 16 * 3}))
    assert training.main(dcgan.SPEC, args(tmp_path, steps=4)) == 0
    out = capsys.readouterr().out
    assert "does not fit" in out and "decoded 40 pictures" in out
    assert json.loads(index_path.read_text())["count"] == 40

    # A data file cut short: decoded again.
    with open(cache / picture_cache.DATA, "r+b") as f:
        f.truncate(100)
    assert training.main(dcgan.SPEC, args(tmp_path, steps=6)) == 0
    out = capsys.readouterr().out
    assert "does not fit" in out and "decoded 40 pictures" in out
    assert os.path.getsize(cache / picture_cache.DATA) == 40 * 16 * 16 * 3
    assert not [n for n in os.listdir(cache) if n.startswith(".tmp-")]


def test_a_failed_batch_read_is_one_line(tmp_path, capsys, monkeypatch):
    """The cache's data file cut short under a running trainer: one line, no traceback."""
    write_pictures(tmp_path / "pics")
    real_read = picture_cache.CachedImages.read_rows

    def read_then_cut(self, rows):
        os.truncate(tmp_path / "run" / "c" / "picture_cache" / picture_cache.DATA, 100)
        return real_read(self, rows)
    monkeypatch.setattr(picture_cache.CachedImages, "read_rows", read_then_cut)
    assert training.main(dcgan.SPEC, args(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "picture cache failed" in err and "shorter" in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_a_cache_dir_that_cannot_be_written_is_one_line(tmp_path, capsys):
    write_pictures(tmp_path / "pics")
    (tmp_path / "afile").write_text("mine")
    code = training.main(dcgan.SPEC, args(tmp_path, extra=["--cache-dir", str(tmp_path / "afile")]))
    err = capsys.readouterr().err
    assert code == 1 and "afile" in err and err.count("\n") == 1 and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "mine"
