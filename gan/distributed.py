"""Training on several machines, synchronously, with TensorFlow's collective runtime.

    python dcgan.py --worker-hosts a:2222,b:2222 --task-index 0   # on host a: the chief
    python dcgan.py --worker-hosts a:2222,b:2222 --task-index 1   # on host b

(or a TF_CONFIG in the environment instead of the two flags). Each worker is one replica:
it runs a `tf.distribute.Server`, builds the same graph as a single process, and takes its
contiguous part of each step's global batch: --batch-size / workers images of the epoch's
order, and its own noise, the same rows of the step's noise draw (seeded by --seed and the
step; the task index picks the rows). So n workers train as one process with n towers of
--gpus would, which tests/test_distributed.py checks. D's and G's gradients are averaged across workers by collective
all-reduce (the CollectiveReduce ops that MultiWorkerMirroredStrategy runs, whose session
settings, collective group leader and device filters, come from the strategy), in the same
D-then-G order; batch-norm moving statistics are averaged too, so every worker holds the
same variables after every step.

Worker 0 is the chief: it alone restores, saves and writes samples, the loss log and
TensorBoard. The others get a throwaway folder, removed at exit, and start from the chief's
values by an all-reduce in which only the chief contributes (no shared file system). Before
that, every worker compares its settings and data with the others' (min = max of each).

Nothing hangs: a worker that cannot reach another says which address and stops after
GAN_WORKER_TIMEOUT seconds (60); a step that gets no answer for GAN_STEP_TIMEOUT seconds
(600: the chief may be saving or scoring meanwhile) stops the worker with one line, and a
restart of all workers resumes from the chief's newest checkpoint.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

from gan import tf_quiet  # noqa: F401  (before TensorFlow)
import numpy as np
import tensorflow as tf
from tensorflow.python.ops import collective_ops

from gan.errors import UsageError, UserError

v1 = tf.compat.v1
CONNECT_TIMEOUT_ENV = "GAN_WORKER_TIMEOUT"  # seconds to reach the other workers
STEP_TIMEOUT_ENV = "GAN_STEP_TIMEOUT"  # seconds a step may wait for the other workers
DUMP_ENV = "GAN_DUMP_VARIABLES"  # a .npz path: each worker writes its variables at the end
GROUP_KEY = 1
SETTINGS = ("model", "z_dim", "dataset", "image_size", "channels", "ema", "batch_size", "seed",
            "learning_rate", "beta1", "beta1_d", "d_learning_rate", "r1", "loss", "recipe", "steps",
            "steps_per_epoch", "log_every", "precision", "gpus", "workers", "base_channels")


class WorkerLost(UserError):
    """Another worker stopped answering (killed, stopped, network down)."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    hosts: tuple
    task: int

    @property
    def workers(self):
        return len(self.hosts)

    @property
    def chief(self):
        return self.task == 0

    def tf_config(self):
        return {"cluster": {"worker": list(self.hosts)}, "task": {"type": "worker",
                                                                  "index": self.task}}


def seconds(name, default):
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise UsageError(f"{name}={text}: use a positive number of seconds")
    return value


def check_address(address, where):
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{where}: {address!r} is not host:port")
    return address


def cluster_of(flags, environ=os.environ):
    """The Cluster from --worker-hosts/--task-index or TF_CONFIG, or None for one process."""
    hosts_text, task = flags.get("worker_hosts"), flags.get("task_index")
    if hosts_text is None and task is not None:
        raise UsageError("--task-index needs --worker-hosts (or a TF_CONFIG without either flag)")
    if hosts_text is not None:
        hosts = tuple(check_address(h.strip(), "--worker-hosts") for h in hosts_text.split(","))
        if len(set(hosts)) != len(hosts):
            raise UsageError(f"--worker-hosts {hosts_text} names an address twice")
        if len(hosts) > 1 and task is None:
            raise UsageError(f"--worker-hosts names {len(hosts)} workers; say which one this is "
                             f"with --task-index 0 to {len(hosts) - 1}")
        task = task or 0
    elif environ.get("TF_CONFIG"):
        try:
            spec = json.loads(environ["TF_CONFIG"])
            jobs, me = spec.get("cluster", {}), spec.get("task", {})
            hosts = tuple(check_address(h, "TF_CONFIG's cluster.worker")
                          for h in jobs.get("worker", []))
            kind, task = me.get("type", "worker"), int(me.get("index", 0))
        except (ValueError, AttributeError, TypeError):
            raise UsageError('TF_CONFIG is not JSON like {"cluster": {"worker": ["host:port", '
                             '...]}, "task": {"type": "worker", "index": 0}}')
        others = sorted(set(jobs) - {"worker"})
        if others or kind != "worker":
            raise UsageError(f"TF_CONFIG: only 'worker' tasks are supported (worker 0 is the "
                             f"chief), not {(others or [kind])[0]!r}")
        if not hosts:
            raise UsageError("TF_CONFIG names no worker in cluster.worker")
    else:
        return None
    if not 0 <= task < len(hosts):
        raise UsageError(f"--task-index {task}: use 0 to {len(hosts) - 1} for {len(hosts)} workers")
    return None if len(hosts) == 1 else Cluster(hosts, task)


