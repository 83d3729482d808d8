"""A run's configuration: flags parsed, the saved config.json merged in, validated once, frozen.

    flags, explicit, parser = parse(spec, argv)
    values = merge_saved(spec, flags, explicit, read_saved(parser, folder))  # disk's architecture
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

from gan import losses
from gan.checkpoints import read_config
from gan.data import resolve_kind
from gan.errors import UsageError
from gan.flags import (OneLineParser, bounded_int, digit_list, interval, positive_float, positive_int,
                   recipe_type, unit_interval)
from gan import machine

DATA_DIR_DEFAULT = "MNIST_data"
MAX_IMAGES = 100_000  # --num-images: 10x the evaluation set; a million is gigabytes of PNG
MAX_SEED = 2 ** 31 - 1
SHAPE_RATE_DEFAULT = 1e-3  # --shape-rate: 1e-2 hurt gan_mlp and dcgan; 3e-2, 1e-1 gave NaNs
MAX_WIDTH = 100_000  # z size, channels, batch: past this a graph would not fit in memory anyway
COMMON_ARCH_FLAGS = ("z_dim", "dataset", "image_size", "channels", "ema")
RESUMED_FLAGS = ("data_dir", "precision")  # from the saved run unless typed; no conflict
# Their value in runs saved before these flags existed, or before their default changed.
FLAGS_ADDED_LATER = {"ema": 0.0, "recipe": "article", "precision": "fp32", "base_channels": 64}
NOT_SAVED = ("fresh", "generate", "digit", "num_images", "walk", "walk_frames", "walk_digits",
             "export_generator", "refine", "refine_rate", "refine_layer", "reject",
             "reject_percentile", "shape_steps", "shape_rate", "help")


# ---------------------------------------------------------------------------------------------
# The parser: every flag and its default, once

def build_parser(spec):
    parser = OneLineParser(
        prog=f"{spec.name}.py",
        description=(sys.modules[spec.generator.__module__].__doc__ or "").split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run = parser.add_argument_group("run")
    run.add_argument("--steps", type=positive_int, default=20000,
                     help="total training steps; a resumed run continues up to this count")
    run.add_argument("--epochs", type=positive_int, default=None,
                     help="train this many passes over the data (instead of --steps)")
    run.add_argument("--minutes", type=positive_float, default=None,
                     help="stop cleanly (grid, GIF, checkpoint) after this many minutes of "
                          "training, or at --steps, whichever comes first")
    run.add_argument("--batch-size", type=bounded_int(1, MAX_WIDTH), default=64,
                     help="images per step")
    run.add_argument("--data-dir", default=DATA_DIR_DEFAULT,
                     help="MNIST IDX files (fetched if absent), or a folder of pictures (dcgan)")
    run.add_argument("--sample-dir", default=None, help="default: samples/<model>")
    run.add_argument("--checkpoint-dir", default=None, help="default: checkpoints/<model>")
    run.add_argument("--sample-every", type=interval, default=500,
                     help="steps between sample grids, or 'epoch'")
    run.add_argument("--save-every", type=interval, default=1000,
                     help="steps between checkpoints, or 'epoch'")
    run.add_argument("--log-every", type=interval, default=50,
                     help="steps between loss fetches (progress bar, CSV, TensorBoard), or 'epoch'")
    run.add_argument("--eval-every", type=interval, default=None,
                     help="steps between quality scores (evaluate.py's MNIST score, Frechet "
                          "distance, digits present) in the CSV and TensorBoard; MNIST only")
    run.add_argument("--keep", type=positive_int, default=3, help="checkpoints kept")
    run.add_argument("--device", default=None,
                     help="e.g. /cpu:0 or /gpu:0; default: /gpu:0 when TensorFlow sees a GPU")
    run.add_argument("--gpus", type=positive_int, default=1,
                     help="data-parallel towers, one per GPU, gradients averaged (TF1 style)")
    run.add_argument("--xla", action="store_true", help="XLA global JIT (v1 ConfigProto)")
    run.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"), default="auto",
                     help="mixed precision by graph rewrite, variables kept in fp32: bf16 on "
                          "CPU (oneDNN), fp16 on GPU; auto: bf16 where oneDNN runs AMX or "
                          "AVX512-BF16 (see ONEDNN_MAX_CPU_ISA, TF_ENABLE_ONEDNN_OPTS), else fp32 (GPUs too: fp16's quality is unmeasured); "
                          "printed, saved, and kept on resume")
    run.add_argument("--seed", type=bounded_int(0, MAX_SEED), default=0,
                     help="fixes initial weights, data order, noise and the sample grid's z")
    run.add_argument("--fresh", action="store_true",
                     help="delete this run's checkpoints and samples (same script, folders it "
                          "owns) and start over")
    gen = parser.add_argument_group("generate")
    gen.add_argument("--generate", action="store_true",
                     help="restore the newest checkpoint and write a grid of new images")
    gen.add_argument("--num-images", type=bounded_int(1, MAX_IMAGES), default=64,
                     help="images written by --generate")
    gen.add_argument("--walk", action="store_true",
                     help="with --generate: also walk.gif (and walk.npy, the frames): each image "
                          "moves smoothly from one random z to another (spherical interpolation)")
    gen.add_argument("--walk-frames", type=bounded_int(2, 1000), default=32,
                     help="frames of --walk, its two end points included")
    add_guided_sampling_arguments(gen)
    gen.add_argument("--export-generator", metavar="DIR", default=None,
                     help="with --generate: also write G's sampling weights alone (the average "
                          "under --ema) and config.json to DIR, a small folder --generate reads")
    if spec.conditional:
        gen.add_argument("--walk-digits", action="store_true",
                         help="with --generate: also walk_digits.gif (and .npy): each image's "
                              "style stays while its digit morphs 0 -> 1 -> ... -> 9")
        gen.add_argument("--digit", type=digit_list, default=None,
                         help="with --generate: only these digits, e.g. 7 or 1,3,5")
    model = parser.add_argument_group("model")
    model.add_argument("--loss", choices=sorted(losses.LOSSES), default="gan",
                       help="gan: sigmoid cross-entropy; lsgan: least squares")
    model.add_argument("--z-dim", type=bounded_int(1, MAX_WIDTH), default=100, help="noise size")
    model.add_argument("--learning-rate", type=positive_float, default=2e-4,
                       help="Adam learning rate of G and D")
    model.add_argument("--beta1", type=unit_interval(), default=0.5, help="Adam beta1 of G")
    model.add_argument("--beta1-d", type=unit_interval(), default=None,
                       help="Adam beta1 of D; default: --beta1")
    model.add_argument("--ema", type=unit_interval("use 0 (off) or a decay below 1, e.g. 0.999"),
                       default=0.0,
                       help="decay of a moving average of G's weights, updated after every G "
                            "step; grids, --generate and evaluate.py draw with the average. "
                            "0: off, samples use the last weights")
    if spec.recipes:
        named = "; ".join(name + ": " + (", ".join(steps) or "the article's exact graph")
                          for name, steps in spec.recipes.items())
        model.add_argument("--recipe", type=recipe_type(spec.recipes, spec.recipe_changes),
                           help=f"{named}; or a comma-separated list of changes for ablations: "
                                + "; ".join(f"{k}: {v}" for k, v in spec.recipe_changes.items()))
    if spec.picture_sizes:
        model.add_argument("--dataset", choices=("auto", "mnist", "folder"), default="auto",
                           help="auto: MNIST when --data-dir is the default or holds its IDX "
                                "files, else the pictures found under --data-dir")
        model.add_argument("--image-size", type=positive_int, default=64,
                           help="pictures are resized and center-cropped to this (folder only)")
        model.add_argument("--channels", type=int, choices=(1, 3), default=3,
                           help="3: RGB, 1: grayscale (folder only)")
    if spec.add_arguments:
        spec.add_arguments(model)
    parser.set_defaults(**spec.defaults)
    return parser


def add_guided_sampling_arguments(group):
    """--refine and --reject: sampling with the run's own D (guided_sampling.py); shared by
    --generate and evaluate.py."""
    group.add_argument("--refine", type=bounded_int(0, 1000), default=0, metavar="STEPS",
                       help="move G's activation at --refine-layer this many gradient steps "
                            "towards what D calls real, then finish G (0: off)")
    group.add_argument("--refine-rate", type=positive_float, default=0.3,
                       help="step size of --refine")
    group.add_argument("--refine-layer", type=int, default=0,
                       help="which hidden layer of G --refine moves: 0 is the first, -1 the last")
    group.add_argument("--shape-steps", type=bounded_int(0, 100_000), default=0, metavar="N",
                       help="with --refine: first fine-tune D (in this session only; the "
                            "checkpoint is not written) this many steps on real training digits "
                            "against refined samples, so that its gradient guides refinement "
                            "(discriminator shaping; 0: off)")
    group.add_argument("--shape-rate", type=positive_float, default=SHAPE_RATE_DEFAULT,
                       help="plain gradient-descent step size of --shape-steps")
    group.add_argument("--reject", action="store_true",
                       help="keep samples by D's calibrated acceptance probability "
                            "(discriminator rejection sampling); prints the acceptance rate")
    group.add_argument("--reject-percentile", type=float, default=50.0,
                       help="gamma of --reject: this percentile of F over the burn-in; higher "
                            "keeps fewer, surer samples")


def explicit_flags(parser, argv):
    """Names of the flags the user typed (so saved settings fill in only the others)."""
    quiet = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = dict(dest=action.dest, default=argparse.SUPPRESS)
            if action.nargs == 0:
                kwargs["action"] = "store_const"
                kwargs["const"] = True
            quiet.add_argument(*action.option_strings, **kwargs)
    return set(vars(quiet.parse_known_args(argv)[0]))


def parse(spec, argv):
    """(flags as a dict with model and folders filled in, names typed, parser); bad flags exit 2."""
    parser = build_parser(spec)
    flags = vars(parser.parse_args(argv))
    flags["model"] = spec.name
    flags["sample_dir"] = flags["sample_dir"] or os.path.join("samples", spec.name)
    flags["checkpoint_dir"] = flags["checkpoint_dir"] or os.path.join("checkpoints", spec.name)
    for name, value in (("dataset", "mnist"), ("image_size", None), ("channels", None),
                        ("recipe", None), ("digit", None), ("export_generator", None),
                        ("walk_digits", False),
                        ("refine", 0), ("reject", False), ("reject_percentile", 50.0),
                        ("shape_steps", 0), ("shape_rate", SHAPE_RATE_DEFAULT)):
        flags.setdefault(name, value)  # flags only some scripts have
    return flags, explicit_flags(parser, argv), parser


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


def check_saved_value(action, value, where):
    """A value read from config.json, checked as if typed for action's flag; returns it parsed."""
    flag = action.option_strings[-1]
    problem = f"{where} says {action.dest}: {json.dumps(value)}, which is not a valid {flag}"
    if value is None:
        if action.default is None and action.dest not in FLAGS_ADDED_LATER:
            return None
        raise UsageError(f"{problem} (it has no value); fix or delete that entry")
    if action.nargs == 0:
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


