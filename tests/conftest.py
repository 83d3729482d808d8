"""Shared fixtures: a tiny MNIST written as real IDX files, and output folders in tmp_path."""

import gc
import gzip
import os

import numpy as np
import pytest

import utils


def write_tiny_mnist(folder, n=128, seed=0, n_test=None):
    """n 28x28 images of bright squares whose position depends on the label, as IDX .gz files:
    the training split, and its first n_test (all by default) as the test split."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        top, left = 4 + (label // 5) * 10, 2 + (label % 5) * 5
        images[i, top:top + 8, left:left + 5] = rng.integers(180, 256)
    for prefix, count in (("train", n), ("t10k", n_test or n)):
        for kind, array in (("images-idx3", images[:count]), ("labels-idx1", labels[:count])):
            with open(os.path.join(folder, f"{prefix}-{kind}-ubyte.gz"), "wb") as f:
                f.write(gzip.compress(utils.encode_idx(array)))
    return images, labels


@pytest.fixture
def tiny_mnist(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_tiny_mnist(str(folder))
    return str(folder)


@pytest.fixture
def run_dirs(tmp_path, tiny_mnist):
    """Flags that point a script at the tiny data and at temp output folders."""
    return ["--data-dir", tiny_mnist, "--sample-dir", str(tmp_path / "samples"),
            "--checkpoint-dir", str(tmp_path / "checkpoints")]


FAST = ["--batch-size", "16", "--sample-every", "2", "--save-every", "2", "--log-every", "1"]


def make_config(spec, flags, num_examples=32):
    """A frozen config for spec from flags, as main() makes it for a new run of num_examples."""
    from gan import config
    cfg, explicit = config.new_run(spec, flags)
    return config.fit_to_data(cfg, explicit, num_examples)


@pytest.fixture(scope="module", autouse=True)
def no_loss_plot(request):
    """In-process runs skip drawing losses.png (matplotlib, ~0.4 CPU-s a plot, 1.3 s the first)
    except in the modules that check it, which set LOSS_PLOT_UNDER_TEST = True
    (test_first_hour.py). Scripts run as processes or forks always draw it (test_dcgan.py reads
    the one dcgan.py's process drew), and test_grids.py calls outputs.plot_losses itself."""
    if getattr(request.module, "LOSS_PLOT_UNDER_TEST", False):
        yield
        return
    from gan import training
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "plot_losses", lambda *a, **k: None)
        yield


@pytest.fixture(scope="session", autouse=True)
def no_graph_rewrites():
    """In-process runs skip Grappler, TensorFlow's rewriting of each new graph at its first
    sess.run (0.5 to 1.5 CPU-s a graph here, a third of a tiny run), unless they ask for bf16
    or fp16, which are Grappler passes. The graph as users run it, rewritten, is what runs in
    each script's own process (script_processes.py: its console shows no E0000 line from the
    remapper), in the forks of forked_scripts.py (weight digests, kills, several workers), and
    in bench/."""
    from gan import graph
    rewritten = graph.session_config

    def without_rewrites(cfg):
        config = rewritten(cfg)
        rewrite = config.graph_options.rewrite_options
        if rewrite.ON not in (rewrite.auto_mixed_precision_onednn_bfloat16,
                              rewrite.auto_mixed_precision):
            rewrite.disable_meta_optimizer = True
        return config
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(graph, "session_config", without_rewrites)
        yield


GRAPH_CODE = ("gan.graph", "gan.layers", "gan.losses", "gan.distributed")
FRESH = {"graphs": False}  # True while a test marked fresh_graphs runs


@pytest.fixture(autouse=True)
def fresh_graphs(request):
    """@pytest.mark.fresh_graphs: every build of the test is a new graph, as in separate
    processes (for promises that span builds, such as an exact resume)."""
    FRESH["graphs"] = request.node.get_closest_marker("fresh_graphs") is not None
    yield
    FRESH["graphs"] = False


