"""--refine and --reject on a tiny trained model: they use the run's own D and do what they say."""

import hashlib
import os

import numpy as np
import pytest

import cgan
from gan import data
import dcgan
import gan_mlp
from gan import graph
from gan import guided_sampling
import lsgan
from gan import sampling
from gan import training
from conftest import FAST, make_config, write_tiny_mnist


def flags_of(base):
    return ["--data-dir", str(base / "mnist"), "--checkpoint-dir", str(base / "c"),
            "--sample-dir", str(base / "s")]


@pytest.fixture(scope="module")
def runs(tiny_runs, tmp_path_factory):
    """{script name: its run's flags}: dcgan's is conftest's shared tiny fp32 run; lsgan's a
    2-step fp32 run of --recipe mbstd,code (its code head is checked below, and refinement
    reads column 0 alone); cgan's a 2-step fp32 run at --learning-rate 5e-3. All fp32:
    refinement's "D's score rises" is a claim about fp32 arithmetic (at bf16 on AMX cgan's
    score came out bit-equal). Tests only read them (those that write use run_copy)."""
    made = {}

    def run_of(spec):
        if spec.name == "dcgan":
            return flags_of(tiny_runs("dcgan"))
        if spec.name not in made:
            base = tmp_path_factory.mktemp(spec.name)
            write_tiny_mnist(str(base / "mnist"))
            # cgan's D at its own 2e-4 barely moves in tiny runs (gradients stay near 1e-6)
            extra = (["--learning-rate", "5e-3"] if spec.conditional
                     else ["--recipe", "mbstd,code"])
            assert training.main(spec, flags_of(base) + FAST + extra + [
                "--precision", "fp32", "--steps", "2", "--save-every", "1"]) == 0
            # the config new_run makes from these flags must have the run's architecture
            made[spec.name] = flags_of(base) + ([] if spec.conditional else extra)
        return list(made[spec.name])
    return run_of


def trained(spec, run_dirs):
    cfg = make_config(spec, run_dirs + ["--generate", "--refine", "1"], num_examples=128)
    return cfg, *sampling.restored_sampler(spec, cfg, log=lambda m: None)[:2]


@pytest.mark.parametrize("spec", [dcgan.SPEC, lsgan.SPEC, cgan.SPEC], ids=lambda s: s.name)
def test_refinement_raises_ds_score_and_keeps_the_shape(spec, runs):
    cfg, model, sess = trained(spec, runs(spec))
    z = sampling.draw_z(0, 64, cfg.z_dim)
    labels = np.arange(64) % 10 if spec.conditional else None
    with sess:
        plain = graph.images_of(sess, model.sampler, z, labels)
        refined = guided_sampling.refine(sess, model, z, labels, steps=5, rate=0.1)
        # D on the float images: rounding to uint8 moves a 2-step D's mean score by more than
        # refinement does (under ONEDNN_MAX_CPU_ISA=AVX lsgan's fell by 2e-7 that way)
        d_of = lambda x: sess.run(model.critic.fed_fake_scores, {
            model.critic.fake_images: x, **graph.sampler_feed(model.sampler, z, labels)})
        before, after = d_of(plain).mean(), d_of(refined).mean()
    assert refined.shape == plain.shape and not np.array_equal(refined, plain)
    assert after > before  # lsgan's D: a score with target 1 for real; the others: a logit


