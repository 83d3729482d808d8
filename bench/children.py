"""Child processes that stop with their parent, and temporary folders that go with it.

A bench script that runs the repository's scripts as children calls `raise_on_sigterm()` first
and runs each child with `run()`. Ctrl-C (KeyboardInterrupt) or SIGTERM (Terminated) in the
parent then stops the running child (SIGTERM, so a training script saves and exits; SIGKILL
after `grace` seconds) and goes on up through the `with tempfile.TemporaryDirectory()` blocks,
which remove their folders. Without this, SIGTERM ended the parent at once and its child went
on training, reparented to PID 1, beside a temporary folder nobody removed.
"""

import signal
import subprocess

GRACE_SECONDS = 60  # a training child finishes its step and saves in this time


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT."""

    def __init__(self, signum=signal.SIGTERM):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def raise_on_sigterm():
    def handler(signum, frame):
        raise Terminated(signum)
    signal.signal(signal.SIGTERM, handler)


def stop(child, grace=GRACE_SECONDS):
    """Ask child to stop (SIGTERM), wait up to grace seconds, then kill it; it is reaped."""
    try:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        child.wait(grace)
    except BaseException:  # the grace ran out, or a second Ctrl-C / SIGTERM: no more waiting
        child.kill()
        child.wait()


def run(command, grace=GRACE_SECONDS, **popen_kwargs):
    """The exit code of command, run to its end; on any exception in the parent (Ctrl-C,
    SIGTERM) the child is stopped before the exception goes on."""
    child = subprocess.Popen(command, **popen_kwargs)
    try:
        return child.wait()
    except BaseException:
        stop(child, grace)
        raise
