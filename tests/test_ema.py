"""--ema: a moving average of G's weights, the weights that grids, --generate and evaluate use."""

import json

import numpy as np
import pytest
import tensorflow as tf

from gan import data
import dcgan
import evaluate
from gan import graph
from gan import training
from conftest import FAST, make_config

v1 = tf.compat.v1


def build(spec, flags):
    cfg = make_config(spec, flags + ["--batch-size", "8", "--device", "/cpu:0"])
    model = graph.build(spec, cfg, (32, 28, 28, 1))
    with model.graph.as_default():
        copies = {v.op.name: v for v in v1.global_variables(graph.EMA_SCOPE + "/")}
        names = [(v, graph.averaged_name(v.op.name))
                 for v in v1.global_variables("generator/")]  # G's variables and Adam slots
        pairs = [(v, copies[name]) for v, name in names if name in copies]
    images = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1), dtype=np.uint8)
    sess = graph.start_session(model, cfg, data.Dataset(images, np.zeros(32, np.int32), "random"))
    sess.run(model.train.reshuffle)
    return sess, model.train, pairs


def test_average_starts_at_the_weights_and_moves_by_one_minus_decay():
    sess, ops, pairs = build(dcgan.SPEC, ["--ema", "0.2"])
    assert len(pairs) == 8  # dcgan's G: 4 layers of weights and biases, no batch norm
    with sess:
        before = sess.run(pairs)
        assert all(np.array_equal(w, a) for w, a in before)
        # The decay ramps up as (1 + step) / (10 + step), then stays at --ema.
        for step, decay in enumerate((0.1, 2 / 11, 0.2)):
            graph.train_step(sess, ops, g_steps=1)
            after = sess.run(pairs)
            for (_, a0), (w1, a1) in zip(before, after):
                np.testing.assert_allclose(a1, decay * a0 + (1 - decay) * w1, atol=1e-6)
            assert any(not np.array_equal(w0, w1) for (w0, _), (w1, _) in zip(before, after))
            before = after


def test_averaged_generator_keeps_its_own_batch_norm_statistics():
    # dcgan with its recipe change bn (the layers.batch_norm lsgan's G uses; a smaller graph)
    sess, ops, pairs = build(dcgan.SPEC, ["--ema", "0.999", "--recipe", "bn,glrelu"])
    statistics = [(v, c) for v, c in pairs if "moving_" in v.op.name]
    assert statistics
    with sess:
        start = sess.run(statistics)
        graph.train_step(sess, ops, g_steps=1)  # copies still equal this step's weights
        graph.train_step(sess, ops, g_steps=1)  # now they differ, and so do the activations
        moved = sess.run(statistics)
    for (_, c0), (v2, c2) in zip(start, moved):
        assert not np.array_equal(c0, c2)  # the averaged G's statistics updated...
        assert not np.array_equal(c2, v2)  # ...from its own activations, not the training G's


def averaged_and_last(folder):
    """Images of the same z from a run's averaged G and from its last weights."""
    return [evaluate.images_from_checkpoint(str(folder), 16, seed=0, last_weights=last)[0]
            for last in (False, True)]


def test_samples_are_drawn_with_the_average(run_dirs, tmp_path, tiny_runs):
    # A decay of almost 0 keeps the average equal to the weights; conftest's tiny dcgan run
    # (its default --ema 0.999, 2 steps) keeps it near the start.
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "2", "--ema", "1e-9"]) == 0
    assert np.array_equal(*averaged_and_last(tmp_path / "checkpoints"))
    assert dcgan.DEFAULTS["ema"] == 0.999
    assert not np.array_equal(*averaged_and_last(tiny_runs("dcgan") / "c"))


def test_a_run_saved_before_ema_and_recipe_existed_still_generates(run_dirs, tmp_path):
    # Before these flags, the scripts had no average and the article's D (no mbstd: another
    # shape); dcgan, the cheapest graph, stands for them all (config.FLAGS_ADDED_LATER).
    assert dcgan.DEFAULTS["ema"] > 0 and dcgan.DEFAULTS["recipe"] != "article"
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "2", "--ema", "0",
                                                        "--recipe", "article"]) == 0
    config = tmp_path / "checkpoints" / "config.json"
    saved = json.loads(config.read_text())
    del saved["ema"], saved["recipe"]
    config.write_text(json.dumps(saved))
    assert training.main(dcgan.SPEC, run_dirs + FAST + ["--steps", "3"]) == 0  # resumes
    assert training.main(dcgan.SPEC, run_dirs + ["--generate", "--num-images", "4"]) == 0
    images, _, _ = evaluate.images_from_checkpoint(str(tmp_path / "checkpoints"), 4, seed=0)
    assert images.shape == (4, 28, 28, 1)


@pytest.mark.parametrize("value", ["1", "-0.1", "x"])
def test_a_decay_outside_0_to_1_is_refused(run_dirs, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        training.main(dcgan.SPEC, run_dirs + ["--ema", value])
    assert exit_info.value.code == 2 and "use 0 (off) or a decay below 1" in capsys.readouterr().err