def check_saved(parser, saved, where):
    """config.json's contents -> its flag values, checked; older runs' missing flags filled."""
    if not isinstance(saved, dict):
        raise UsageError(f"{where} is not a JSON object of settings; delete it or use another "
                         f"--checkpoint-dir")
    model = saved.get("model", "unknown")
    if not isinstance(model, str):
        raise UsageError(f"{where} says model: {json.dumps(model)}, not a name; fix or delete "
                         f"that entry")
    if model != parser.prog[:-len(".py")]:  # another script's run: its flags are not ours
        return {"model": model, "run_id": None}
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}
    checked = {}
    for key, value in {**FLAGS_ADDED_LATER, **saved}.items():
        if key in actions and key not in NOT_SAVED:
            checked[key] = check_saved_value(actions[key], value, where)
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


def read_saved(parser, folder):
    """The checked settings in folder/config.json, or None if there is none."""
    saved = read_config(folder)
    return None if saved is None else check_saved(parser, saved,
                                                  os.path.join(folder, "config.json"))


def values_to_save(cfg, parser):
    """What config.json keeps: the flags (no one-off ones), the script's name and the run id."""
    dests = {a.dest for a in parser._actions if a.option_strings} - set(NOT_SAVED)
    values = cfg.as_dict()
    return {k: values[k] for k in sorted(dests | {"model", "run_id", "dataset"}) if k in values}


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


