"""The refactors keep the training graph's arithmetic: a fixed-seed 20-step run of each script
gives the weights it gave before, bit for bit, on a CPU kind a digest was recorded on.

Digests differ between CPU kinds (another order of floating-point sums), so they are kept per
CPU model and TensorFlow version in weight_digests.json; on a machine with none recorded the
test is skipped. Record one before a change that must not alter training:
    .venv/bin/python tests/test_weight_digest.py --record
The loop fetches nothing here: which tensors a sess.run fetches changes how Grappler fuses the
graph, and with it the last bits of some updates. Each digest is taken in a process of its
own: cgan's came out differently after other graphs had run in the same process.
"""

import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan import tf_quiet  # noqa: F401
import numpy as np
import pytest
import tensorflow as tf

import cgan
from gan import config
from gan import data
import dcgan
import gan_mlp
from gan import graph
import lsgan
from gan.machine import cpu_name
import utils

v1 = tf.compat.v1
DIGESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weight_digests.json")
SPECS = (gan_mlp.SPEC, dcgan.SPEC, cgan.SPEC, lsgan.SPEC)


def machine_kind():
    return f"{cpu_name()} | TensorFlow {tf.__version__}"


def weight_digest(spec, folder, steps=20):
    """SHA-256 over every saved variable after `steps` steps at batch 16, seed 3, tiny MNIST."""
    from conftest import write_tiny_mnist
    write_tiny_mnist(folder)
    images, labels = utils.load_mnist(folder, "train", log=lambda m: None)
    dataset = data.Dataset(images, labels.astype(np.int32), "tiny")
    cfg, explicit = config.new_run(spec, ["--batch-size", "16", "--seed", "3", "--device",
                                          "/cpu:0", "--precision", "fp32"])
    cfg = config.fit_to_data(cfg, explicit, len(images))
    model = graph.build(spec, cfg, images.shape)
    with graph.start_session(model, cfg, dataset) as sess:
        sess.run(model.train.reshuffle)
        for step in range(steps):
            if step and step % cfg.steps_per_epoch == 0:
                sess.run(model.train.reshuffle)
            graph.train_step(sess, model.train, spec.g_steps)
        variables = v1.global_variables()
        digest = hashlib.sha256()
        for name, value in sorted(zip([v.op.name for v in variables], sess.run(variables))):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def digest_in_new_process(name, folder):
    result = subprocess.run([sys.executable, os.path.abspath(__file__), "--digest", name, folder],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()[-1]


def recorded():
    if not os.path.exists(DIGESTS):
        return {}
    with open(DIGESTS) as f:
        return json.load(f).get(machine_kind(), {})


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_training_arithmetic_is_unchanged(spec, tmp_path):
    expected = recorded().get(spec.name)
    if expected is None:
        pytest.skip(f"no digest recorded for {machine_kind()}")
    assert digest_in_new_process(spec.name, str(tmp_path)) == expected


if __name__ == "__main__" and sys.argv[1:2] == ["--digest"]:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(weight_digest(next(s for s in SPECS if s.name == sys.argv[2]), sys.argv[3]))
elif __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    import tempfile
    table = json.load(open(DIGESTS)) if os.path.exists(DIGESTS) else {}
    table[machine_kind()] = {s.name: digest_in_new_process(s.name, tempfile.mkdtemp())
                             for s in SPECS}
    with open(DIGESTS, "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
    print(json.dumps(table[machine_kind()], indent=1))
