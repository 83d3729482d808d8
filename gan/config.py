"""A run's configuration: flags parsed, the saved config.json merged in, validated once, frozen.

    flags, explicit, cli = parse(spec, argv)
    values = merge_saved(spec, flags, explicit, read_saved(cli, folder))  # disk's architecture
    cfg = freeze(spec, values, explicit)          # checks, device, recipe changes; frozen
    cfg = fit_to_data(cfg, explicit, num_examples)  # steps per epoch, steps, `epoch` intervals

Every value read back from config.json is checked by the same flag types as the command line
(wrong type, out of range, unknown choice: a one-line error naming the entry), and a saved model
name is compared with the script's own, never used to choose code. Derived values (device, the
recipe's graph changes, steps per epoch, steps from --epochs, intervals given as `epoch`) are
computed in `freeze` and `fit_to_data` and nowhere else; nothing writes to a RunConfig afterwards.
"""

import argparse
import json
import os
import sys
import uuid

from gan import tf_quiet  # noqa: F401  (before TensorFlow)
import tensorflow as tf

from gan.checkpoints import read_config
from gan.data import resolve_kind
from gan.errors import UsageError
from gan.files import same_or_inside
from gan.flags import (CommandLine, bounded_int, digit_list, interval, non_negative_float,
                       positive_float, positive_int, recipe_type, unit_interval)
from gan import machine

DATA_DIR_DEFAULT = "MNIST_data"
MAX_IMAGES = 100_000  # --num-images: 10x the evaluation set; a million is gigabytes of PNG
MAX_SEED = 2 ** 31 - 1
SHAPE_RATE_DEFAULT = 1e-3  # --shape-rate: 1e-2 hurt gan_mlp and dcgan; 3e-2, 1e-1 gave NaNs
MAX_WIDTH = 100_000  # z size, channels, batch: past this a graph would not fit in memory anyway
COMMON_ARCH_FLAGS = ("z_dim", "dataset", "image_size", "channels", "ema")
# the optimizer's settings: a resume trains on as the run did (or as typed); a run whose
# folder holds no checkpoint yet starts from the command line's (training.main)
OPTIMIZER_FLAGS = ("learning_rate", "d_learning_rate", "beta1", "beta1_d", "r1")
# from the saved run unless typed; no conflict
RESUMED_FLAGS = ("data_dir", "precision", "cache_dir") + OPTIMIZER_FLAGS
# Their value in runs saved before these flags existed, or before their default changed.
FLAGS_ADDED_LATER = {"ema": 0.0, "recipe": "article", "precision": "fp32", "base_channels": 64}
NOT_SAVED = ("fresh", "generate", "digit", "code", "code_grid", "num_images", "walk", "walk_frames", "walk_digits",
             "export_generator", "refine", "refine_rate", "refine_layer", "reject",
             "reject_percentile", "shape_steps", "shape_rate", "help", "worker_hosts",
             "task_index")


# ---------------------------------------------------------------------------------------------
# The command line: every flag and its default, once; what a user needs first, research last