def freeze(spec, values, explicit, log=print):
    """Check every setting that needs neither data nor graph, add the device and the recipe's
    graph changes, and freeze the result (fit_to_data adds what follows from the data)."""
    values = dict(values)
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
    if not picture_run and explicit & {"image_size", "channels", "base_channels"}:
        raise UsageError("--image-size, --channels and --base-channels apply to picture folders; "
                   "MNIST is 28x28x1 (drop them, or point --data-dir at your pictures)")
    if values["gpus"] > 1 and gpus_seen and values["gpus"] > gpus_seen:
        raise UsageError(f"--gpus {values['gpus']}: TensorFlow sees {gpus_seen} GPU(s)")
    if values["gpus"] > 1 and not gpus_seen and not values["generate"]:
        log(f"note: no GPU here, so --gpus {values['gpus']} builds {values['gpus']} towers on the "
            f"CPU: the same results as one device, and no faster")
    if values["batch_size"] % values["gpus"]:
        raise UsageError(f"--batch-size {values['batch_size']} does not split evenly over --gpus "
                   f"{values['gpus']}; use a multiple of {values['gpus']}")
    if values["precision"] == "fp16" and not gpus_seen:
        raise UsageError("--precision fp16 needs a GPU; on CPU use --precision bf16")
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
    for flag in ("digit", "walk", "walk_digits", "export_generator", "refine", "reject"):
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
    return RunConfig(values)


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