def check_config(cfg):
    """The settings that several workers cannot take, one line each."""
    if cfg.batch_size % cfg.workers:
        raise UsageError(f"--batch-size {cfg.batch_size} does not split evenly over "
                         f"{cfg.workers} workers; use a multiple of {cfg.workers}")
    if cfg.minutes is not None:
        raise UsageError("--minutes would stop each worker at its own time; with several workers "
                         "use --steps (or stop the chief with Ctrl-C)")
    if cfg.gpus > 1:
        raise UsageError("--gpus and --worker-hosts do not combine yet: run one worker per GPU")


def check_resume(folder, workers):
    """A saved run is resumed only by as many workers as trained it (exact resume)."""
    from gan.checkpoints import checkpoint_steps, read_config
    saved = read_config(folder)
    if not isinstance(saved, dict) or not checkpoint_steps(folder):
        return
    before = saved.get("workers", 1)
    if isinstance(before, bool) or not isinstance(before, int) or before < 1:
        raise UsageError(f"{os.path.join(folder, 'config.json')} says workers: "
                         f"{json.dumps(before)}, not a count; fix or delete that entry")
    if before != workers:
        raise UsageError(f"{folder} was trained by {before} worker(s), not {workers}; a resume "
                         f"is exact only with the same count: start {before}, or use another "
                         f"--checkpoint-dir")


# ---------------------------------------------------------------------------------------------
# The process: server, watchdog, throwaway folder

class Runtime:
    """What a worker process holds: its cluster, server, watchdog and throwaway folder."""

    def __init__(self, cluster, prog):
        self.cluster, self.prog = cluster, prog
        self.connect_timeout = seconds(CONNECT_TIMEOUT_ENV, 60.0)
        self.step_timeout = seconds(STEP_TIMEOUT_ENV, 600.0)
        self.scratch = None if cluster.chief else tempfile.mkdtemp(prefix="gan-worker-")
        self.server = None
        self.strategy = None
        self.deadline, self.message = None, None
        self.lock = threading.Lock()
        threading.Thread(target=self.watch, daemon=True).start()

    # The watchdog: a sess.run (or a connection) that outlives its deadline ends the process.
    def arm(self, seconds_, message):
        with self.lock:
            self.deadline, self.message = time.time() + seconds_, message

    def disarm(self):
        with self.lock:
            self.deadline = None

    def watch(self):
        while True:
            time.sleep(0.2)
            with self.lock:
                expired = self.deadline is not None and time.time() > self.deadline
                message = self.message
            if expired:
                print(f"{self.prog}: error: {message}", file=sys.stderr, flush=True)
                self.remove_scratch()
                os._exit(1)

    def log_without_scratch(self, log):
        """A log that names the throwaway folder as what it is, not as this run's outputs."""
        if not self.scratch:
            return log
        return lambda message: log(message.replace(
            self.scratch, f"(worker {self.cluster.task}'s throwaway folder: the chief keeps all)"))

    def remove_scratch(self):
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def start(self):
        """TF_CONFIG, the strategy (its session settings), this worker's server; then wait,
        bounded, until every other worker's server accepts connections."""
        me = self.cluster.hosts[self.cluster.task]
        before = os.environ.get("TF_CONFIG")
        os.environ["TF_CONFIG"] = json.dumps(self.cluster.tf_config())
        try:
            self.strategy = v1.distribute.experimental.MultiWorkerMirroredStrategy()
        except (ValueError, RuntimeError, tf.errors.OpError):
            self.strategy = None  # its settings are set by hand (session_config)
        finally:
            if before is None:
                del os.environ["TF_CONFIG"]
            else:
                os.environ["TF_CONFIG"] = before
        try:
            self.server = tf.distribute.Server(
                tf.train.ClusterSpec({"worker": list(self.cluster.hosts)}), job_name="worker",
                task_index=self.cluster.task, protocol="grpc", start=True,
                config=self.session_config(v1.ConfigProto()))  # the server's collective leader
        except (tf.errors.OpError, ValueError, RuntimeError) as e:
            reason = (getattr(e, "message", None) or str(e)).splitlines()[0][:160]
            raise UsageError(f"worker {self.cluster.task} cannot serve at {me} ({reason}); "
                             f"is the port free on this host?")
        deadline = time.time() + self.connect_timeout
        for index, address in enumerate(self.cluster.hosts):
            if index == self.cluster.task:
                continue
            host, port = address.rsplit(":", 1)
            while True:
                try:
                    socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
                    break
                except OSError:
                    if time.time() >= deadline:
                        raise WorkerLost(
                            f"worker {self.cluster.task} cannot reach worker {index} at "
                            f"{address} within {self.connect_timeout:g} s; start every worker "
                            f"(or fix the address, port or firewall) and run again")
                    time.sleep(0.5)

    def session_config(self, config):
        if self.strategy is not None:
            config = self.strategy.update_config_proto(config)
        # the strategy's scoped-allocator rewrite renames the CollectiveReduce nodes that we
        # fetch directly (NotFoundError "FetchOutputs node ... not found")
        rewrite = config.graph_options.rewrite_options
        rewrite.scoped_allocator_optimization = rewrite.OFF
        del rewrite.scoped_allocator_opts.enable_op[:]
        config.experimental.collective_group_leader = "/job:worker/replica:0/task:0"
        del config.device_filters[:]
        config.device_filters.append(f"/job:worker/task:{self.cluster.task}")
        return config