def build_parser(spec):
    """The script's CommandLine (flags.py): argparse for parsing and --help, and the table of
    each flag's default and type."""
    doc = (sys.modules[spec.generator.__module__].__doc__ or "").split("\n")[0]
    cli = CommandLine(f"{spec.name}.py", doc, overrides=spec.defaults)
    by_epochs = cli.overrides.get("epochs") is not None
    run = cli.group("run")
    cli.add(run, "--steps", 20000, type=positive_int,
            shown="--epochs' count" if by_epochs else None,
            help="total training steps; a resumed run continues up to this count")
    cli.add(run, "--epochs", None, type=positive_int,
            help="passes over the data; counts instead of --steps unless --steps is typed")
    cli.add(run, "--minutes", None, type=positive_float,
            help="stop cleanly (grid, GIF, checkpoint) after this many minutes, or at --steps")
    cli.add(run, "--batch-size", 64, type=bounded_int(1, MAX_WIDTH), help="images per step")
    cli.add(run, "--data-dir", DATA_DIR_DEFAULT,
            help="MNIST's IDX files (fetched if absent)"
                 + (", or a folder of your pictures" if spec.picture_sizes else ""))
    cli.add(run, "--checkpoint-dir", None, shown=f"checkpoints/{spec.name}",
            help="where checkpoints and config.json go; a run there is resumed")
    if spec.picture_sizes:
        cli.add(run, "--cache-dir", None, shown="--checkpoint-dir's picture_cache/",
                help="where a picture folder is decoded once and read from (folder only)")
    cli.add(run, "--sample-dir", None,
            shown="the checkpoint folder's own: checkpoints/X -> samples/X, any other folder "
                  "F -> F/samples (a resumed run keeps the one it has)",
            help="where grids, the GIF, the loss log and --generate's files go")
    cli.add(run, "--sample-every", 500, type=interval,
            help="steps between sample grids, or 'epoch'")
    cli.add(run, "--save-every", 1000, type=interval,
            help="steps between checkpoints, or 'epoch'")
    cli.add(run, "--eval-every", None, type=interval,
            help="steps between quality scores (evaluate.py's) in the loss log; MNIST only")
    cli.add(run, "--device", None, shown="/gpu:0 if TensorFlow sees a GPU, else /cpu:0",
            help="where the graph runs (tf.device)")
    cli.add(run, "--precision", "auto", choices=("fp32", "bf16", "fp16", "auto"),
            help="auto: bf16 where oneDNN runs it on AMX or AVX512-BF16 (ONEDNN_MAX_CPU_ISA and "
                 "TF_ENABLE_ONEDNN_OPTS=0 can rule it out), else fp32; printed, saved and kept "
                 "on resume")
    cli.add(run, "--seed", 0, type=bounded_int(0, MAX_SEED),
            help="fixes initial weights, data order and noise; with --generate it picks the "
                 "images: the same seed gives the same images, another seed others")
    cli.add(run, "--fresh", False, action="store_true",
            help="delete this run's checkpoints and samples and start over")

    model = cli.group("model")
    cli.add(model, "--z-dim", 100, type=bounded_int(1, MAX_WIDTH), help="noise size")
    cli.add(model, "--learning-rate", 2e-4, type=positive_float,
            help="Adam's, for G (and D, unless --d-learning-rate)")
    cli.add(model, "--beta1", 0.5, type=unit_interval(), help="Adam's beta1 (D's too, unless "
                                                               "--beta1-d)")
    cli.add(model, "--ema", 0.0, type=unit_interval("use 0 (off) or a decay below 1, e.g. 0.999"),
            help="decay of a moving average of G's weights that grids, --generate and "
                 "evaluate.py draw with; 0: off")
    cli.add(model, "--loss", "gan", choices=sorted(spec.losses),
            help="gan: sigmoid cross-entropy; lsgan: least squares" if len(spec.losses) > 1
            else argparse.SUPPRESS)  # one choice: nothing to show
    if spec.recipes:
        cli.add(model, "--recipe", None, type=recipe_type(spec.recipes, spec.recipe_changes),
                help="; ".join(f"{name}: " + (", ".join(changes) or "the article's exact graph")
                               for name, changes in spec.recipes.items())
                     + "; or a comma list of the changes listed under 'advanced'")
    if spec.picture_sizes:
        cli.add(model, "--dataset", "auto", choices=("auto", "mnist", "folder"),
                help="auto: MNIST when --data-dir is the default or holds its IDX files, else "
                     "the pictures under --data-dir")
        cli.add(model, "--image-size", 64, type=positive_int,
                help="pictures are resized and center-cropped to this (folder only)")
        cli.add(model, "--channels", 3, type=int, choices=(1, 3),
                help="3: RGB, 1: grayscale (folder only)")
    if spec.add_arguments:
        spec.add_arguments(cli, model)

    generate = cli.group("generate")
    cli.add(generate, "--generate", False, action="store_true",
            help="restore the newest checkpoint and write a near-square grid of new images "
                 "(generated.png, .npy) into the run's sample folder; --seed picks them")
    cli.add(generate, "--num-images", 64, type=bounded_int(1, MAX_IMAGES),
            help="images --generate writes")
    if spec.conditional:
        cli.add(generate, "--digit", None, type=digit_list,
                help="only these digits, e.g. 7 or 1,3,5; one block of rows per digit")
    if "code" in (spec.recipe_changes or {}):
        cli.add(generate, "--code", None, type=digit_list, metavar="K",
                help="hold InfoGAN's categorical code (the argmax of z's last 10 entries) at K, "
                     "or at each of K1,K2,... (one block of rows each); runs whose recipe has "
                     "the `code` change only")
        cli.add(generate, "--code-grid", False, action="store_true",
                help="one row per code value 0-9 (or per --code value), each column one noise "
                     "held across the rows, as InfoGAN's figure; --num-images is spread over "
                     "the rows, rounded up to whole columns")
    cli.add(generate, "--walk", False, action="store_true",
            help="also walk.gif (and walk.npy): each image moves smoothly from its z to another "
                 "and back")
    if spec.conditional:
        cli.add(generate, "--walk-digits", False, action="store_true",
                help="also walk_digits.gif (and .npy): each style stays while its digit "
                     "morphs 0 -> 9")
    advanced = cli.group(
        "advanced", "schedules, devices and research knobs"
        + ("; --recipe's single changes: " + "; ".join(f"{k}: {v}" for k, v in
                                                     spec.recipe_changes.items())
           if spec.recipe_changes else ""))
    add_guided_sampling_arguments(cli, generate, advanced)
    cli.add(advanced, "--walk-frames", 32, type=bounded_int(2, 1000),
            help="frames of --walk, its two end points included")
    cli.add(advanced, "--export-generator", None, metavar="DIR",
            help="with --generate: also write G's sampling weights alone (the average under "
                 "--ema) and config.json to DIR, a small folder --generate reads")
    cli.add(advanced, "--log-every", 50, type=interval,
            help="steps between loss fetches (progress bar, CSV, TensorBoard), or 'epoch'")
    cli.add(advanced, "--keep", 3, type=positive_int, help="checkpoints kept")
    cli.add(advanced, "--beta1-d", None, type=unit_interval(), shown="--beta1",
            help="Adam's beta1 for D")
    cli.add(advanced, "--d-learning-rate", None, type=positive_float, shown="--learning-rate",
            help="Adam's learning rate for D; one other than G's is the two time-scale update "
                 "rule (TTUR, Heusel et al. 2017)")
    cli.add(advanced, "--r1", 0.0, type=non_negative_float, metavar="GAMMA",
            help="R1 penalty (Mescheder et al. 2018): D's loss gains GAMMA/2 times the batch's "
                 "mean squared norm of the gradient of D's raw score on real images, with "
                 "respect to those images; 0: off")
    cli.add(advanced, "--gpus", 1, type=positive_int,
            help="data-parallel towers, one per GPU, gradients averaged (TF1 style)")
    cli.add(advanced, "--xla", False, action="store_true", help="XLA global JIT (v1 ConfigProto)")
    cli.add(advanced, "--worker-hosts", None, metavar="HOST:PORT,...",
            help="train on several machines, synchronously (TensorFlow's collective all-reduce): "
                 "every worker's address, the chief (which alone writes) first; or TF_CONFIG")
    cli.add(advanced, "--task-index", None, type=bounded_int(0),
            help="with --worker-hosts: which of those addresses this worker is")
    return cli


