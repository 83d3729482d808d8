"""gan_mlp's recipe changes `sn` (off by default: D's weights divided by their largest singular
value) and `nodrop` (G without the article's dropout: in the default recipe, info-nodrop)."""

import numpy as np
import tensorflow as tf

import gan_mlp
from conftest import make_config
from gan.layers import dense

v1 = tf.compat.v1


def test_normalized_weight_has_largest_singular_value_one():
    """The power iteration's estimate, kept in sn_u across calls, converges to sigma(w)."""
    with tf.Graph().as_default(), v1.Session() as sess:
        normalized = dense(tf.eye(30), 20, "layer", stddev=1.0, spectral_norm=True)  # b is 0
        sess.run(v1.global_variables_initializer())
        w = sess.run(v1.global_variables("layer/w")[0])
        for _ in range(100):
            result = sess.run(normalized)
    assert np.linalg.svd(w, compute_uv=False)[0] > 3  # so dividing by it is not a no-op
    np.testing.assert_allclose(result, w / np.linalg.svd(w, compute_uv=False)[0], rtol=1e-3)


def test_sn_normalizes_every_layer_of_gan_mlps_d_and_none_of_g():
    cfg = make_config(gan_mlp.SPEC, ["--recipe", "code,sn"], 128)
    with tf.Graph().as_default():
        gan_mlp.discriminator(tf.zeros([4, 28, 28, 1]), None, cfg, True)
        gan_mlp.generator(tf.zeros([4, 100]), None, cfg, True)
        kept = sorted(v.op.name for v in v1.global_variables() if v.op.name.endswith("sn_u"))
    assert kept == ["dis_code/sn_u", "dis_fc1/sn_u", "dis_fc2/sn_u", "dis_fc3/sn_u",
                    "dis_out/sn_u"]


def test_the_default_and_nodrop_leave_gs_dropout_out_and_info_keeps_it():
    def dropout_ops(recipe):
        cfg = make_config(gan_mlp.SPEC, ["--recipe", recipe] if recipe else [], 128)
        with tf.Graph().as_default() as graph:
            gan_mlp.generator(tf.zeros([4, 100]), None, cfg, True)
        return [op.name for op in graph.get_operations() if "dropout" in op.type.lower()
                or "dropout" in op.name]
    assert dropout_ops("info") and dropout_ops("code")
    assert not dropout_ops(None) and not dropout_ops("code,nodrop")