RUNTIME = None  # the Runtime of this process, when it is one of several workers


def prepare(flags, prog):
    """Before the config is frozen: the worker count and index into flags, and a worker that
    is not the chief gets a throwaway folder for both output flags. Returns the Cluster."""
    global RUNTIME
    cluster = cluster_of(flags)
    flags["workers"], flags["task_index"] = (cluster.workers, cluster.task) if cluster else (1, 0)
    if cluster is not None:
        RUNTIME = Runtime(cluster, prog)
        if not cluster.chief:
            flags["checkpoint_dir"] = os.path.join(RUNTIME.scratch, "checkpoints")
            flags["sample_dir"] = os.path.join(RUNTIME.scratch, "samples")
    return cluster


def connect(cfg):
    """Once the config is checked: this worker's server up and the others reachable."""
    check_config(cfg)
    RUNTIME.start()


def stop():
    global RUNTIME
    if RUNTIME is not None:
        RUNTIME.disarm()
        RUNTIME.remove_scratch()
    RUNTIME = None


# ---------------------------------------------------------------------------------------------
# Graph: the worker's part of the batch, and averages over workers

class Replica:
    """While a graph for several workers is built: who this worker is, and the next key."""

    def __init__(self, task, workers, timeout):
        self.task, self.workers, self.timeout = task, workers, timeout
        self.next_key = 1

    def all_reduce(self, tensor, merge="Add", final="Div"):
        key, self.next_key = self.next_key, self.next_key + 1
        return collective_ops.all_reduce(tensor, self.workers, GROUP_KEY, key, merge_op=merge,
                                         final_op=final, timeout=self.timeout)


BUILDING = None  # the Replica while a several-worker graph is being built


@contextlib.contextmanager
def replica(cfg):
    """Builds within it are one replica of cfg.workers (no change for one worker)."""
    global BUILDING
    workers = getattr(cfg, "workers", 1)
    if workers == 1:
        yield
        return
    timeout = RUNTIME.step_timeout if RUNTIME else seconds(STEP_TIMEOUT_ENV, 600.0)
    BUILDING = Replica(cfg.task_index, workers, timeout)
    try:
        yield
    finally:
        BUILDING = None


def local_part(tensor, rows):
    """This worker's contiguous part of a global batch's `rows` rows (the tensor itself for
    one worker)."""
    if BUILDING is None:
        return tensor
    size = rows // BUILDING.workers
    return tensor[BUILDING.task * size:(BUILDING.task + 1) * size]


def mean_over_workers(tensors):
    """The tensors averaged over the workers, in one all-reduce (the same list for one)."""
    if BUILDING is None:
        return tensors
    present = [t for t in tensors if t is not None]  # tf.gradients' None: no gradient
    flat = tf.concat([tf.reshape(t, [-1]) for t in present], 0)
    parts = iter(tf.split(BUILDING.all_reduce(flat), [t.shape.num_elements() for t in present]))
    return [None if t is None else tf.reshape(next(parts), t.shape) for t in tensors]


def mean_statistic(value):
    """A batch statistic averaged over the workers, so their moving averages stay equal."""
    return value if BUILDING is None else mean_over_workers([value])[0]


@dataclasses.dataclass(frozen=True)
class SyncOps:
    lowest: tf.Tensor  # each setting's fingerprint, smallest over the workers
    highest: tf.Tensor
    names: tuple
    broadcast: tf.Operation  # every saved variable := the chief's value
    global_step: tf.Tensor


