"""Sampling with the trained discriminator: rejection (--reject) and refinement (--refine).

Both use the run's own G and D and nothing else: never evaluate.py's classifier, never a model
trained on labels (cgan's D takes the requested digit, as it did in training).

- Refinement (Liu, Kothari, Alahi, "Collaborative Sampling in GANs", AAAI 2020): take G's
  activation h at one hidden layer, move it `steps` times against the gradient of G's own loss
  through the rest of G and D, h <- h - rate * dL/dh, then run the rest of G on it. The later
  layers keep the image on G's output manifold; the steps move it where D sees real digits.
- Discriminator shaping (the same paper, --shape-steps): before refining, D is fine-tuned for
  a few hundred plain gradient steps on real training images against refined samples (its own
  loss, at a small rate), so that its gradient is informative where refinement moves samples.
  D changes in the session only; the checkpoint is never written.
- Rejection (Azadi et al., "Discriminator Rejection Sampling", ICLR 2019): D's score is first
  calibrated (a logistic fit, on real training images against fresh samples, of
  p(real | score)), its logit d(x) estimates log p_data/p_g, and a sample is kept with
  probability sigmoid(F), F = d - d_max - log(1 - exp(d - d_max - eps)) - gamma, with d_max the
  largest logit seen and gamma the `percentile` of F over a burn-in of samples.
"""

import dataclasses
import time

import numpy as np

from gan import graph
from gan import outputs
from gan.flags import NUM_CLASSES
from gan.errors import UsageError

BURN_IN = 10_000  # samples that set d_max and gamma
SHAPE_BATCH = 64  # real and refined images per shaping step
CALIBRATION = 5_000  # real training images (and as many samples) that calibrate D's score
EPSILON = 1e-6


def check_layer(model, layer):
    count = len(model.sampler.layers)
    if not -count <= layer < count:
        raise UsageError(f"--refine-layer {layer}: G has {count} hidden layers here; use 0 to "
                         f"{count - 1}, or -1 for the last")


def refine(sess, model, z, labels=None, steps=10, rate=0.3, layer=0, batch=500):
    """Images in [-1, 1] for z after `steps` refinement steps at G's hidden layer `layer`."""
    check_layer(model, layer)
    hidden, gradient = model.sampler.layers[layer], model.critic.layer_gradients[layer]
    parts = []
    for i in range(0, len(z), batch):
        feed = graph.sampler_feed(model.sampler, z[i:i + batch],
                                  None if labels is None else labels[i:i + batch])
        h = sess.run(hidden, feed)
        for _ in range(steps):
            h = h - rate * sess.run(gradient, {**feed, hidden: h})
        parts.append(sess.run(model.sampler.images, {**feed, hidden: h}))
    return np.concatenate(parts)


def shape(sess, model, real_images, real_labels, z_dim, steps, rate, rng, refine_steps=10,
          refine_rate=0.3, layer=0, batch=SHAPE_BATCH, log=print):
    """Discriminator shaping: `steps` plain gradient-descent steps of D's own loss on a batch of
    real images (uint8, drawn from real_images; cgan: with their digits, which the fakes share)
    against as many samples refined with the current D. Returns D's loss (first, last step)."""
    critic, started, losses = model.critic, time.perf_counter(), []
    for _ in range(steps):
        pick = rng.integers(0, len(real_images), batch)
        labels = None if model.sampler.labels is None else real_labels[pick]
        z = rng.uniform(-1, 1, (batch, z_dim)).astype(np.float32)
        fakes = refine(sess, model, z, labels, refine_steps, refine_rate, layer, batch)
        feed = {**graph.sampler_feed(model.sampler, z, labels),
                critic.real_images: real_images[pick], critic.fake_images: fakes,
                critic.shape_rate: rate}
        losses.append(sess.run([critic.shape_loss, critic.shape_step], feed)[0])
        if not np.isfinite(losses[-1]):
            raise UsageError(f"--shape-steps: D's loss became {losses[-1]} at step {len(losses)} "
                             f"with --shape-rate {rate:g}; use a smaller rate (1e-3 is measured)")
    if steps:
        log(f"--shape-steps: {steps} steps of D at rate {rate:g} in "
            f"{time.perf_counter() - started:.0f} s; D's loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return (float(losses[0]), float(losses[-1])) if steps else None


def scores(sess, model, z, labels=None, batch=1000):
    """D's raw output on G(z)."""
    return np.concatenate([sess.run(model.critic.fake_scores, graph.sampler_feed(
        model.sampler, z[i:i + batch], None if labels is None else labels[i:i + batch]))
        for i in range(0, len(z), batch)])


def fit_logistic(x, y, iterations=50):
    """(a, b) of p(y=1 | x) = sigmoid(a x + b), by Newton's method on the log-likelihood."""
    x = (x - x.mean()) / (x.std() + 1e-12)
    a, b = 0.0, 0.0
    design = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(a * x + b)))
        gradient = design.T @ (y - p)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        a, b = np.array([a, b]) + np.linalg.solve(hessian, gradient)
    return a, b


@dataclasses.dataclass
class Rejection:
    """A calibrated acceptance rule and what it accepted so far."""
    scale: float
    shift: float
    mean: float
    std: float
    d_max: float
    gamma: float
    seen: int = 0
    kept: int = 0

    def logit(self, raw):
        return self.scale * (raw - self.mean) / (self.std + 1e-12) + self.shift

    def accept(self, raw, rng):
        d = self.logit(raw)
        self.d_max = max(self.d_max, float(d.max()))
        keep = rng.uniform(size=len(d)) < acceptance(d, self.d_max, self.gamma)
        self.seen, self.kept = self.seen + len(d), self.kept + int(keep.sum())
        return keep


