"""The training loop that all four GAN scripts share, and their entry point.

A script describes its model with a `GanSpec` (generator, discriminator, defaults) and calls
`run(SPEC)`. `main` parses and checks the config (config.py), loads the data (data.py), builds
the graph (graph.py) and trains with a tqdm bar; the `Schedule` says when each step logs,
writes a grid, saves and scores. It writes sample grids, a GIF, a loss CSV and plot
(outputs.py), TensorBoard summaries and checkpoints (checkpoints.py), resumes exactly, stops
cleanly on Ctrl-C, SIGTERM or --minutes, and `--generate` draws from a checkpoint (sampling.py).
"""

import dataclasses
import os
import signal
import sys
import time
from typing import Callable, Optional, Tuple

from gan import tf_quiet  # noqa: F401  (before TensorFlow)
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from gan import checkpoints
from gan import config
from gan import data
from gan import distributed
from gan import graph
from gan import losses
from gan import memory
from gan import outputs
from gan import picture_cache
from gan import sampling
from gan.errors import TrainingDiverged, UsageError, UserError
from gan.files import WriteFailed, remove_entry
from gan.flags import NUM_CLASSES
import utils

v1 = tf.compat.v1
EVAL_IMAGES = 2000  # samples scored at each --eval-every step


@dataclasses.dataclass(frozen=True)
class GanSpec:
    """What a script tells the shared loop about its model.

    generator(z, labels, cfg, training) -> images in [-1, 1], [N, H, W, C]
    discriminator(images, labels, cfg, training) -> logits [N, 1], or [N, 11] with a head
        that recovers G's categorical code (columns 1-10; dcgan's recipe change `code`)
    `labels` is an int32 [N] tensor of digits, used only when `conditional`; `training` is
    True in the training graph and the `is_training` tensor in the sampler. `defaults` holds
    only what differs from the shared flags' defaults (config.build_parser).
    add_arguments(cli, group) adds the script's own flags with cli.add (flags.CommandLine).
    """
    name: str
    generator: Callable
    discriminator: Callable
    defaults: dict
    add_arguments: Optional[Callable] = None  # (cli, group): the script's own flags
    arch_flags: Tuple[str, ...] = ()  # its flags that change the graph (resume must match)
    conditional: bool = False
    g_steps: int = 1  # generator updates per discriminator update
    picture_sizes: Tuple[int, ...] = ()  # --image-size choices, if it also trains on pictures
    recipes: Optional[dict] = None  # --recipe name -> graph changes; None: no --recipe flag
    recipe_changes: Optional[dict] = None  # change name -> what it does
    # flag -> {"cpu": value, "gpu": value}: its default where neither typed nor saved
    device_defaults: dict = dataclasses.field(default_factory=dict)
    # --loss name -> losses.Loss; the standard GAN loss unless the script brings its own
    losses: dict = dataclasses.field(default_factory=lambda: {"gan": losses.GAN})


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When the loop fetches losses, writes a grid, saves and scores: every N steps, and the
    losses at each epoch's end too; grid and save at the last step."""
    steps: int
    steps_per_epoch: int
    log_every: int
    sample_every: int
    save_every: int
    eval_every: Optional[int]

    @classmethod
    def of(cls, cfg):
        return cls(cfg.steps, cfg.steps_per_epoch, cfg.log_every, cfg.sample_every,
                   cfg.save_every, cfg.eval_every)

    def epoch_ends(self, step):
        return step % self.steps_per_epoch == 0

    def samples(self, step):
        return step % self.sample_every == 0 or step == self.steps

    def saves(self, step):
        return step % self.save_every == 0 or step == self.steps

    def scores(self, step):
        return bool(self.eval_every) and step % self.eval_every == 0

    def logs(self, step):
        return (step % self.log_every == 0 or self.epoch_ends(step) or self.saves(step)
                or self.scores(step))


class StopRequested:
    """SIGINT/SIGTERM, or --minutes running out, ask the loop to finish its step and stop."""

    def __init__(self, minutes=None):
        self.signal = None
        self.deadline = None if minutes is None else time.time() + 60 * minutes

    def __enter__(self):
        self.previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def handle(self, signum, frame):
        self.signal = signum

    def out_of_time(self):
        return self.deadline is not None and time.time() >= self.deadline

    def __bool__(self):
        return self.signal is not None or self.out_of_time()

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


