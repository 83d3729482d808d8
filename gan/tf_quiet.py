"""Import TensorFlow without its C++ start-up lines; import this before anything imports TF.

TensorFlow prints about nine lines on import (oneDNN, CUDA drivers, CPU features), some of them
twice and one as `E0000 ... cuInit` on a machine without a GPU: a newcomer reads them as broken.
They are written before TF's own log filter is set up, so TF_CPP_MIN_LOG_LEVEL alone does not
hide them; the import runs with the process's stderr pointed at /dev/null instead. Set
TF_CPP_MIN_LOG_LEVEL yourself (e.g. `TF_CPP_MIN_LOG_LEVEL=0 python dcgan.py`) to see them all.
"""

import os
import signal
import sys


def interrupted_while_loading(signum, frame):
    """Ctrl-C while TensorFlow loads: nothing has started, so stop without a traceback."""
    sys.stderr.write(f"{os.path.basename(sys.argv[0]) or 'python'}: interrupted; nothing was "
                     f"saved\n")
    os._exit(130)


previous_handler = signal.signal(signal.SIGINT, interrupted_while_loading)
# The level is the user's when they set it; ours (marked) is passed on to child processes.
ours = "TF_CPP_MIN_LOG_LEVEL" not in os.environ or os.environ.get("TF_QUIET_SET_IT") == "1"
if "tensorflow" not in sys.modules and ours:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # later C++ info and warning lines too
    os.environ["TF_QUIET_SET_IT"] = "1"
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
        tensorflow.config.list_physical_devices("GPU")  # the cuInit line comes at the first look
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)

import tensorflow as tf  # noqa: E402  (already loaded above; here for the logger)

tf.get_logger().setLevel("ERROR")  # the compat.v1 APIs print deprecation notices we have read
signal.signal(signal.SIGINT, previous_handler)