def add_guided_sampling_arguments(cli, group, advanced):
    """--refine and --reject (group) and their knobs (advanced): sampling with the run's own
    D (guided_sampling.py); shared by --generate and evaluate.py."""
    cli.add(group, "--refine", 0, type=bounded_int(0, 1000), metavar="STEPS",
            help="move each sample this many gradient steps towards what D calls real (0: off)")
    cli.add(group, "--reject", False, action="store_true",
            help="keep samples by D's calibrated acceptance probability (discriminator "
                 "rejection sampling); prints the acceptance rate")
    cli.add(advanced, "--refine-rate", 0.3, type=positive_float, help="step size of --refine")
    cli.add(advanced, "--refine-layer", 0, type=int,
            help="which hidden layer of G --refine moves: 0 is the first, -1 the last")
    cli.add(advanced, "--shape-steps", 0, type=bounded_int(0, 100_000), metavar="N",
            help="with --refine: first fine-tune D this many steps on real digits against "
                 "refined samples, in this session only (discriminator shaping; 0: off)")
    cli.add(advanced, "--shape-rate", SHAPE_RATE_DEFAULT, type=positive_float,
            help="gradient-descent step size of --shape-steps")
    cli.add(advanced, "--reject-percentile", 50.0, type=float,
            help="gamma of --reject: this percentile of F over the burn-in; higher keeps "
                 "fewer, surer samples")