# ---------------------------------------------------------------------------------------------
# Training

def train(spec, cfg, dataset, saved_values, claim_sample_dir, log=print):
    """Build, restore the newest checkpoint, then claim the sample folder and write config.json:
    a checkpoint that does not fit these settings leaves both folders as they were."""
    model = graph.build(spec, cfg, dataset.images.shape,
                        read_rows=getattr(dataset.images, "read_rows", None))
    memory.check_graph(model.graph)  # before the session allocates any of it
    checkpoints.remove_stale_temp_files(cfg.checkpoint_dir)
    with graph.start_session(model, cfg, dataset) as sess, StopRequested(cfg.minutes) as stop:
        step = checkpoints.restore_newest(sess, model.saver, cfg.checkpoint_dir,
                                          model.variable_shapes, log=log)
        step = distributed.synchronise(sess, model, cfg, step, log)  # several: the chief's
        claimed = claim_sample_dir()
        try:
            checkpoints.write_config(cfg.checkpoint_dir, saved_values)
        except OSError as e:  # a full disk, say: the claim goes too, nothing is left behind
            if claimed:
                outputs.release_claim(cfg.sample_dir, cfg.run_id)
            raise checkpoints.CheckpointError(str(e))
        if step is None:
            step = 0
            log(f"training {cfg.model} from scratch on {cfg.device} ({dataset.description})")
        else:
            log(f"resuming {cfg.model} from step {step} in {cfg.checkpoint_dir}")
        loss_csv = os.path.join(cfg.sample_dir, outputs.LOSS_CSV)
        outputs.best_effort(loss_csv, lambda: outputs.truncate_loss_log(loss_csv, step), log)
        outputs.remove_grids_after(cfg.sample_dir, step)
        z = sampling.grid_z(cfg, 100 if spec.conditional else 64, log)
        writer = v1.summary.FileWriter(os.path.join(cfg.checkpoint_dir, "tensorboard"))
        scorer = make_scorer(cfg) if cfg.eval_every else None
        try:
            status = run_steps(sess, model, spec, cfg, step, z, writer, stop, log, scorer)
            distributed.dump_variables(sess, model)  # GAN_DUMP_VARIABLES (tests) only
        finally:
            writer.close()
            outputs.best_effort("training.gif", lambda: outputs.write_training_gif(cfg.sample_dir),
                                log)
            plot_losses(cfg, log)
    return status


PLOT_EVERY_SECONDS = 60  # a plot takes matplotlib 0.5 to 1 s: more often, it would slow a run


def plot_losses(cfg, log):
    """Draw losses.png from losses.csv, unless it was drawn since the table last changed (the
    end of a run that just drew it at its last grid: matplotlib takes about 0.6 s a plot)."""
    csv_path = os.path.join(cfg.sample_dir, outputs.LOSS_CSV)
    png_path = os.path.join(cfg.sample_dir, outputs.LOSS_PNG)
    try:
        if os.stat(png_path).st_mtime_ns > os.stat(csv_path).st_mtime_ns:
            return
    except OSError:
        pass  # either is missing: draw (or say why not)
    outputs.best_effort(outputs.LOSS_PNG, lambda: outputs.plot_losses(
        csv_path, png_path, title=cfg.model), log)