def f_statistic(d, d_max):
    """F before its shift gamma: d - d_max - log(1 - exp(d - d_max - eps)), kept finite."""
    return d - d_max - np.log1p(-np.exp(np.minimum(d - d_max - EPSILON, -EPSILON)))


def acceptance(d, d_max, gamma):
    return 1.0 / (1.0 + np.exp(-(f_statistic(d, d_max) - gamma)))


def calibrate(sess, model, real_images, real_labels, draw, percentile):
    """The acceptance rule for this run: D's score calibrated on real images against fresh
    samples, d_max and gamma from a burn-in of BURN_IN samples. `draw(n)` -> (z, labels)."""
    real_feed = {model.critic.real_images: real_images}
    if model.sampler.labels is not None:
        real_feed[model.sampler.labels] = np.eye(NUM_CLASSES, dtype=np.float32)[real_labels]
    real = sess.run(model.critic.real_scores, real_feed)
    fake = scores(sess, model, *draw(len(real)))
    both = np.concatenate([real, fake])
    a, b = fit_logistic(both, np.concatenate([np.ones(len(real)), np.zeros(len(fake))]))
    rule = Rejection(a, b, float(both.mean()), float(both.std()), -np.inf, 0.0)
    burn_in(sess, model, rule, draw, percentile)
    return rule


def burn_in(sess, model, rule, draw, percentile, count=None):
    """Set the rule's d_max and gamma from `count` (BURN_IN) fresh samples of draw."""
    burn = rule.logit(scores(sess, model, *draw(count or BURN_IN)))
    rule.d_max = float(burn.max())
    rule.gamma = float(np.percentile(f_statistic(burn, rule.d_max), percentile))
    return rule


def reject(sess, model, n, draw, rule, rng, batch=1000, max_draws=100):
    """(the z of n samples kept by the rule, their labels (cgan) or None)."""
    kept_z, kept_labels, count = [], [], 0
    for _ in range(max_draws * max(1, n // batch + 1)):
        z, labels = draw(batch)
        keep = rule.accept(scores(sess, model, z, labels), rng)
        kept_z.append(z[keep])
        if labels is not None:
            kept_labels.append(labels[keep])
        count += int(keep.sum())
        if count >= n:
            break
    else:
        raise UsageError(f"--reject kept {rule.kept} of {rule.seen} samples; lower "
                         f"--reject-percentile")
    return np.concatenate(kept_z)[:n], (np.concatenate(kept_labels)[:n] if kept_labels else None)


def reject_each_digit(sess, model, labels, draw, rule, percentile, rng, z_dim):
    """The z of samples kept for each position of labels (cgan): every requested digit in its
    requested number. Each digit has its own d_max and gamma (a burn-in of its own samples):
    pooled, a digit D scores low would be kept rarely and crowded out by the others."""
    digits = np.unique(labels)
    z = np.empty((len(labels), z_dim), np.float32)
    seen = kept = 0
    for digit in digits:
        where = np.flatnonzero(labels == digit)
        draw_digit = lambda count, d=digit: (draw(count)[0], np.full(count, d, labels.dtype))
        own = burn_in(sess, model, dataclasses.replace(rule, seen=0, kept=0), draw_digit,
                      percentile, max(min(2000, BURN_IN), BURN_IN // len(digits)))
        z[where], _ = reject(sess, model, len(where), draw_digit, own, rng)
        seen, kept = seen + own.seen, kept + own.kept
    return z, seen, kept


def guided_images(sess, model, cfg, z, labels, real, rng, log=print):
    """uint8 images for z under cfg's --refine / --reject settings (plain G if neither), with
    the labels they carry, and the milliseconds per image it took (shaping D not counted).
    `real`: (uint8 training images, their digits or None) for --reject and --shape-steps."""
    return guided_draw(sess, model, cfg, z, labels, real, rng, log)[:3]


def guided_draw(sess, model, cfg, z, labels, real, rng, log=print):
    """guided_images, and the z the images are G of: under --reject the kept samples' z (in
    the order of `labels`: each requested digit where it was asked for), else z itself."""
    started = time.perf_counter()
    n = len(z)
    if cfg.reject:
        def draw(count):
            fresh = rng.uniform(-1, 1, (count, cfg.z_dim)).astype(np.float32)
            return fresh, (None if labels is None else np.resize(labels, count))
        rule = calibrate(sess, model, real[0], real[1], draw, cfg.reject_percentile)
        if labels is None:
            z, _ = reject(sess, model, n, draw, rule, rng)
            seen, kept = rule.seen, rule.kept
        else:
            z, seen, kept = reject_each_digit(sess, model, labels, draw, rule,
                                              cfg.reject_percentile, rng, cfg.z_dim)
        images = graph.images_of(sess, model.sampler, z, labels)  # as the walk draws G(z)
        log(f"--reject: kept {kept} of {seen} samples ({kept / seen:.1%})")
    elif cfg.refine:
        if cfg.shape_steps:  # a one-off cost, not counted in the milliseconds per image
            shape(sess, model, real[0], real[1], cfg.z_dim, cfg.shape_steps, cfg.shape_rate,
                  np.random.default_rng([cfg.seed, 2]), cfg.refine, cfg.refine_rate,
                  cfg.refine_layer, log=log)
            started = time.perf_counter()
        images = refine(sess, model, z, labels, cfg.refine, cfg.refine_rate, cfg.refine_layer)
    else:
        images = graph.images_of(sess, model.sampler, z, labels)
    milliseconds = 1000 * (time.perf_counter() - started) / n
    return outputs.to_uint8(images), labels, milliseconds, z