def reason_of(error):
    """The line of a TensorFlow error that says what happened (not 'Graph execution error:')."""
    lines = [line.strip() for line in (getattr(error, "message", None) or str(error)).splitlines()]
    useful = [line for line in lines if line and not line.startswith(
        ("Graph execution error", "Detected at", "File ", "[[", "Node:"))]
    return (useful[0] if useful else type(error).__name__)[:160]


def fingerprint(value):
    return float(int(hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode())
                     .hexdigest()[:12], 16))


def build_sync(spec, cfg, variables, data_shape):
    """Inside a several-worker graph: the settings check and the broadcast from the chief."""
    if BUILDING is None:
        return None
    values = cfg.as_dict()
    names = tuple(n for n in SETTINGS if n in values) + ("g_steps", "data") + spec.arch_flags
    table = {**values, "g_steps": spec.g_steps, "data": list(data_shape)}
    prints = tf.constant([fingerprint(table.get(n)) for n in names], tf.float64)
    lowest = BUILDING.all_reduce(prints, "Min", "Id")
    highest = BUILDING.all_reduce(prints, "Max", "Id")
    assigns = []
    for variable in variables:
        mine = variable.read_value()
        if mine.dtype == tf.bool:
            mine = tf.cast(mine, tf.int32)
        contribution = mine if BUILDING.task == 0 else tf.zeros_like(mine)
        chiefs = BUILDING.all_reduce(contribution, "Add", "Id")
        assigns.append(variable.assign(tf.cast(chiefs, variable.dtype)))
    with tf.control_dependencies(assigns):
        step = tf.identity(v1.train.get_global_step())
    return SyncOps(lowest, highest, names, tf.group(assigns), step)


# ---------------------------------------------------------------------------------------------
# Session

class WatchedSession(v1.Session):
    """A session on this worker's server whose every run is bounded by the watchdog, and whose
    errors (a peer gone, a collective timed out) are one line."""

    def __init__(self, graph, config, runtime):
        super().__init__(target=runtime.server.target, graph=graph,
                         config=runtime.session_config(config))
        self.runtime = runtime
        self.timeout = runtime.step_timeout
        self.message = (f"no answer from the other workers for {self.timeout:g} s (one stopped, "
                        f"or the network failed); run every worker again to resume from the "
                        f"chief's newest checkpoint")

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        self.runtime.arm(self.timeout + 15, self.message)
        try:
            return super().run(fetches, feed_dict, options, run_metadata)
        except tf.errors.OpError as e:
            reason = reason_of(e)
            raise WorkerLost(f"worker {self.runtime.cluster.task} lost the other workers "
                             f"({type(e).__name__}: {reason}); run every worker again to resume "
                             f"from the chief's newest checkpoint")
        finally:
            self.runtime.disarm()


def session(graph, config):
    return WatchedSession(graph, config, RUNTIME)


def synchronise(sess, model, cfg, step, log=print):
    """After the chief's restore: check that all workers agree, then give them the chief's
    variables. Returns the step to continue from (None for a new run)."""
    if model.sync is None:
        return step
    ops, runtime = model.sync, RUNTIME
    chief = runtime.cluster.hosts[0]
    runtime.arm(runtime.connect_timeout,
                f"worker {runtime.cluster.task} got no answer from the other workers (the chief "
                f"is {chief}) within {runtime.connect_timeout:g} s; start every worker with the "
                f"same --worker-hosts and run again")
    try:
        lowest, highest = v1.Session.run(sess, [ops.lowest, ops.highest])
        differ = [n for n, a, b in zip(ops.names, lowest, highest) if a != b]
        if differ:
            raise UsageError(f"the workers' settings differ in {differ[0]} (flags, saved "
                             f"config.json or data); start every worker with the chief's flags "
                             f"and the same data")
        _, restored = v1.Session.run(sess, [ops.broadcast, ops.global_step])
    except tf.errors.OpError as e:
        reason = reason_of(e)
        raise WorkerLost(f"worker {runtime.cluster.task} could not synchronise with the others "
                         f"(chief {chief}): {reason}")
    finally:
        runtime.disarm()
    if not runtime.cluster.chief:
        log(f"worker {runtime.cluster.task} of {runtime.cluster.workers}: starting from the "
            f"chief's step {int(restored)}")
    return int(restored) or step


def dump_variables(sess, model):
    """Under GAN_DUMP_VARIABLES=path.npz (tests): this process's saved variables at the end."""
    path = os.environ.get(DUMP_ENV)
    if not path:
        return
    with model.graph.as_default():
        variables = v1.global_variables()
    values = sess.run(variables)
    np.savez(path, **{v.op.name.replace("/", "|"): value for v, value in zip(variables, values)})