def run_steps(sess, model, spec, cfg, step, z, writer, stop, log, scorer=None):
    """The hot loop: one sess.run a step (cgan: one more per extra G step), losses fetched only
    when logged."""
    ops, schedule = model.train, Schedule.of(cfg)
    loss_csv = os.path.join(cfg.sample_dir, outputs.LOSS_CSV)
    if step >= schedule.steps:
        log(already_done(cfg, step))
        return 0
    last_saved = step
    sess.run(ops.reshuffle)
    bar = tqdm(total=schedule.steps, initial=step, desc=cfg.model, unit="step",
               dynamic_ncols=True, file=sys.stdout, mininterval=0.5)
    rows, timer, timer_step, epoch_start = [], time.time(), step, time.time()
    last_plot = time.time()  # losses.png: with a grid at most once a minute, and at the end
    last_epoch_line = step  # epoch lines: at most one per --log-every (tiny folders' epochs)

    def flush_rows():
        outputs.best_effort(loss_csv, lambda: outputs.append_loss_rows(loss_csv, rows), log)
        rows.clear()

    while step < schedule.steps:
        if step % schedule.steps_per_epoch == 0 and step > 0:
            sess.run(ops.reshuffle)
        stopping = bool(stop)
        fetched = graph.train_step(sess, ops, spec.g_steps, fetch=schedule.logs(step + 1) or (
            stopping and cfg.workers == 1))  # several workers fetch (all-reduce) at the same steps
        step += 1
        bar.update(1)

        if fetched:
            bad = [k for k in ("d_loss", "g_loss") if not np.isfinite(fetched[k])]
            if bad:
                bar.close()
                rates = [name for name, used in (("--learning-rate", True), ("--d-learning-rate",
                         cfg.d_learning_rate), ("--r1", cfg.r1)) if used]  # the ones this run set
                lower = ", ".join(rates)
                then = (f"The newest checkpoint is step {last_saved}; resume from it"
                        if last_saved else "No checkpoint was saved; run again")
                raise TrainingDiverged(
                    f"the {bad[0][0].upper()} loss became {fetched[bad[0]]} at step {step}; "
                    f"stopped without saving it. {then} with a lower {lower} or another --seed")
            speed = (step - timer_step) * cfg.batch_size / max(time.time() - timer, 1e-9)
            timer, timer_step = time.time(), step
            rows.append(dict(step=step, epoch=(step - 1) // schedule.steps_per_epoch + 1,
                             images_per_sec=f"{speed:.0f}",
                             **{k: f"{v:.5f}" for k, v in fetched.items()}))
            writer.add_summary(summary(fetched), step)
            bar.set_postfix(D=f"{fetched['d_loss']:.3f}", G=f"{fetched['g_loss']:.3f}",
                            img_s=f"{speed:.0f}")
            if schedule.scores(step):
                paused = time.time()
                quality = scorer(sess, model.sampler, spec, step)
                rows[-1].update(quality)
                writer.add_summary(summary(quality, prefix="quality/"), step)
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in quality.items()))
                timer += time.time() - paused  # images_per_sec is training speed: not scoring
        if schedule.epoch_ends(step):
            epoch_time, epoch_start = time.time() - epoch_start, time.time()
        if schedule.epoch_ends(step) and (schedule.steps_per_epoch >= schedule.log_every
                                          or step - last_epoch_line >= schedule.log_every):
            last_epoch_line = step
            bar.write(f"epoch {step // schedule.steps_per_epoch}: step {step}, D loss "
                      f"{fetched['d_loss']:.4f}, G loss {fetched['g_loss']:.4f}, {epoch_time:.1f}s")
        paused = time.time()  # grids and saves are not training either
        if schedule.samples(step) or stopping:
            write_grid(sess, model, spec, cfg, z, step, writer, log)
            flush_rows()
            if time.time() - last_plot >= PLOT_EVERY_SECONDS:
                plot_losses(cfg, log)
                last_plot = time.time()
        if schedule.saves(step) or stopping:
            flush_rows()  # first: a kill between the two leaves a row past the checkpoint,
            # which the resume truncates, never a checkpoint without its row
            checkpoints.save(sess, model.saver, cfg.checkpoint_dir, step, cfg.keep)
            last_saved = step
        timer += time.time() - paused
        if stopping:
            bar.close()
            if stop.signal is None:
                log(f"--minutes {cfg.minutes:g} reached: saved step {step} to "
                    f"{cfg.checkpoint_dir}; run the same command to go on")
                return 0
            name = signal.Signals(stop.signal).name
            log(f"{name}: saved step {step} to {cfg.checkpoint_dir}; run the same command to resume")
            return 128 + stop.signal
    bar.close()
    log(f"done: {step} step{'' if step == 1 else 's'}; samples in {cfg.sample_dir}, "
        f"checkpoints in {cfg.checkpoint_dir}")
    return 0


