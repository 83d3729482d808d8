"""Both losses pinned on hand-computed values; D's opt-in levers (--r1, --d-learning-rate) read
in the training graph."""

import numpy as np
import tensorflow as tf

import lsgan
from gan import losses


def evaluate(fn, real, fake):
    return [float(v) for v in fn(tf.constant(real, tf.float32), tf.constant(fake, tf.float32))]


def test_least_squares_loss_by_hand():
    # d = 0.5*mean((s_r-1)^2) + 0.5*mean(s_f^2) = 0.5*(1+0)/2 + 0.5*(4+0.25)/2 = 0.25 + 1.0625
    # g = 0.5*mean((s_f-1)^2) = 0.5*(1+2.25)/2 = 0.8125
    d, g = evaluate(lsgan.least_squares_loss, [[0.0], [1.0]], [[2.0], [-0.5]])
    assert np.isclose(d, 1.3125) and np.isclose(g, 0.8125)


def test_gan_loss_by_hand():
    # logits 0 -> sigmoid 0.5: each cross-entropy term is log 2.
    d, g = evaluate(losses.gan_loss, [[0.0]], [[0.0]])
    assert np.isclose(d, 2 * np.log(2)) and np.isclose(g, np.log(2))
    # real logit 2, fake logit -1: d = log(1+e^-2) + log(1+e^-1), g = log(1+e^1)
    d, g = evaluate(losses.gan_loss, [[2.0]], [[-1.0]])
    assert np.isclose(d, np.log1p(np.exp(-2)) + np.log1p(np.exp(-1)), atol=1e-6)
    assert np.isclose(g, np.log1p(np.exp(1)), atol=1e-6)


def test_gan_loss_from_logits_stays_finite_when_d_is_sure():
    d, g = evaluate(losses.gan_loss, [[100.0]], [[-100.0]])
    assert np.isfinite(d) and np.isfinite(g) and np.isclose(g, 100.0)


# ---------------------------------------------------------------------------------------------
# Opt-in levers of D's update: --r1 and --d-learning-rate (in the training graph)

def training_graph(spec, flags, monkeypatch=None, spy=None):
    """spec's training graph at batch 16 on 32 images, fp32 on the CPU; spy wraps r1_penalty."""
    from conftest import make_config
    from gan import graph
    if spy is not None:
        monkeypatch.setattr(graph, "r1_penalty", spy(graph.r1_penalty))
    cfg = make_config(spec, ["--batch-size", "16", "--precision", "fp32", "--device", "/cpu:0",
                             "--ema", "0"] + flags)
    return cfg, graph.build(spec, cfg, (32, 28, 28, 1))


def adam_rates(model):
    """{"discriminator": rates, "generator": rates}: the learning rate each Adam update applies."""
    rates = {"discriminator": set(), "generator": set()}
    for op in model.graph.get_operations():
        if op.type == "ResourceApplyAdam":
            rate = op.inputs[5].op  # var, m, v, beta1_power, beta2_power, lr, ...
            assert rate.type == "Const", rate.name
            value = tf.make_ndarray(rate.get_attr("value"))[()]
            rates[op.inputs[0].name.split("/")[0]].add(value)
    return rates


def f32(*rates):
    return {np.float32(rate) for rate in rates}