def inside(path, folder):
    """path's part below folder (both taken from the current folder), or None if it is not
    below it."""
    below = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    return None if below == os.curdir or below.split(os.sep)[0] == os.pardir else below


def default_sample_dir(checkpoint_dir):
    """The sample folder of a checkpoint folder where --sample-dir is not typed: checkpoints/X
    -> samples/X, any other folder F -> F/samples. Two checkpoint folders never get the same
    one (F/samples is below samples/ only if F is, and such an F is refused)."""
    below = inside(checkpoint_dir, "checkpoints")
    if below is not None:
        return os.path.join("samples", below)
    if inside(checkpoint_dir, "samples") is not None or os.path.abspath(
            checkpoint_dir) == os.path.abspath("samples"):
        raise UsageError(f"--checkpoint-dir {checkpoint_dir} is inside samples/, where sample "
                         f"folders go; pass --sample-dir too, or keep checkpoints elsewhere")
    return os.path.join(checkpoint_dir, "samples")


def earlier_sample_dir(saved, explicit, sample_dir):
    """Where a resumed run saved before sample folders followed their checkpoint folder kept
    its samples, if that is not where it writes now, or None: said, never written (a path read
    back from config.json names no place to write; a copied checkpoint folder names the
    original's)."""
    if saved is None or "sample_dir" in explicit:
        return None
    named = saved.get("sample_dir")
    if isinstance(named, str) and named and os.path.abspath(named) != os.path.abspath(sample_dir):
        return named
    return None


def parse(spec, argv):
    """(values with model and folders filled in, names typed, the CommandLine); bad flags
    exit 2 with one line."""
    cli = build_parser(spec)
    flags, explicit = cli.parse(argv)
    flags["model"] = spec.name
    flags["checkpoint_dir"] = flags["checkpoint_dir"] or os.path.join("checkpoints", spec.name)
    try:
        flags["sample_dir"] = flags["sample_dir"] or default_sample_dir(flags["checkpoint_dir"])
    except UsageError as e:
        cli.parser.error(str(e))
    for name, value in (("dataset", "mnist"), ("image_size", None), ("channels", None),
                        ("recipe", None), ("digit", None), ("walk_digits", False),
                        ("code", None), ("code_grid", False), ("cache_dir", None)):
        flags.setdefault(name, value)  # flags only some scripts have
    return flags, explicit, cli


# ---------------------------------------------------------------------------------------------
# The saved config.json: read, checked like flags, merged

class RunConfig:
    """A run's settings, read as attributes (cfg.z_dim); frozen: `replace` makes a new one."""

    def __init__(self, values):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"the run config has no setting {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError(f"the run config is frozen; make a new one with replace({name}=...)")

    def replace(self, **changes):
        return RunConfig({**self._values, **changes})

    def as_dict(self):
        return dict(self._values)


def check_saved_value(cli, dest, value, where):
    """A value read from config.json, checked as if typed for its flag; returns it parsed."""
    action = cli.flags[dest]
    flag = action.option
    problem = f"{where} says {dest}: {json.dumps(value)}, which is not a valid {flag}"
    if value is None:
        if cli.defaults[dest] is None and dest not in FLAGS_ADDED_LATER:
            return None
        raise UsageError(f"{problem} (it has no value); fix or delete that entry")
    if action.switch:
        if isinstance(value, bool):
            return value
        raise UsageError(f"{problem} (true or false); fix or delete that entry")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"{problem}; fix or delete that entry")
    try:
        parsed = action.type(str(value)) if action.type else str(value)
    except (argparse.ArgumentTypeError, ValueError) as e:
        raise UsageError(f"{problem} ({e}); fix or delete that entry")
    if isinstance(parsed, str) != isinstance(value, str) or (
            isinstance(parsed, int) and not isinstance(value, int)):
        raise UsageError(f"{problem} (a {type(parsed).__name__} is needed, not a "
                         f"{type(value).__name__}); fix or delete that entry")
    if action.choices is not None and parsed not in action.choices:
        raise UsageError(f"{problem} (one of {', '.join(map(str, action.choices))}); fix or "
                         f"delete that entry")
    return parsed