def already_done(cfg, step):
    """The line for a resumed run that is already at or past its --steps (or --epochs)."""
    by_epochs = cfg.epochs and cfg.steps == cfg.epochs * cfg.steps_per_epoch
    asked = (f"--epochs {cfg.epochs} ({cfg.steps} steps)" if by_epochs
             else f"--steps {cfg.steps}")
    more = (f"--epochs {step // cfg.steps_per_epoch + cfg.epochs}" if by_epochs
            else f"--steps {2 * step}")
    where = (f"has already trained the {asked}" if step == cfg.steps
             else f"is already at step {step}, past {asked}")
    return (f"done: nothing to train: {cfg.checkpoint_dir} {where} (the run's total, not steps "
            f"to add); to train further, pass a larger total, e.g. {more}")


def summary(values, prefix=""):
    """A TensorBoard summary of plain numbers, tagged by their names (no `_1` suffixes)."""
    return v1.Summary(value=[v1.Summary.Value(tag=prefix + k, simple_value=float(v))
                             for k, v in values.items()])


def write_grid(sess, model, spec, cfg, z, step, writer, log):
    """The step's grid as a PNG under --sample-dir and as a TensorBoard image."""
    grid = sampling.grid_png(sess, model.sampler, spec, z)
    png = outputs.png_bytes(grid)
    path = os.path.join(cfg.sample_dir, outputs.GRID_NAME.format(step))
    outputs.best_effort(path, lambda: outputs.atomic_write_bytes(path, png), log)
    height, width = grid.shape[:2]
    image = v1.Summary.Image(height=height, width=width, colorspace=1 if grid.ndim == 2 else 3,
                             encoded_image_string=png)
    writer.add_summary(v1.Summary(value=[v1.Summary.Value(tag="samples", image=image)]), step)


def make_scorer(cfg):
    """evaluate.py's figures for EVAL_IMAGES fresh samples at a step; its classifier loads once."""
    from gan import metrics
    classifier = metrics.Classifier()
    reference, _ = classifier(utils.load_mnist(cfg.data_dir, "test", log=lambda m: None)[0])

    def score_samples(sess, sampler, spec, step):
        z = sampling.draw_z([cfg.seed, step], EVAL_IMAGES, cfg.z_dim)
        labels = np.arange(EVAL_IMAGES) % NUM_CLASSES if spec.conditional else None
        images = outputs.to_uint8(graph.images_of(sess, sampler, z, labels))
        result = metrics.score(images, classifier, reference)
        return {k: result[k] for k in ("mnist_score", "frechet", "digits_present")}
    return score_samples


# ---------------------------------------------------------------------------------------------
# Starting over

CHECKPOINT_OUTPUTS = (checkpoints.PREFIX + "-*", "checkpoint", checkpoints.CONFIG_FILE,
                      sampling.SAMPLE_Z, "tensorboard")


def check_checkpoint_dir_free(folder):
    """A new run writes only into a checkpoint folder that holds none of a run's file names
    (the user's own `checkpoint` or `tensorboard/` there would be overwritten)."""
    found = [n for pattern in CHECKPOINT_OUTPUTS for n in outputs.files_like(folder, (pattern,))]
    if found:
        raise UsageError(f"--checkpoint-dir {folder} holds {found[0]} but no config.json, so no run "
                         f"of this repository wrote it; move it away or pass another "
                         f"--checkpoint-dir")


def say_earlier_samples(saved, explicit, cfg, log):
    """A run saved before sample folders followed their checkpoint folder: where its samples
    are, which this run leaves as they are."""
    earlier = config.earlier_sample_dir(saved, explicit, cfg.sample_dir)
    if earlier:
        log(f"note: {cfg.checkpoint_dir}/config.json names {earlier} for its samples; they stay "
            f"as they are and this run writes {cfg.sample_dir} (pass --sample-dir {earlier} "
            f"to go on there)")