def test_r1_adds_gamma_half_the_mean_squared_real_gradient_and_d_gets_its_own_rate(monkeypatch):
    """--r1 10: D's loss gains 5 * mean ||dD(x)/dx||^2 over the real batch. The gradient is taken
    here, on the tensors build_training hands the penalty: checked to be D's raw scores (their
    sigmoid is d_real) on real images (the uint8 grid). The loss without the penalty is the same
    graph's d_loss with the penalty fed as 0. TTUR: D's Adam at --d-learning-rate, G's not."""
    import dcgan
    from gan import data, graph
    seen = {}

    def spy(penalty):
        def wrapped(scores, images, gamma):
            seen.update(scores=scores, images=images, gradient=tf.gradients(scores, images)[0],
                        penalty=penalty(scores, images, gamma))
            return seen["penalty"]
        return wrapped

    cfg, model = training_graph(dcgan.SPEC, ["--r1", "10", "--d-learning-rate", "3e-4"],
                                monkeypatch, spy)  # default recipe: a code head beside the score
    assert adam_rates(model) == {"discriminator": f32(3e-4), "generator": f32(cfg.learning_rate)}
    rng = np.random.default_rng(0)
    dataset = data.Dataset(rng.integers(0, 256, (32, 28, 28, 1), dtype=np.uint8),
                           rng.integers(0, 10, 32).astype(np.int32), "random")
    ops = model.train
    with graph.start_session(model, cfg, dataset) as sess:
        sess.run(ops.reshuffle)
        d_loss, d_real, scores, images, gradient = sess.run(
            [ops.d_loss, ops.d_real, seen["scores"], seen["images"], seen["gradient"]])
        unpenalized = sess.run(ops.d_loss, {seen["penalty"]: 0.0})
    assert scores.shape == (16, 1) and np.isclose(d_real, np.mean(1 / (1 + np.exp(-scores))))
    pixels = (images + 1.0) * 127.5
    assert np.allclose(pixels, np.round(pixels), atol=1e-3)  # real images, not G's
    expected = 5.0 * np.mean(np.sum(np.square(gradient), axis=(1, 2, 3)))
    assert expected > 1e-3 * abs(unpenalized)  # large enough to be told apart in float32
    assert np.isclose(d_loss - unpenalized, expected, rtol=1e-3, atol=0), (d_loss, unpenalized,
                                                                           expected)


def test_levers_off_by_default_leave_the_graph_as_it_was():
    """Without the flags: no R1 op in the graph, and both Adams at --learning-rate."""
    import dcgan
    cfg, model = training_graph(dcgan.SPEC, ["--recipe", "article", "--learning-rate", "7e-4"])
    assert cfg.r1 == 0 and cfg.d_learning_rate is None
    assert adam_rates(model) == {"discriminator": f32(7e-4), "generator": f32(7e-4)}
    assert not [op.name for op in model.graph.get_operations() if "r1_penalty" in op.name]


def test_a_resume_trains_on_with_the_saved_optimizer_settings():
    """A run saved with --r1 1 --learning-rate 3e-4 --d-learning-rate 1e-3 resumes with them
    when nothing is typed; a typed one replaces the saved one; a run saved before --r1 existed
    resumes without it."""
    import lsgan
    from gan import config
    saved = {"model": "lsgan", "r1": 1.0, "learning_rate": 3e-4, "d_learning_rate": 1e-3,
             "beta1": 0.5, "beta1_d": None}

    def resumed(argv, saved):
        flags, explicit, _ = config.parse(lsgan.SPEC, argv)
        return config.merge_saved(lsgan.SPEC, flags, explicit, saved)

    values = resumed([], saved)
    assert (values["r1"], values["learning_rate"], values["d_learning_rate"]) == (1.0, 3e-4, 1e-3)
    values = resumed(["--r1", "0", "--learning-rate", "1e-4"], saved)
    assert (values["r1"], values["learning_rate"], values["d_learning_rate"]) == (0.0, 1e-4, 1e-3)
    older = {k: v for k, v in saved.items() if k not in ("r1", "d_learning_rate")}
    assert resumed([], older)["r1"] == 0.0 and resumed([], older)["d_learning_rate"] is None


def test_a_folder_without_a_checkpoint_starts_from_the_typed_optimizer_settings(run_copy):
    """config.json of a run that saved no checkpoint (it diverged, or was killed first) does
    not carry its --r1 or --learning-rate into the next run, which starts from scratch. The
    earlier run is a copy of conftest's tiny dcgan run, its config.json given the settings such
    a run would have saved, and its checkpoints deleted."""
    import json
    import dcgan
    from gan import training
    from conftest import FAST
    base = run_copy("dcgan")
    config_json = base / "c" / "config.json"
    saved = json.loads(config_json.read_text())
    config_json.write_text(json.dumps({**saved, "r1": 5.0, "learning_rate": 1e-5}))
    for path in (base / "c").glob("model.ckpt-*"):
        path.unlink()
    flags = ["--data-dir", str(base / "mnist"), "--checkpoint-dir", str(base / "c"),
             "--sample-dir", str(base / "s")]
    assert training.main(dcgan.SPEC, flags + FAST + ["--steps", "1", "--save-every", "1000"]) == 0
    saved = json.loads(config_json.read_text())
    assert (saved["r1"], saved["learning_rate"]) == (0.0, dcgan.DEFAULTS["learning_rate"])