def check_saved(cli, saved, where):
    """config.json's contents -> its flag values, checked; older runs' missing flags filled."""
    if not isinstance(saved, dict):
        raise UsageError(f"{where} is not a JSON object of settings; delete it or use another "
                         f"--checkpoint-dir")
    model = saved.get("model", "unknown")
    if not isinstance(model, str):
        raise UsageError(f"{where} says model: {json.dumps(model)}, not a name; fix or delete "
                         f"that entry")
    if model != cli.prog[:-len(".py")]:  # another script's run: its flags are not ours
        return {"model": model, "run_id": None}
    checked = {}
    for key, value in {**FLAGS_ADDED_LATER, **saved}.items():
        if key in cli.flags and key not in NOT_SAVED:
            checked[key] = check_saved_value(cli, key, value, where)
    run_id = saved.get("run_id")
    if run_id is not None and not (isinstance(run_id, str) and run_id):
        raise UsageError(f"{where} says run_id: {json.dumps(run_id)}, not a name; fix or delete "
                         f"that entry")
    return {**checked, "model": model, "run_id": run_id}


def merge_saved(spec, flags, explicit, saved):
    """The flags with the saved run's architecture (and data folder) filled in where not typed.

    A typed architecture flag that differs from the saved one, a checkpoint of another script,
    or data of another kind (MNIST vs pictures) is refused: resuming would not fit."""
    values = dict(flags)
    folder = flags["checkpoint_dir"]
    if saved is not None:
        if saved["model"] != spec.name:
            raise UsageError(f"{folder} holds a {saved['model']} run, not {spec.name}; pass "
                             f"another --checkpoint-dir")
        for flag in COMMON_ARCH_FLAGS + spec.arch_flags + RESUMED_FLAGS:
            if flag not in saved or flag not in values:
                continue
            if flag in explicit and values[flag] != saved[flag] and flag not in RESUMED_FLAGS:
                name = "--" + flag.replace("_", "-")
                raise UsageError(f"{folder} was trained with {name} {saved[flag]}, not "
                                 f"{values[flag]}; drop {name}, or use another --checkpoint-dir")
            if flag not in explicit:
                values[flag] = saved[flag]
        values["run_id"] = saved.get("run_id")
    if spec.picture_sizes and saved is not None and flags["generate"]:
        values["dataset"] = saved.get("dataset") or "mnist"  # no data read: the run's own kind
    elif spec.picture_sizes and saved is not None and saved.get("dataset") and not os.path.isdir(
            values["data_dir"]) and "dataset" not in explicit:
        values["dataset"] = saved["dataset"]  # the folder is gone: its kind cannot be told
    elif spec.picture_sizes:
        kind = resolve_kind(flags["dataset"], values["data_dir"], DATA_DIR_DEFAULT)
        if saved is not None and saved.get("dataset") not in (None, kind):
            raise UsageError(f"{folder} was trained on {describe_kind(saved['dataset'])}, and "
                             f"--data-dir {values['data_dir']} holds {describe_kind(kind)}; use "
                             f"another --checkpoint-dir for it")
        values["dataset"] = kind
    values["run_id"] = values.get("run_id") or uuid.uuid4().hex[:12]
    return values


def describe_kind(kind):
    return "MNIST" if kind == "mnist" else "a folder of pictures"


def read_saved(cli, folder):
    """The checked settings in folder/config.json, or None if there is none."""
    saved = read_config(folder)
    return None if saved is None else check_saved(cli, saved, os.path.join(folder, "config.json"))


def values_to_save(cfg, cli):
    """What config.json keeps: the flags (no one-off ones), the script's name and the run id."""
    dests = set(cli.flags) - set(NOT_SAVED)
    values = cfg.as_dict()
    if values.get("dataset") == "folder":  # the picture graph has no recipe: none is recorded
        dests.discard("recipe")
    return {k: values[k] for k in sorted(dests | {"model", "run_id", "dataset", "workers"}) if k in values}


# ---------------------------------------------------------------------------------------------
# Checks and derived values, once

