"""--gpus N: data-parallel towers give the results of one device (checked on 2 logical CPUs)."""

import numpy as np
import tensorflow as tf

import dcgan
from gan import training
from conftest import FAST


def weights(path):
    reader = tf.train.load_checkpoint(str(path))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def test_two_towers_match_one_device_and_are_placed_on_their_devices(tmp_path, tiny_mnist):
    def train(name, extra):
        args = ["--data-dir", tiny_mnist, "--sample-dir", str(tmp_path / name / "s"),
                "--checkpoint-dir", str(tmp_path / name / "c"), "--recipe", "article",
                "--precision", "fp32", "--device", "/cpu:0"] + FAST + ["--steps", "2"] + extra  # bf16 rounds each sum
        assert training.main(dcgan.SPEC, args) == 0
        return weights(tmp_path / name / "c" / "model.ckpt-2")

    one, two = train("one", []), train("two", ["--gpus", "2"])
    assert set(one) == set(two)
    for name in one:  # sums in another order may differ in the last bits, no more
        np.testing.assert_allclose(one[name], two[name], rtol=1e-4, atol=1e-5, err_msg=name)

    # The towers' convolutions were placed on both CPUs (as the saved graph records them).
    graph_def = tf.compat.v1.MetaGraphDef()
    graph_def.ParseFromString((tmp_path / "two" / "c" / "model.ckpt-2.meta").read_bytes())
    devices = {node.device.lower() for node in graph_def.graph_def.node if "Conv2D" in node.op}
    assert any(d.endswith("cpu:0") for d in devices) and any(d.endswith("cpu:1") for d in devices)


def test_batch_must_split_over_towers(run_dirs, capsys):
    assert training.main(dcgan.SPEC, run_dirs + ["--gpus", "3", "--batch-size", "16"]) == 2
    assert "does not split evenly" in capsys.readouterr().err