def test_shaping_moves_d_in_the_session_and_leaves_the_checkpoint_alone(run_copy, capsys):
    """--shape-steps: D's score on refined samples moves (D learns to call them fake), no
    variable is added (the strict restore passed), and no checkpoint file changes."""
    run_dirs = flags_of(run_copy("dcgan"))
    cfg, model, sess = trained(dcgan.SPEC, run_dirs)
    folder = cfg.checkpoint_dir

    def digests():
        return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
                for name in sorted(os.listdir(folder))
                if os.path.isfile(os.path.join(folder, name))}
    before_files = digests()
    real = data.load_training_data("mnist", cfg.data_dir, log=lambda m: None).images
    z = sampling.draw_z(0, 64, cfg.z_dim)
    with sess:
        refined = guided_sampling.refine(sess, model, z, steps=2)
        d_of = lambda: sess.run(model.critic.fed_fake_scores,
                                {model.critic.fake_images: refined}).mean()
        before = d_of()
        first, last = guided_sampling.shape(sess, model, real, None, cfg.z_dim, steps=5,
                                            rate=0.01, rng=np.random.default_rng(0),
                                            refine_steps=2, batch=16, log=lambda m: None)
        after = d_of()
    assert np.isfinite([first, last]).all()
    assert after < before  # D's loss went down on refined fakes: it scores them lower
    # The command line: shaping runs with --refine, and only then; the checkpoint stays as it was.
    flags = ["--generate", "--refine", "2", "--num-images", "16"]
    assert training.main(dcgan.SPEC, run_dirs + flags + ["--shape-steps", "3"]) == 0
    assert training.main(dcgan.SPEC, run_dirs + ["--generate", "--shape-steps", "3"]) == 2
    captured = capsys.readouterr()
    assert "--shape-steps: 3 steps of D" in captured.out
    assert "--shape-steps only applies with --refine" in captured.err
    assert training.main(dcgan.SPEC, run_dirs + flags + ["--shape-rate", "0.1"]) == 2
    assert "--shape-rate only applies with --shape-steps" in capsys.readouterr().err
    # A rate that blows D up stops with one line instead of writing black images.
    assert training.main(dcgan.SPEC, run_dirs + flags + ["--shape-steps", "3",
                                                         "--shape-rate", "1e30"]) == 2
    assert "use a smaller rate" in capsys.readouterr().err
    assert digests() == before_files


def test_rejection_keeps_the_requested_number_and_says_how_many_it_saw(run_copy, capsys):
    run_dirs = flags_of(run_copy("dcgan"))
    capsys.readouterr()
    assert training.main(dcgan.SPEC, run_dirs + ["--generate", "--reject", "--num-images",
                                                 "300"]) == 0
    out = capsys.readouterr().out
    assert "--reject: kept" in out
    kept, seen = [int(w) for w in out.split("--reject: kept ")[1].split(" samples")[0].split(" of ")]
    assert kept >= 300 and seen > kept


def test_rejection_keeps_the_samples_d_prefers(runs):
    """The rule is calibrated on real training digits against G's samples; the samples it keeps
    have higher D scores on average than the ones it rejects (D calls them more real)."""
    run_dirs = runs(dcgan.SPEC)
    cfg, model, sess = trained(dcgan.SPEC, run_dirs)
    rng = np.random.default_rng(0)
    draw = lambda n: (rng.uniform(-1, 1, (n, cfg.z_dim)).astype(np.float32), None)
    real = data.load_training_data("mnist", cfg.data_dir, log=lambda m: None).images
    with sess:
        rule = guided_sampling.calibrate(sess, model, real, None, draw, percentile=80)
        z, _ = draw(5000)
        raw = guided_sampling.scores(sess, model, z)
        keep = rule.accept(raw, np.random.default_rng(2))
    assert 0 < keep.sum() < len(keep)
    assert raw[keep].mean() > raw[~keep].mean()


def test_refine_and_reject_need_generate_and_exclude_each_other(runs, capsys):
    run_dirs = runs(dcgan.SPEC)
    assert training.main(dcgan.SPEC, run_dirs + ["--refine", "3"]) == 2
    assert training.main(dcgan.SPEC, run_dirs + ["--generate", "--refine", "3", "--reject"]) == 2
    err = capsys.readouterr().err
    assert "--refine only applies with --generate" in err and "pick one" in err


def code_head_graph(spec, cfg):
    """G then D in eval mode on fed z, and the InfoGAN cross-entropy of D's code head (columns
    1-10) against G's code, the argmax of z's last 10 entries (as graph.split_code_head)."""
    import tensorflow as tf
    v1 = tf.compat.v1
    v1.train.get_or_create_global_step()  # first, as graph.build does (gan_mlp's dropout)
    z = v1.placeholder(tf.float32, [None, cfg.z_dim])
    with v1.variable_scope("generator"):
        images = spec.generator(z, None, cfg, False)
    with v1.variable_scope("discriminator"):
        outputs = spec.discriminator(images, None, cfg, False)
    info = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.argmax(z[:, -10:], axis=1), logits=outputs[:, 1:]))
    return z, images, outputs, info