def available_devices():
    return ["/cpu:0"] + [f"/gpu:{i}" for i in range(len(tf.config.list_physical_devices("GPU")))]


def resolve_device(device):
    """None -> the first GPU if any, else /cpu:0; an unknown device is a UsageError."""
    devices = available_devices()
    if device is None:
        return devices[1] if len(devices) > 1 else "/cpu:0"
    normal = device.lower().replace("/device:", "/")
    if normal not in devices:
        raise UsageError(f"--device {device}: no such device here; choose one of "
                         f"{', '.join(devices)}")
    return normal


def automatic_precision(device):
    """(precision, why) for --precision auto on this machine's device: bf16 only where oneDNN
    will run it on AMX or AVX512-BF16 (machine.bf16 reads the CPU, ONEDNN_MAX_CPU_ISA and
    TF_ENABLE_ONEDNN_OPTS)."""
    if device.startswith("/gpu"):  # the fp16 rewrite has no loss scaling; never scored on a GPU
        return "fp32", "on a GPU fp16's training quality is unmeasured; --precision fp16 tries it"
    runs, fast, why = machine.here()
    return ("bf16" if fast else "fp32"), why


def bf16_cannot_run(device):
    """Why --precision bf16 cannot run on this CPU (oneDNN off, or held below AVX512_CORE: the
    rewrite would do nothing, or abort in C++), or None."""
    runs, _, why = machine.here()
    return None if device.startswith("/gpu") or runs else why


def not_for_this_device(precision, device):
    """Why a saved run's precision does not suit this device (a run moved to another machine),
    or None: fp16 needs a GPU, bf16 is the CPU rewrite and is fast only where auto picks it."""
    on_gpu = device.startswith("/gpu")
    if precision == "fp16" and not on_gpu:
        return "which needs a GPU"
    if precision == "bf16" and on_gpu:
        return "which is the CPU (oneDNN) rewrite"
    if precision == "bf16":
        auto, why = automatic_precision(device)
        if auto != "bf16":
            return f"and here {why}"
    return None


def check_writable(folder, flag):
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise UsageError(f"{flag} {folder} is not writable ({e.strerror}); choose another folder")


def check_outputs_apart(cfg):
    """An output folder that is also one of the command's inputs is refused: samples or
    checkpoints written into the data (a picture folder is read with its subfolders), or the
    samples mixed into the checkpoint folder itself."""
    outs = [("--sample-dir", cfg.sample_dir)]
    ins = [("--data-dir", cfg.data_dir)]
    if not cfg.generate:
        outs.append(("--checkpoint-dir", cfg.checkpoint_dir))
    else:
        ins.append(("--checkpoint-dir", cfg.checkpoint_dir))
    for out_flag, out in outs:
        for in_flag, folder in ins + [o for o in outs if o[0] != out_flag]:
            if out_flag == "--checkpoint-dir" and in_flag == "--sample-dir":
                continue  # said once, the other way round
            # MNIST's files and a checkpoint folder are read by name, so a folder inside them
            # (the default F/samples of a checkpoint folder F) mixes nothing; a picture folder
            # is read with its subfolders.
            by_name = (in_flag == "--data-dir" and cfg.dataset == "mnist") or (
                {out_flag, in_flag} == {"--sample-dir", "--checkpoint-dir"})
            if (os.path.realpath(out) == os.path.realpath(folder) if by_name
                    else same_or_inside(out, folder)):
                where = "is" if os.path.realpath(out) == os.path.realpath(folder) else "lies in"
                raise UsageError(f"{out_flag} {out} {where} {in_flag} {folder}; give each its own "
                                 f"folder")


def check_export_folder(cfg):
    """--export-generator DIR, checked before anything is written: a name, a new or empty
    folder, apart from the folders the command reads and writes."""
    folder = cfg.export_generator
    if folder is None:
        return
    if not folder.strip():
        raise UsageError("--export-generator needs a folder name, e.g. exports/dcgan")
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise UsageError(f"--export-generator {folder} is a file; name a new folder")
    for flag, other in (("--checkpoint-dir", cfg.checkpoint_dir), ("--sample-dir", cfg.sample_dir),
                        ("--data-dir", cfg.data_dir)):
        if same_or_inside(folder, other) or same_or_inside(other, folder):
            raise UsageError(f"--export-generator {folder} overlaps {flag} {other}, which this "
                             f"command reads or writes; name a new folder apart from it")
    if os.path.isdir(folder) and os.listdir(folder):
        raise UsageError(f"--export-generator {folder} is not empty; name a new folder")


