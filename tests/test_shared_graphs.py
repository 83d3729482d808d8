"""conftest's graphs_built_once: a test gets a shared graph only where a fresh build would be
the same graph, so no test trains a graph other than the one its settings ask for."""

import pytest

import dcgan
import gan_mlp
from conftest import make_config
from gan import graph

SHAPE = (128, 28, 28, 1)


def build(flags):
    return graph.build(gan_mlp.SPEC, make_config(gan_mlp.SPEC, ["--batch-size", "16"] + flags,
                                                 128), SHAPE)


def test_same_settings_share_and_a_setting_the_build_reads_does_not():
    model = build([])
    assert build([]) is model
    assert build(["--checkpoint-dir", "elsewhere"]) is model  # a setting the graph never reads
    assert build(["--z-dim", "12"]) is not model


def test_a_patched_function_gets_a_graph_of_its_own(monkeypatch):
    model = build([])
    monkeypatch.setattr(gan_mlp, "dropout", gan_mlp.dropout)  # the same function: the same graph
    assert build([]) is model
    monkeypatch.setattr(gan_mlp, "dropout", lambda x, *args, **kwargs: x)
    assert build([]) is not model


def test_a_patch_after_an_undone_one_is_never_mistaken_for_it():
    """Python may put a new object at a freed one's address (as it did here for the second
    function): the first patch's function is kept alive, so the second cannot be taken for it."""
    models = []
    for scale in (1.0, 0.0):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(gan_mlp, "dropout", lambda x, *args, scale=scale, **kwargs: x * scale)
            models.append(build([]))
    assert models[0] is not models[1]


def test_a_setting_changed_in_place_gets_a_graph_of_its_own(monkeypatch):
    cfg = make_config(dcgan.SPEC, ["--batch-size", "16", "--recipe", "article"], 128)
    model = graph.build(dcgan.SPEC, cfg, SHAPE)
    monkeypatch.setitem(dcgan.ARTICLE_INIT, "stddev", 0.5)  # read by the article's layers
    assert graph.build(dcgan.SPEC, cfg, SHAPE) is not model
