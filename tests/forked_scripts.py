"""A script started as a real process of its own without paying TensorFlow's import again.

A multiprocessing fork server (one fresh Python per pytest worker, started on first use)
imports TensorFlow and the scripts once; it has built no graph, run no session and started no
TensorFlow thread. Each start() is a fork of it that runs the script as `python script.py
args` would: its `__main__` block (training.run: graph mode, sys.exit(main())), sys.argv, the
working folder and environment given, stdout and stderr into one file. Killing it, signalling
it, or two of them all-reducing over 127.0.0.1 is what it would be for a process a user
started; only the interpreter's start-up is shared (~8 CPU-seconds a process saved).

Where the start-up itself is under test (console lines, a fresh process restoring by tensor
name, weight digests of a first graph in a fresh process), tests start `sys.executable`.
"""

import atexit
import gc
import multiprocessing
import multiprocessing.forkserver
import os
import runpy
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRELOAD = ["gan.tf_quiet", "tensorflow", "gan.training", "dcgan", "gan_mlp",
           "matplotlib.pyplot"]  # a run draws losses.png at its end: ~1 CPU-s to import


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


@atexit.register
def _stop_server():
    """Stop the fork server and wait for it, as for any child (its CPU time, and that of the
    forks it reaped, then counts in this process's children's, where `time` looks)."""
    stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


def _main(script, args, cwd, env, output):
    """In the forked child: what `cd cwd; env ... python script args > output 2>&1` does. The
    objects it inherits (TensorFlow's modules) are set apart from the garbage collector, whose
    full collections would scan them again (as conftest does in the pytest workers)."""
    gc.freeze()
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = [script] + list(args)
    runpy.run_path(script, run_name="__main__")


class Script:
    """A Popen-like handle: pid, poll(), send_signal(), kill(), wait(), communicate()."""

    def __init__(self, name, args, output, cwd=ROOT, env=None):
        self.output = str(output)
        self.process = _context().Process(
            target=_main, args=(os.path.join(ROOT, name), [str(a) for a in args], str(cwd),
                                dict(env or {}), self.output))
        self.process.start()
        self.pid = self.process.pid

    @property
    def returncode(self):
        return self.process.exitcode  # -N when ended by signal N, as Popen's

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.process.kill()

    def wait(self, timeout=None):
        self.process.join(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.output, timeout)
        return self.returncode

    def read(self):
        with open(self.output, errors="replace") as f:
            return f.read()

    def communicate(self, timeout=None):
        """(stdout and stderr together, "") once it ended, as Popen with stderr=STDOUT."""
        self.wait(timeout)
        return self.read(), ""


def start(name, args, output, cwd=ROOT, env=None):
    """Run ROOT/name (dcgan.py, gan_mlp.py) with args in a fork of the server; output: a path."""
    return Script(name, args, output, cwd, env)
