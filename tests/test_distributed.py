"""Two workers on 127.0.0.1 (--worker-hosts, collective all-reduce) train as one process with
two towers would: equal variables on both, only the chief writes, an exact resume, and a
worker that cannot reach the other stops in bounded time naming the address."""

import csv
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import gan_mlp
from gan import training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 10  # a run of 10, then a resume to 20
FLAGS = ["--batch-size", "16", "--precision", "fp32", "--log-every", "1", "--sample-every", "10",
         "--save-every", "5", "--seed", "1"]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_worker(hosts, task, data, out, dump, steps, env=None):
    args = [sys.executable, os.path.join(ROOT, "gan_mlp.py"), "--data-dir", data,
            "--checkpoint-dir", str(out / "c"), "--sample-dir", str(out / "s"),
            "--steps", str(steps), "--worker-hosts", hosts, "--task-index", str(task)] + FLAGS
    environment = {**os.environ, "GAN_DUMP_VARIABLES": str(dump), "GAN_STEP_TIMEOUT": "60",
                   "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.Popen(args, cwd=str(out.parent), env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(worker, timeout=240):
    try:
        out, err = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        out, err = worker.communicate()
    return worker.returncode, out, err


def two_workers(tmp_path, data, steps, extra=None):
    hosts = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    chief_dir, other_dir = tmp_path / "chief", tmp_path / "other"
    chief_dir.mkdir(exist_ok=True)
    workers = [start_worker(hosts, t, data, d, tmp_path / f"w{t}.npz", steps)
               for t, d in ((0, chief_dir), (1, other_dir))]
    extra = extra() if extra else None
    results = [finish(w) for w in workers]
    for rc, out, err in results:
        assert rc == 0, err[-3000:]
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
        rc, _, err = finish(start_worker(f"127.0.0.1:{port},{unreachable}", 0, tiny_mnist,
                                         tmp_path / "lonely", tmp_path / "lonely.npz", 4,
                                         env={"GAN_WORKER_TIMEOUT": "3"}), timeout=180)
        return rc, err, time.time() - began

    (chief, _), lonely = two_workers(tmp_path, tiny_mnist, STEPS, lonely_worker)
    rc, err, _ = lonely
    assert rc == 1
    assert f"cannot reach worker 1 at {unreachable} within 3 s" in err
    assert "Traceback" not in err
    assert "Traceback" not in chief[2]

    ckpt = tmp_path / "chief" / "c"
    assert (ckpt / "model.ckpt-10.index").exists() and (tmp_path / "chief" / "s" /
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
    one, two = weights(ref / "c" / "model.ckpt-20"), weights(ckpt / "model.ckpt-20")
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
                                        "--steps", "30"] + FLAGS) == 2


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
