"""What a run writes for people to look at under --sample-dir: grids, GIF, loss log and plot.

Pixel convention, the same everywhere: uint8 [0, 255] on disk and in memory, float [-1, 1]
inside the graph (tanh output); `to_uint8` converts back.

A sample folder belongs to one run: `run.json` there holds the run id that config.json holds
beside the checkpoints. A run writes, truncates or deletes grids and logs only in a folder it
owns, so another run's samples or the user's own files are never touched. Grids, plots and
logs are best effort: a failure warns and never stops training or a checkpoint save.
"""

import csv
import fnmatch
import io
import json
import math
import os
import re

import numpy as np

from gan.errors import UsageError
from gan.files import atomic_write_bytes, create_new_file, why_write_failed
from utils import save_gif

RUN_MARKER = "run.json"
LOSS_CSV = "losses.csv"
LOSS_PNG = "losses.png"
TRAINING_GIF = "training.gif"
GRID_NAME = "step_{:06d}.png"
GRID_PATTERN = re.compile(r"step_(\d{6,})\.png")
TRAINING_OUTPUTS = ("step_*.png", TRAINING_GIF, LOSS_CSV, LOSS_PNG)
GENERATED_OUTPUTS = ("generated.png", "generated.npy", "generated_labels.npy", "walk.gif",
                     "walk.npy", "walk_digits.gif", "walk_digits.npy", "generated.json")
LOSS_COLUMNS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "images_per_sec",
                "mnist_score", "frechet", "digits_present")  # the last three with --eval-every


# ---------------------------------------------------------------------------------------------
# Which run a sample folder belongs to

def read_marker(sample_dir):
    """sample_dir's run.json as a dict, or None if there is none or it is not ours."""
    try:
        with open(os.path.join(sample_dir, RUN_MARKER)) as f:
            marker = json.load(f)
    except (OSError, ValueError, RecursionError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("run_id"), str) else None


def read_owner(sample_dir):
    """The run id in sample_dir's run.json, or None if there is none (or it is not ours)."""
    marker = read_marker(sample_dir)
    return marker["run_id"] if marker else None


def files_like(folder, patterns):
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if any(fnmatch.fnmatch(n, p) for p in patterns))


def claim_sample_dir(sample_dir, run_id, checkpoint_dir, adopt=False):
    """Make sample_dir this run's, or refuse: it holds another run's samples or the user's files.
    True if this call made the claim (run.json is new), False if the folder was already ours.

    Ownership is the run id in run.json, and only that: a folder claimed by a run stays that
    run's when its checkpoint folder is moved, renamed or loses a file, and another run is
    refused in one line that says how to hand it over. adopt: a run saved before runs had ids
    takes over its unmarked sample folder."""
    path = os.path.join(sample_dir, RUN_MARKER)
    marker = read_marker(sample_dir)
    if marker is None and os.path.lexists(path):
        raise UsageError(f"{path} is unreadable or not a file; delete it if no run uses "
                         f"{sample_dir}, or pass another --sample-dir")
    if marker is None:
        found = files_like(sample_dir, TRAINING_OUTPUTS)
        if found and not adopt:
            raise UsageError(f"--sample-dir {sample_dir} holds {found[0]} and other files this run "
                             f"did not write; pass another --sample-dir, or move them away")
        ours = {"run_id": run_id, "checkpoint_dir": os.path.abspath(checkpoint_dir)}
        # whole, and only if absent: of two runs claiming one new folder at once, one gets it
        if create_new_file(path, json.dumps(ours).encode()):
            return True
        return claim_sample_dir(sample_dir, run_id, checkpoint_dir)  # claimed this instant
    if marker["run_id"] == run_id:
        return False
    where = marker.get("checkpoint_dir")
    raise UsageError(f"--sample-dir {sample_dir} holds the samples of another run (run id "
                     f"{marker['run_id']}" + (f", started in {where}" if isinstance(where, str)
                                              else "") +
                     f"), not the one in {checkpoint_dir}; pass another --sample-dir, or delete "
                     f"{path} yourself to hand the folder to this run")


def release_claim(sample_dir, run_id):
    """Undo a claim this start just made (its config.json could not be written)."""
    path = os.path.join(sample_dir, RUN_MARKER)
    if read_owner(sample_dir) == run_id and not os.path.islink(path):
        os.remove(path)


GENERATED_MARKER = "generated.json"


def claim_generated_outputs(sample_dir):
    """--generate overwrites generated.* only in a folder a run of ours owns, where --generate
    wrote them before (generated.json), or where they are absent; then marks the folder."""
    found = files_like(sample_dir, GENERATED_OUTPUTS)
    ours = read_owner(sample_dir) is not None or os.path.exists(
        os.path.join(sample_dir, GENERATED_MARKER))
    if not found or ours:
        atomic_write_bytes(os.path.join(sample_dir, GENERATED_MARKER),
                           json.dumps({"written_by": "--generate"}).encode())
    if found and not ours:
        raise UsageError(f"--sample-dir {sample_dir} already holds {found[0]}, not written by "
                         f"this repository's scripts; pass another --sample-dir")