def start_fresh(spec, flags, saved, explicit=()):
    """--fresh: delete the previous run of this script in these folders, and only its files."""
    folder = flags["checkpoint_dir"]
    samples = flags["sample_dir"]  # never a folder named by config.json: a copy names the original's
    if saved is None:
        check_checkpoint_dir_free(folder)
    if saved is not None and saved["model"] != spec.name:
        raise UsageError(f"--fresh: {folder} holds a {saved['model']} run, and --fresh only starts "
                         f"a {spec.name} run over; pass another --checkpoint-dir")
    owner = outputs.read_owner(samples)
    ours = owner is not None and saved is not None and owner == saved.get("run_id")
    if owner is not None and not ours:
        raise UsageError(f"--fresh: --sample-dir {samples} holds another run's samples; pass "
                         f"another --sample-dir")
    found = outputs.files_like(samples, outputs.TRAINING_OUTPUTS)
    if owner is None and found:
        raise UsageError(f"--fresh: --sample-dir {samples} holds {found[0]} and other files no run "
                         f"of this repository claims; move them away or pass another --sample-dir")
    # Listed and matched by name, never globbed (the folder is the user's path); a symlink among
    # them is unlinked, never followed.
    doomed = [os.path.join(folder, n) for n in outputs.files_like(folder, CHECKPOINT_OUTPUTS)]
    if ours:
        doomed += [os.path.join(samples, n) for n in outputs.files_like(
            samples, outputs.TRAINING_OUTPUTS + outputs.GENERATED_OUTPUTS + (outputs.RUN_MARKER,))]
    for path in doomed:
        remove_entry(path)


# ---------------------------------------------------------------------------------------------
# Entry point

def refuse_linked_folders(folder):
    """The run's own subfolders are written into, file by file: one that is a symlink (to the
    user's folder, say) is refused, never written through."""
    path = os.path.join(folder, "tensorboard")
    if os.path.islink(path):
        raise UsageError(f"{path} is a symlink, not this run's TensorBoard folder; remove the "
                         f"link, or pass another --checkpoint-dir")


def refuse_generator_only(spec, flags):
    """A folder that holds G alone (--export-generator's, or a shipped pretrained/ one) is
    read-only to every command but --generate, which also needs no D from it."""
    folder = flags["checkpoint_dir"]
    wanted = ("--refine" if flags.get("refine") else "--reject" if flags.get("reject") else None)
    if flags["generate"] and not wanted:
        return
    if not checkpoints.generator_only(folder):
        return
    what = (f"{wanted} needs the run's discriminator" if flags["generate"] else
            "--fresh would delete it" if flags["fresh"] else "training needs D and the optimizers")
    raise UsageError(f"{folder} holds a generator-only export (G alone, read-only here): "
                     f"{what}; draw from it with --generate, or pass another --checkpoint-dir")