@pytest.fixture(scope="session", autouse=True)
def graphs_built_once():
    """In-process runs with the same settings share one graph: graph.build makes it the first
    time, and a later build for the same settings gets that graph, finalized, with a session
    of its own (so its own variables). Building a graph is Python's work, ~0.8 ms an op: 1 to 2
    CPU-s for a tiny run, and 86 of the suite's 139 in-process builds repeated an earlier one.
    "Same settings" is everything a build reads: the settings it looked up (recorded while the
    first one ran), the data's shape, the script (its fields' values too) and the code that
    builds: each name in gan.graph, gan.layers, gan.losses, gan.distributed and the script's
    modules, bound to the same object (kept alive here, so no other object can take its id)
    and, for a dict, list or set, with the same contents. A test that patches any of them gets
    a graph of its own. Not shared: several-worker graphs (they join a cluster), picture
    caches' (their rows come from one cache), and builds in a test marked fresh_graphs. That a
    graph built twice is the same graph is checked where it matters across processes: the
    weight digests (forks) and two fresh processes training the same weights."""
    import sys
    from gan import config, graph
    build = graph.build
    built = {}  # (shape, critic, script and code) -> [(settings read, model)]
    alive = []  # every object a key names by its id
    missing = object()

    def code_of(spec):
        names = set(GRAPH_CODE) | {spec.generator.__module__, spec.discriminator.__module__}
        objects = [spec] + [value for name in sorted(names)
                            for _, value in sorted(vars(sys.modules[name]).items())]
        return objects, tuple(
            (id(value), repr(value) if isinstance(value, (dict, list, set, type(spec))) else None)
            for value in objects)

    def settings(cfg, names):
        values = cfg.as_dict()
        return tuple((name, values.get(name, missing)) for name in names)

    def build_once(spec, cfg, data_shape=None, with_critic=False, read_rows=None):
        if FRESH["graphs"] or read_rows is not None or getattr(cfg, "workers", 1) != 1:
            return build(spec, cfg, data_shape, with_critic, read_rows)
        objects, code = code_of(spec)
        key = (tuple(data_shape or ()), with_critic, code)
        for read, model in built.get(key, ()):
            if settings(cfg, [name for name, _ in read]) == read:
                return model
        names = []
        look_up = config.RunConfig.__getattr__

        def recorded(self, name):
            names.append(name)
            return look_up(self, name)
        config.RunConfig.__getattr__ = recorded
        try:
            model = build(spec, cfg, data_shape, with_critic, read_rows)
        finally:
            config.RunConfig.__getattr__ = look_up
        alive.append(objects)
        built.setdefault(key, []).append((settings(cfg, sorted(set(names))), model))
        return model
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(graph, "build", build_once)
        yield


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """tiny_runs(name) -> a folder holding mnist/, c/ and s/ of a 2-step fp32 run of that script
    (batch 16, a checkpoint, grid and loss row at each step), trained in-process the first time a
    test asks, then shared by every test of the session, across pytest-xdist workers (a lock
    file in their common temp folder): a test never writes into it (see run_copy)."""
    import fcntl
    import cgan
    import dcgan
    import gan_mlp
    import lsgan
    from gan import training
    specs = {spec.name: spec for spec in (gan_mlp.SPEC, dcgan.SPEC, cgan.SPEC, lsgan.SPEC)}
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' popen-gw0, popen-gw1 lie side by side in it

    def folder_of(name):
        base = shared / f"tiny-run-{name}"
        with open(shared / f"tiny-run-{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits while one trains it
            if not (shared / f"tiny-run-{name}.done").exists():
                write_tiny_mnist(str(base / "mnist"))
                flags = ["--data-dir", base / "mnist", "--checkpoint-dir", base / "c",
                         "--sample-dir", base / "s", "--precision", "fp32", "--batch-size",
                         "16", "--steps", "2", "--log-every", "1", "--sample-every", "1",
                         "--save-every", "1"]
                assert training.main(specs[name], [str(f) for f in flags]) == 0
                (shared / f"tiny-run-{name}.done").write_text("")
        return base
    return folder_of


@pytest.fixture
def run_copy(tiny_runs, tmp_path):
    """run_copy(name) -> a private copy of tiny_runs(name) under tmp_path, for a test to change."""
    import shutil

    def copy(name):
        destination = tmp_path / f"copy-{name}"
        shutil.copytree(tiny_runs(name), destination, symlinks=True)
        return destination
    return copy


SHARED_PROCESSES = ("script_processes", "forked_scripts")  # helper modules that start processes
# The groups that take longest, longest first (seconds of one worker, measured on a 2-core AMD
# EPYC when the suite took 204 s: 115, 108, 35, 16, 15, 13, 11, 10; the two workers ended within
# 4 s of each other): handed out first, the short ones fill in after, and both workers end
# together. The other groups follow in collection order.
LONGEST_FIRST = ("script_processes", "forked_scripts", "test_guided_sampling", "test_evaluate",
                 "test_picture_cache", "test_grids", "test_pictures_hostile",
                 "test_sampling_hostile")


def pytest_configure(config):
    """xdist would hand out groups by their number of tests (`--loadscope-reorder`); they go out
    in the order pytest_collection_modifyitems below leaves them, longest first."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_finish(session):
    """Once the tests are collected, TensorFlow and the rest are imported: ~300,000 Python
    objects that every full garbage collection would scan again (graph building triggers many,
    ~6% of an in-process run's CPU). They are set apart from the collector (gc.freeze)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20000, 50, 100)  # and collections run less often (700, 10, 10 by default)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    """`make test` runs `-n 2 --dist loadgroup`: each test module goes to one pytest worker, so
    its module fixtures are made once; the modules that share a helper's processes (each
    script's one real run, the preloaded fork server) go to one worker together, so those
    processes start once, not once a worker."""
    for item in items:
        imported = {getattr(value, "__module__", None) or getattr(value, "__name__", None)
                    for value in vars(item.module).values()}  # from X import f, or import X
        shared = [name for name in SHARED_PROCESSES if name in imported]
        item.group = shared[0] if shared else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(item.group))
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.group, len(rank)))  # stable: order kept within