def test_code_recipe_trains_a_head_that_recovers_gs_code(tmp_path, run_dirs):
    """--recipe ...,code (the full learning check, on dcgan): after 30 steps D's code head
    reads G's 10-way code (the argmax of z's last 10 entries) from G's images far above chance
    (10%, +-1% over 1,000 draws). With --z-dim 12 the code is most of G's input, so both
    players learn it in tens of steps rather than hundreds: at step 30 seeds 0-4 read 92%,
    78%, 69%, 43% and 33% (seed 0, this test's, is the 92%)."""
    import tensorflow as tf
    v1 = tf.compat.v1
    flags = ["--recipe", "mbstd,code", "--batch-size", "16", "--z-dim", "12",
             "--ema", "0", "--precision", "fp32"]
    quick = ["--sample-every", "30", "--save-every", "30", "--log-every", "30"]
    assert training.main(dcgan.SPEC, run_dirs + quick + flags + ["--steps", "30"]) == 0
    cfg = make_config(dcgan.SPEC, run_dirs + flags, num_examples=128)
    with tf.Graph().as_default():
        z, _, outputs, _ = code_head_graph(dcgan.SPEC, cfg)
        with v1.Session() as sess:
            v1.train.Saver(v1.global_variables()).restore(
                sess, str(tmp_path / "checkpoints" / "model.ckpt-30"))
            noise = sampling.draw_z(7, 1000, cfg.z_dim)
            guessed = sess.run(outputs, {z: noise})[:, 1:].argmax(axis=1)
    assert outputs.shape[-1] == 11
    assert (guessed == noise[:, -10:].argmax(axis=1)).mean() > 0.25


@pytest.mark.parametrize("name", ["lsgan", "gan_mlp"])
def test_code_recipe_is_wired_in_every_script(name, runs, tiny_runs):
    """The scripts share the code's mechanism (layers.categorical_code and with_code_head,
    graph.split_code_head adding the cross-entropy to both losses), checked learning on dcgan
    above; here each other script's networks are wired to it, on a 2-step run with the code
    (gan_mlp's default recipe, lsgan's mbstd,code): D has a 10-logit code head, G's images follow the
    code, and D's step lowers the code's cross-entropy on G's images."""
    import tensorflow as tf
    v1 = tf.compat.v1
    spec = {"lsgan": lsgan.SPEC, "gan_mlp": gan_mlp.SPEC}[name]
    flags = runs(spec) if name == "lsgan" else flags_of(tiny_runs(name))
    cfg = make_config(spec, flags, num_examples=128)
    assert "code" in cfg.changes
    checkpoint = flags[3] + "/model.ckpt-"
    with tf.Graph().as_default():
        z, images, outputs, info = code_head_graph(spec, cfg)
        generator = v1.train.Saver(v1.global_variables("generator"))
        discriminator = v1.train.Saver(v1.global_variables("discriminator"))
        with v1.Session() as sess:
            noise = sampling.draw_z(7, 500, cfg.z_dim)
            generator.restore(sess, checkpoint + "1")
            losses = []
            for step in (1, 2):  # step 2's D update ran on G's images of step 1
                discriminator.restore(sess, checkpoint + str(step))
                losses.append(sess.run(info, {z: noise}))
            # G reads the code: the same z with another code draws other images
            plain, other = (sess.run(images, {z: sampling.with_code(noise[:20], codes)})
                            for codes in (np.zeros(20, int), np.ones(20, int)))
    assert outputs.shape[-1] == 11  # column 0 real-or-fake, 1-10 the code's logits
    assert losses[1] < losses[0], losses  # the cross-entropy is in D's loss: its step lowers it
    assert not np.allclose(plain, other)
