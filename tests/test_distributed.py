"""Two workers on 127.0.0.1 (--worker-hosts, collective all-reduce) train as one process with
two towers would: equal variables on both, only the chief writes, an exact resume, and a
worker that cannot reach the other stops in bounded time naming the address."""

import csv
import os
import socket
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

import gan_mlp
from gan import training
import forked_scripts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 5  # a run of 5, then a resume to 10, past the epoch's end at 8 (128 images, batch 16)
FLAGS = ["--batch-size", "16", "--precision", "fp32", "--log-every", "1", "--sample-every",
         "1000", "--save-every", "5", "--seed", "1"]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_worker(hosts, task, data, out, dump, steps, env=None):
    """gan_mlp.py as worker `task`, a process of its own (a fork of a server that has imported
    TensorFlow: forked_scripts), in out's parent folder; stdout and stderr into out.txt."""
    args = ["--data-dir", data, "--checkpoint-dir", out / "c", "--sample-dir", out / "s",
            "--steps", steps, "--worker-hosts", hosts, "--task-index", task] + FLAGS
    environment = {"GAN_DUMP_VARIABLES": str(dump), "GAN_STEP_TIMEOUT": "60", **(env or {})}
    return forked_scripts.start("gan_mlp.py", args, f"{out}-{task}-{steps}.txt", cwd=out.parent,
                                env=environment)


def finish(worker, timeout=240):
    """(exit code, its stdout and stderr together)."""
    try:
        worker.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    return worker.returncode, worker.read()


def two_workers(tmp_path, data, steps, extra=None):
    hosts = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    chief_dir, other_dir = tmp_path / "chief", tmp_path / "other"
    chief_dir.mkdir(exist_ok=True)
    workers = [start_worker(hosts, t, data, d, tmp_path / f"w{t}.npz", steps)
               for t, d in ((0, chief_dir), (1, other_dir))]
    extra = extra() if extra else None
    results = [finish(w) for w in workers]
    for rc, out in results:
        assert rc == 0, out[-3000:]
    dumps = [np.load(tmp_path / f"w{t}.npz") for t in (0, 1)]
    assert sorted(dumps[0].files) == sorted(dumps[1].files)
    for name in dumps[0].files:  # the same updates from the same values: bit for bit
        assert np.array_equal(dumps[0][name], dumps[1][name]), name
    assert not other_dir.exists(), "the worker that is not the chief wrote files"
    return results, extra


def weights(path):
    reader = tf.train.load_checkpoint(str(path))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def losses(path):
    with open(path) as f:
        return [(int(r["step"]), float(r["d_loss"]), float(r["g_loss"]), float(r["d_real"]))
                for r in csv.DictReader(f)]


def test_two_workers_train_as_one_process_with_two_towers(tmp_path, tiny_mnist):
    unreachable = f"127.0.0.1:{free_ports(1)[0]}"

    def lonely_worker():  # started while the pair trains: its server waits for nobody
        port = free_ports(1)[0]
        began = time.time()
        rc, out = finish(start_worker(f"127.0.0.1:{port},{unreachable}", 0, tiny_mnist,
                                         tmp_path / "lonely", tmp_path / "lonely.npz", 4,
                                         env={"GAN_WORKER_TIMEOUT": "3"}), timeout=180)
        return rc, out, time.time() - began

    (chief, _), lonely = two_workers(tmp_path, tiny_mnist, STEPS, lonely_worker)
    rc, out, _ = lonely  # bounded: finish() kills it after 180 s, and -9 is not 1
    assert rc == 1, out[-3000:]
    assert f"cannot reach worker 1 at {unreachable} within 3 s" in out
    assert "Traceback" not in out
    assert "Traceback" not in chief[1]

    ckpt = tmp_path / "chief" / "c"
    assert (ckpt / f"model.ckpt-{STEPS}.index").exists() and (tmp_path / "chief" / "s" /
                                                         "losses.csv").exists()
    # a resume continues from the chief's checkpoint, with the same worker count
    (chief, other), _ = two_workers(tmp_path, tiny_mnist, 2 * STEPS)
    assert f"resuming gan_mlp from step {STEPS}" in chief[1]
    assert f"starting from the chief's step {STEPS}" in other[1]

    # one process with two towers: each tower the part of the batch and noise a worker has
    ref = tmp_path / "reference"
    assert training.main(gan_mlp.SPEC, ["--data-dir", tiny_mnist, "--checkpoint-dir",
                                        str(ref / "c"), "--sample-dir", str(ref / "s"),
                                        "--steps", str(2 * STEPS), "--gpus", "2"] + FLAGS) == 0
    one, two = (weights(ref / "c" / f"model.ckpt-{2 * STEPS}"),
                weights(ckpt / f"model.ckpt-{2 * STEPS}"))
    assert set(one) == set(two)
    for name in one:  # towers update batch-norm moving statistics once per tower, workers
        if "moving_" not in name:  # once with their average: compare what training uses
            np.testing.assert_allclose(one[name], two[name], rtol=1e-4, atol=1e-5, err_msg=name)
    expected, got = losses(ref / "s" / "losses.csv"), losses(tmp_path / "chief" / "s" /
                                                              "losses.csv")
    assert [r[0] for r in got] == list(range(1, 2 * STEPS + 1))
    np.testing.assert_allclose(np.array(got)[:, 1:], np.array(expected)[:, 1:], rtol=1e-4,
                               atol=1e-5)

    # the saved run is resumed by two workers only
    assert training.main(gan_mlp.SPEC, ["--data-dir", tiny_mnist, "--checkpoint-dir", str(ckpt),
                                        "--sample-dir", str(tmp_path / "chief" / "s"),
                                        "--steps", str(3 * STEPS)] + FLAGS) == 2


@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "15"], "does not split evenly over 2 workers"),
    (["--minutes", "1"], "--minutes would stop each worker"),
    (["--task-index", "2"], "use 0 to 1 for 2 workers"),
])
def test_settings_several_workers_cannot_take(run_dirs, capsys, flags, message):
    args = run_dirs + ["--worker-hosts", "127.0.0.1:1,127.0.0.1:2", "--task-index", "0",
                       "--batch-size", "16"] + flags
    assert training.main(gan_mlp.SPEC, args) == 2
    assert message in capsys.readouterr().err


def test_task_index_needs_worker_hosts(run_dirs, capsys):
    assert training.main(gan_mlp.SPEC, run_dirs + ["--task-index", "1"]) == 2
    assert "--task-index needs --worker-hosts" in capsys.readouterr().err


def test_cluster_from_tf_config():
    from gan import distributed
    from gan.errors import UsageError
    spec = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    cluster = distributed.cluster_of({}, {"TF_CONFIG": spec})
    assert cluster.hosts == ("a:1", "b:2") and cluster.task == 1 and not cluster.chief
    assert distributed.cluster_of({"worker_hosts": "a:1"}, {}) is None  # one worker: one process
    with pytest.raises(UsageError, match="only 'worker' tasks"):
        distributed.cluster_of({}, {"TF_CONFIG": '{"cluster": {"ps": ["a:1"], "worker": ["b:2"]}}'})
    with pytest.raises(UsageError, match="is not host:port"):
        distributed.cluster_of({"worker_hosts": "a:1,b", "task_index": 0}, {})