def main(spec, argv=None, log=print):
    """Parse, check and freeze the config, then train or generate; errors are one line."""
    argv = sys.argv[1:] if argv is None else argv
    flags, explicit, cli = config.parse(spec, argv)
    new_folders = [f for f in (flags["checkpoint_dir"], flags["sample_dir"])
                   if not os.path.lexists(f)]
    try:
        refuse_generator_only(spec, flags)
        if flags["generate"]:
            saved = config.read_saved(cli, flags["checkpoint_dir"])
            if saved is None:
                raise UsageError(f"no trained model in {flags['checkpoint_dir']}; train first "
                                 f"(python {spec.name}.py) or pass --checkpoint-dir")
            cfg = config.freeze(spec, config.merge_saved(spec, flags, explicit, saved), explicit,
                                log=log)
            config.check_outputs_apart(cfg)
            say_earlier_samples(saved, explicit, cfg, log)
            config.check_export_folder(cfg)
            if cfg.reject or (cfg.refine and cfg.shape_steps):
                config.check_saved_data_dir(cfg, explicit, log)
            config.check_writable(cfg.sample_dir, "--sample-dir")
            return sampling.generate(spec, cfg, cli, log)
        cluster = distributed.prepare(flags, f"{spec.name}.py")  # --worker-hosts, TF_CONFIG
        if cluster is not None:
            log = distributed.RUNTIME.log_without_scratch(log)
        config.check_writable(flags["checkpoint_dir"], "--checkpoint-dir")
        with checkpoints.RunLock(flags["checkpoint_dir"]):
            saved = config.read_saved(cli, flags["checkpoint_dir"])
            if not flags["fresh"]:
                distributed.check_resume(flags["checkpoint_dir"], flags["workers"])
            if flags["fresh"]:  # checked as a new run before anything is deleted
                cfg = config.freeze(spec, config.merge_saved(spec, flags, explicit, None),
                                    explicit, log=log)
                config.check_outputs_apart(cfg)
                start_fresh(spec, flags, saved, explicit)
                saved = None
            else:
                if saved is not None and not checkpoints.checkpoint_steps(flags["checkpoint_dir"]):
                    saved = {k: v for k, v in saved.items() if k not in config.OPTIMIZER_FLAGS}
                cfg = config.freeze(spec, config.merge_saved(spec, flags, explicit, saved),
                                    explicit, log=log)
                config.check_outputs_apart(cfg)
                say_earlier_samples(saved, explicit, cfg, log)
            config.check_writable(cfg.sample_dir, "--sample-dir")  # a resumed run's own
            if saved is None:
                check_checkpoint_dir_free(cfg.checkpoint_dir)
            refuse_linked_folders(cfg.checkpoint_dir)
            config.check_saved_data_dir(cfg, explicit, log)
            dataset = data.load_training_data(
                cfg.dataset, cfg.data_dir, cfg.image_size, cfg.channels, log,
                cache_dir=picture_cache.cache_dir_of(cfg), cache_named=bool(cfg.cache_dir))
            cfg = config.fit_to_data(cfg, explicit, len(dataset.images))
            if cluster is not None:
                distributed.connect(cfg)
            # The sample folder is claimed, and config.json written, only once the newest
            # checkpoint has been restored (train()): a refused start leaves neither behind.
            adopt = saved is not None and saved.get("run_id") is None
            to_save = config.values_to_save(cfg, cli)
            if saved is not None and "precision" not in explicit and saved.get("precision"):
                to_save["precision"] = saved["precision"]  # a fallback here (bf16 -> fp32) is
                # this machine's, not the run's: back on a bf16 CPU it goes on at bf16
            return train(spec, cfg, dataset, to_save,
                         lambda: outputs.claim_sample_dir(cfg.sample_dir, cfg.run_id,
                                                          cfg.checkpoint_dir, adopt=adopt), log)
    except UserError as e:
        remove_if_empty(new_folders)
        print(f"{spec.name}.py: error: {e}", file=sys.stderr)
        return e.exit_code
    except WriteFailed as e:  # an output of --generate: the file before it is as it was
        remove_if_empty(new_folders)
        print(f"{spec.name}.py: error: {e}", file=sys.stderr)
        return 1
    except (MemoryError, tf.errors.ResourceExhaustedError, tf.errors.AbortedError) as e:
        # past the estimate (memory.check_graph): TensorFlow or numpy could not allocate
        what = (getattr(e, "message", "") or str(e) or type(e).__name__).strip()
        what = what.splitlines()[0][:200] if what else type(e).__name__
        kind = ("TensorFlow aborted the step, most often for want of memory"
                if isinstance(e, tf.errors.AbortedError) else "ran out of memory")
        print(f"{spec.name}.py: error: {kind} ({what}); {memory.GRAPH_FIX}", file=sys.stderr)
        return 1
    except tf.errors.UnknownError as e:  # a picture cache's batch read failed mid-step
        error = picture_cache.error_in_step(e)
        if error is None:
            raise
        print(f"{spec.name}.py: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:  # before the loop's own handler is installed: nothing to save yet
        print(f"{spec.name}.py: interrupted; nothing was saved", file=sys.stderr)
        return 130
    finally:
        distributed.stop()  # a worker's throwaway folder


def remove_if_empty(folders):
    """The folders this start made, if a refused start left them empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            pass


def run(spec):
    """Entry point for a script's `if __name__ == "__main__"`: TF1 graph mode, then main()."""
    v1.disable_eager_execution()
    sys.exit(main(spec))