def check_saved_data_dir(cfg, explicit, log=print):
    """A data folder read back from config.json is a place to read, never to write: MNIST is
    fetched or rebuilt only into a folder the user typed, or the default one, and the run says
    where it will go."""
    if cfg.dataset != "mnist":
        return
    from utils import SPLIT_FILES
    missing = [n for n in SPLIT_FILES["train"] if not os.path.exists(os.path.join(cfg.data_dir, n))]
    if not missing:
        return
    typed = "data_dir" in explicit
    default = os.path.abspath(cfg.data_dir) == os.path.abspath(DATA_DIR_DEFAULT)
    if not typed and not default:
        raise UsageError(f"this run's config.json names --data-dir {cfg.data_dir}, which lacks "
                         f"{missing[0]}; MNIST is fetched only into a folder you name: pass "
                         f"--data-dir {cfg.data_dir} (or another folder) to fetch it there")
    log(f"MNIST is not in {cfg.data_dir}: preparing it there")


def freeze(spec, values, explicit, log=print):
    """Check every setting that needs neither data nor graph, add the device and the recipe's
    graph changes, and freeze the result (fit_to_data adds what follows from the data)."""
    values = dict(values)
    values["workers"] = values.get("workers", 1)  # several: distributed.py
    values["task_index"] = values.get("task_index") or 0
    values["device"] = resolve_device(values["device"])
    gpus_seen = len(tf.config.list_physical_devices("GPU"))
    if values["precision"] == "auto":
        values["precision"], why = automatic_precision(values["device"])
        log(f"--precision auto: {values['precision']} ({why})")
    elif "precision" not in explicit:  # the saved run's: it may not suit this device
        unsuited = not_for_this_device(values["precision"], values["device"])
        if unsuited:
            log(f"note: this run was saved at --precision {values['precision']}, {unsuited}; "
                f"fp32 is used here")
            values["precision"] = "fp32"
    picture_run = values["dataset"] == "folder"
    kind = "gpu" if values["device"].startswith("/gpu") else "cpu"
    for flag, by_kind in spec.device_defaults.items():
        if values.get(flag) is None:  # neither typed nor from the saved run: by device kind
            values[flag] = by_kind[kind]
            if picture_run and not values["generate"]:
                log(f"--{flag.replace('_', '-')} {values[flag]}: the default on a "
                    f"{kind.upper()} (set it to choose)")
    if picture_run and values["image_size"] not in spec.picture_sizes:
        raise UsageError(f"--image-size {values['image_size']}: use one of "
                   f"{', '.join(map(str, spec.picture_sizes))} (each is one stride-2 layer)")
    if picture_run and "recipe" in explicit:
        raise UsageError(f"--recipe {values['recipe']} changes the MNIST graph; a picture folder "
                         f"trains the DCGAN paper's graph, which has no recipes (drop --recipe)")
    if not picture_run and explicit & {"image_size", "channels", "base_channels"}:
        raise UsageError("--image-size, --channels and --base-channels apply to picture folders; "
                   "MNIST is 28x28x1 (drop them, or point --data-dir at your pictures)")
    if not picture_run and "cache_dir" in explicit:
        raise UsageError("--cache-dir applies to picture folders; MNIST is read whole (drop it, "
                         "or point --data-dir at your pictures)")
    if values["gpus"] > 1 and gpus_seen and values["gpus"] > gpus_seen:
        raise UsageError(f"--gpus {values['gpus']}: TensorFlow sees {gpus_seen} GPU(s)")
    if values["gpus"] > 1 and not gpus_seen and not values["generate"]:
        log(f"note: no GPU here, so --gpus {values['gpus']} builds {values['gpus']} towers on the "
            f"CPU: the same results as one device, and no faster")
    if values["batch_size"] % values["gpus"]:
        raise UsageError(f"--batch-size {values['batch_size']} does not split evenly over --gpus "
                   f"{values['gpus']}; use a multiple of {values['gpus']}")
    if values["precision"] == "fp16" and not gpus_seen:
        raise UsageError("--precision fp16 needs a GPU; on a CPU use --precision auto")
    if values["precision"] == "bf16" and values["device"].startswith("/gpu"):
        raise UsageError("--precision bf16 is the CPU (oneDNN) rewrite; on a GPU use fp32 (or "
                         "fp16, whose training quality is unmeasured)")
    if values["precision"] == "bf16" and bf16_cannot_run(values["device"]):
        raise UsageError(f"--precision bf16 cannot run here: {bf16_cannot_run(values['device'])}; "
                         f"use --precision fp32 (or auto)")
    if values["generate"] and values["fresh"]:
        raise UsageError("--generate and --fresh conflict: --fresh would delete the checkpoint that "
                   "--generate needs")
    if values["eval_every"] and picture_run:
        raise UsageError("--eval-every scores MNIST digits; it does not apply to a picture folder")
    if values.get("refine") and values.get("reject"):
        raise UsageError("--refine and --reject are two ways to sample; pick one")
    if not 0 <= values.get("reject_percentile", 0) < 100:
        raise UsageError(f"--reject-percentile {values['reject_percentile']}: use 0 to below 100")
    if values.get("export_generator") is not None and not values["generate"]:
        raise UsageError("--export-generator only applies with --generate")
    for flag in ("digit", "code", "code_grid", "walk", "walk_digits", "refine", "reject"):
        if values.get(flag) and not values["generate"]:
            raise UsageError(f"--{flag.replace('_', '-')} only applies with --generate")
    if values.get("shape_steps") and not values.get("refine"):
        raise UsageError("--shape-steps only applies with --refine")
    if "shape_rate" in explicit and not values.get("shape_steps"):
        raise UsageError("--shape-rate only applies with --shape-steps")
    if {"steps", "epochs"} <= explicit:
        raise UsageError("pass --steps or --epochs, not both")
    values["changes"] = frozenset(spec.recipes.get(values["recipe"], values["recipe"].split(","))
                                  if spec.recipes else ())
    check_code_flags(values)
    return RunConfig(values)


