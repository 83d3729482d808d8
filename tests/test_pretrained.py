"""The generators committed under pretrained/ draw digits in seconds, before any training."""

import os

import numpy as np
import pytest

import cgan
import dcgan
from gan import metrics
from gan import training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def classifier():
    return metrics.Classifier()


def generated(spec, tmp_path, *flags):
    assert training.main(spec, ["--generate", "--checkpoint-dir",
                                os.path.join(ROOT, "pretrained", spec.name), "--sample-dir",
                                str(tmp_path), "--num-images", "500", *flags]) == 0
    return np.load(tmp_path / "generated.npy")


def test_pretrained_dcgan_draws_all_ten_digits(tmp_path, classifier):
    images = generated(dcgan.SPEC, tmp_path)
    _, probs = classifier(images)
    shares = np.bincount(probs.argmax(1), minlength=10) / len(images)
    assert images.shape == (500, 28, 28, 1) and (shares > 0.03).all()


def test_pretrained_cgan_draws_the_digit_asked_for(tmp_path, classifier):
    images = generated(cgan.SPEC, tmp_path, "--digit", "7")
    _, probs = classifier(images)
    assert (probs.argmax(1) == 7).mean() > 0.95
