"""The refactors keep the training graph's arithmetic: a fixed-seed 20-step run of each script
gives the weights it gave before, bit for bit, on a machine kind a digest was recorded on.

Digests differ with the arithmetic in force (another order of floating-point sums), so they are
kept in weight_digests.json per CPU model, oneDNN instruction-set class (amx, avx512_bf16,
avx512, avx2: ONEDNN_MAX_CPU_ISA lowers it), oneDNN on or off (TF_ENABLE_ONEDNN_OPTS) and
TensorFlow version (gan/machine.py: digest_key); two "AMD EPYC"s, one with AVX512-BF16 and one
with AVX2 only, get two keys. On a machine kind with none recorded the test is skipped and says
which key it looked for; it never records (a digest it recorded itself could not fail). Record
on a commit known to train right, before a change that must not alter training:
    .venv/bin/python tests/test_weight_digest.py --record
Whether two machine kinds share a digest (Eigen with oneDNN off may well) is not checked here.
One check holds on every machine: two processes with the same seed train the same weights,
and another seed trains others (test_training_is_deterministic_in_fresh_processes); where a
gan_mlp digest is recorded and matches, the fresh process that recorded it is the other one.
The loop fetches nothing here: which tensors a sess.run fetches changes how Grappler fuses the
graph, and with it the last bits of some updates. Each digest is the first graph of a process
of its own (cgan's came out differently after other graphs had run in the same process): in
the suite, a fork of tests/forked_scripts.py's server, which imported TensorFlow and built
nothing (a fresh interpreter's 8 s start-up, paid once); --record uses fresh processes.
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
from gan import machine
import forked_scripts
import utils

v1 = tf.compat.v1
DIGESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weight_digests.json")
SPECS = (gan_mlp.SPEC, dcgan.SPEC, cgan.SPEC, lsgan.SPEC)


def machine_kind():
    return machine.digest_key(tf.__version__)


def weight_digest(spec, folder, steps=20, seed=3):
    """SHA-256 over every saved variable after `steps` steps at batch 16, fp32, tiny MNIST."""
    from conftest import write_tiny_mnist
    write_tiny_mnist(folder)
    images, labels = utils.load_mnist(folder, "train", log=lambda m: None)
    dataset = data.Dataset(images, labels.astype(np.int32), "tiny")
    cfg, explicit = config.new_run(spec, ["--batch-size", "16", "--seed", str(seed), "--device",
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


def start_digest(name, folder, *runs):
    """A fresh process that prints one digest per (steps, seed) in runs, in one line."""
    os.makedirs(folder, exist_ok=True)
    runs = [str(x) for run in runs for x in run]
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--digest", name, folder,
                             *runs], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_forked_digest(name, folder, *runs):
    """As start_digest, in a fork of the preloaded server (forked_scripts.py)."""
    os.makedirs(folder, exist_ok=True)
    runs = [str(x) for run in runs for x in run]
    return forked_scripts.start(os.path.relpath(os.path.abspath(__file__), forked_scripts.ROOT),
                                ["--digest", name, folder, *runs],
                                os.path.join(folder, "output.txt"))


def digests_of(process):
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, (out + err)[-2000:]
    return out.split()[-1].split(",")


def digest_in_new_process(name, folder):
    return digests_of(start_digest(name, folder, (20, 3)))[0]


def recorded():
    if not os.path.exists(DIGESTS):
        return {}
    with open(DIGESTS) as f:
        return json.load(f).get(machine_kind(), {})


@pytest.fixture(scope="module")
def digests(tmp_path_factory):
    """Every process this file needs, started together: a fork per script with a digest
    recorded for this machine kind, its 20-step seed-3 run first (what the digest measures),
    and gan_mlp's always, which then also trains seed 4 for the determinism check; where no
    gan_mlp digest is recorded, a fresh gan_mlp process (another interpreter, another hash
    seed) to compare with."""
    folder = lambda name: str(tmp_path_factory.mktemp(name))
    runs = {s.name: [(20, 3)] for s in SPECS if s.name in recorded()}
    runs.setdefault("gan_mlp", [(20, 3)]).append((20, 4))  # after its first graph: not digested
    started = {name: start_forked_digest(name, folder(name), *r) for name, r in runs.items()}
    if "gan_mlp" not in recorded():
        started["again"] = start_digest("gan_mlp", folder("again"), (20, 3))
    return {name: digests_of(process) for name, process in started.items()}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_training_arithmetic_is_unchanged(spec, digests):
    expected = recorded().get(spec.name)
    if expected is None:
        pytest.skip(f"no {spec.name} digest recorded for this machine kind, {machine_kind()!r} "
                    f"(tests/weight_digests.json); record one on a commit known to train right "
                    f"with tests/test_weight_digest.py --record")
    assert digests[spec.name][0] == expected


def test_training_is_deterministic_in_fresh_processes(digests, tmp_path):
    """Same seed, two fresh processes: the same weights, bit for bit, on any machine; another
    seed: other weights (so the digest sees the training at all). The other fresh process is
    the one that recorded this machine kind's gan_mlp digest where that digest matches; else
    (none recorded, or the arithmetic changed) one more fresh process here."""
    seed3, seed4 = digests["gan_mlp"]
    assert seed3 != seed4, "another seed trained the same weights: the digest sees no training"
    again = recorded().get("gan_mlp")
    if again != seed3:
        again = digests["again"][0] if "again" in digests else \
            digest_in_new_process("gan_mlp", str(tmp_path))
    assert seed3 == again, "two fresh processes with the same seed trained different weights"


if __name__ == "__main__" and sys.argv[1:2] == ["--digest"]:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    spec = next(s for s in SPECS if s.name == sys.argv[2])
    runs = list(map(int, sys.argv[4:])) or [20, 3]
    print(",".join(weight_digest(spec, os.path.join(sys.argv[3], str(i)), steps, seed)
                   for i, (steps, seed) in enumerate(zip(runs[::2], runs[1::2]))))
elif __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    import tempfile
    table = json.load(open(DIGESTS)) if os.path.exists(DIGESTS) else {}
    table[machine_kind()] = {s.name: digest_in_new_process(s.name, tempfile.mkdtemp())
                             for s in SPECS}
    with open(DIGESTS, "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
        f.write("\n")
    print(machine_kind(), json.dumps(table[machine_kind()], indent=1))