def best_effort(what, action, log=print):
    """Run action(); on failure warn in one line and go on (samples never stop training)."""
    try:
        action()
    except (OSError, ValueError, csv.Error) as e:
        log(f"warning: could not write {what} ({why_write_failed(e, what)}); training goes on")


# ---------------------------------------------------------------------------------------------
# Pictures: grids, PNG, GIF

def to_uint8(images):
    """Graph output in [-1, 1] -> uint8 [0, 255]."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def block_sizes(labels):
    """Lengths of the runs of equal consecutive labels (the row blocks of a grid)."""
    labels = list(labels)
    sizes = []
    for i, label in enumerate(labels):
        if i and label == labels[i - 1]:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


def png_bytes(image):
    import imageio.v2 as imageio
    buffer = io.BytesIO()
    imageio.imwrite(buffer, image, format="png")
    return buffer.getvalue()


def save_png(path, image):
    atomic_write_bytes(path, png_bytes(image))


def grid_steps(sample_dir):
    """Steps of the grids in sample_dir, oldest first."""
    if not os.path.isdir(sample_dir):
        return []
    return sorted(int(m.group(1)) for m in map(GRID_PATTERN.fullmatch, os.listdir(sample_dir)) if m)


def remove_grids_after(sample_dir, step):
    """On resume: the grids of steps the restored checkpoint has not reached are redrawn."""
    for grid_step in grid_steps(sample_dir):
        if grid_step > step:
            os.remove(os.path.join(sample_dir, GRID_NAME.format(grid_step)))


def write_training_gif(sample_dir):
    """GIF of every grid so far (it continues across resumes)."""
    save_gif(os.path.join(sample_dir, TRAINING_GIF),
             [os.path.join(sample_dir, GRID_NAME.format(s)) for s in grid_steps(sample_dir)])


# ---------------------------------------------------------------------------------------------
# The loss log: a CSV that resume truncates, and its plot

def read_loss_log(path):
    """The CSV's rows as dicts; rows cut short (a crash, a full disk) are left out."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, newline="") as f:
        try:
            for row in csv.DictReader(f):
                rows.append(row)
        except csv.Error:  # a damaged tail (an over-long field, say): keep what came before
            pass
    return [r for r in rows if isinstance(r.get("step"), str) and r["step"].isascii()
            and r["step"].isdigit() and is_number(r.get("g_loss"))]


def is_number(text):
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False


def truncate_loss_log(path, last_step):
    """Keep the rows up to last_step, so a resumed run neither duplicates nor skips rows."""
    rows = [r for r in read_loss_log(path) if int(r["step"]) <= last_step]
    if not rows and not os.path.lexists(path):
        return  # nothing to keep and nothing there: no empty table
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, LOSS_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def append_loss_rows(path, rows):
    """Add rows to the CSV by writing it whole again (temp file + rename): a full disk or a kill
    leaves the previous table, and a symlink there is replaced, never appended through."""
    old = b""
    if os.path.lexists(path) and not os.path.islink(path):
        with open(path, "rb") as f:
            old = f.read()
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, LOSS_COLUMNS, extrasaction="ignore")
    if not old:
        writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, old + buffer.getvalue().encode())


def smoothed(values, weight=0.9):
    """Exponential moving average with TensorBoard's debiasing (its smoothing slider)."""
    out, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight ** i))
    return out


FEW_POINTS = 30  # up to this many logged rows, the plot marks each one


def plot_losses(csv_path, png_path, title=""):
    """Two panels: the losses (raw faint, smoothed strong), and D's mean output on real and on
    generated images, D(x) and D(G(z)), the usual sign of a GAN's health."""
    rows = read_loss_log(csv_path)
    if not rows:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [int(r["step"]) for r in rows]
    fig, (losses, outputs) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    panels = ((losses, (("d_loss", "D loss"), ("g_loss", "G loss")), "loss"),
              (outputs, (("d_real", "D(x), real"), ("d_fake", "D(G(z)), generated")),
               "D's mean output"))
    for ax, curves, label in panels:
        for (column, name), colour in zip(curves, ("tab:blue", "tab:orange")):
            kept = [(s, float(r[column])) for s, r in zip(steps, rows) if is_number(r.get(column))]
            if not kept:
                continue
            x, y = zip(*kept)
            marker = "o" if len(x) <= FEW_POINTS else None  # a single point draws no line
            ax.plot(x, y, color=colour, alpha=0.25, linewidth=1, marker=marker)
            ax.plot(x, smoothed(y), color=colour, linewidth=2, label=name, marker=marker)
        ax.set_ylabel(label)
        if ax.lines:
            ax.legend(loc="best")
    outputs.set_xlabel("step")
    losses.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    atomic_write_bytes(png_path, buffer.getvalue())