def check_code_flags(values):
    """--code and --code-grid need G to read InfoGAN's code: the recipe change `code`, on MNIST."""
    flag = "--code" if values.get("code") else "--code-grid" if values.get("code_grid") else None
    if flag is None:
        return
    if "code" not in values["changes"]:
        raise UsageError(f"{flag}: the run in {values['checkpoint_dir']} (--recipe "
                         f"{values['recipe']}) has no categorical code; it needs a run trained "
                         f"with the `code` change (--recipe info)")
    if values["dataset"] == "folder":
        raise UsageError(f"{flag}: a picture-folder run has no categorical code (only MNIST "
                         f"runs' G reads it)")
    if values["z_dim"] < 10:
        raise UsageError(f"{flag}: --z-dim {values['z_dim']} is smaller than the 10-way code")
    if values.get("reject"):
        raise UsageError(f"{flag} and --reject: --reject draws its own noise; pick one")


def new_run(spec, argv, log=print):
    """(frozen config, names typed) of a new run of spec with these flags, its data not yet
    read (fit_to_data adds that): what the tests and bench scripts build their graphs from."""
    flags, explicit, _ = parse(spec, argv)
    return freeze(spec, merge_saved(spec, flags, explicit, None), explicit, log), explicit


def fit_to_data(cfg, explicit, num_examples):
    """The values that follow from the training set's size: steps per epoch, steps from
    --epochs, and intervals given as `epoch`; a batch larger than the data is refused."""
    if cfg.batch_size > num_examples:
        raise UsageError(f"--batch-size {cfg.batch_size} is more than the {num_examples} "
                         f"training images in {cfg.data_dir}; use --batch-size {num_examples} or "
                         f"less, or add images")
    per_epoch = num_examples // cfg.batch_size
    epochs = None if "steps" in explicit else cfg.epochs
    intervals = {name: per_epoch if getattr(cfg, name) == "epoch" else getattr(cfg, name)
                 for name in ("sample_every", "save_every", "log_every", "eval_every")}
    return cfg.replace(steps_per_epoch=per_epoch,
                       steps=epochs * per_epoch if epochs else cfg.steps, **intervals)
