"""MLP GAN with batch norm and dropout on MNIST, after article 004 (FaBo, in Japanese); the
default recipe leaves G's dropout out (`--recipe article` and `info` keep it).

    python gan_mlp.py                     # 10 epochs, info-nodrop recipe, Adam 5e-4, G averaged
    python gan_mlp.py --recipe article --epochs 71 --learning-rate 2e-4 --ema 0  # the article
    python gan_mlp.py --device /cpu:0     # the article's device switch (tf.device)
    python gan_mlp.py --generate          # new digits from the newest checkpoint

Epoch-based as in the article: a line per epoch with D/G loss and its time, a CSV row, a
checkpoint and a sample grid per epoch, at any --batch-size (at batch 100: 600 steps).

Defaults that differ from the article's, each measured over seeds 0, 1 and 2 where it says so
(docs/RESULTS.md): 10 epochs instead of 71 (after 71 the digit 2 had nearly vanished and ones
made 28% of the samples); samples drawn with a moving average of G's weights (--ema 0.999);
Adam 5e-4 instead of 2e-4; and the `info-nodrop` recipe. Its `code` change is InfoGAN's 10-way
categorical code in z (G takes the one-hot of the argmax of z's last 10 entries) and a head on
D that recovers it, so G need not draw between two digits: Adam 1e-3 scored 8.17 on seed 0 but
collapsed on seeds 1 and 2 (4.69, 4.83), with the code too on seed 0 (5.18); the code at 5e-4
(`--recipe info`) held on all three seeds (8.89, 9.09, 9.34 on an AMD EPYC with AVX512-BF16).
Its `nodrop` change leaves out the dropout before G's output layer: G is sampled without it,
and trained without it its samples came nearer the real digits' spread (Frechet 50 against 83
for `info`, mean of seeds 0-2 on an AMD EPYC without AVX-512, lower on each seed).

Differences from the article, each a bug fix or the repository's convention:
- the article applied sigmoid_cross_entropy_with_logits to D's already-sigmoided output (a
  double sigmoid that flattens every gradient); D returns logits here;
- G's last layer is 2*sigmoid(x)-1 = tanh(x/2), the article's sigmoid mapped to the [-1, 1]
  pixel range every script shares (data are scaled to match, so D sees the same problem);
- batch norm keeps moving averages, so sampling in eval mode does not depend on the batch;
- dropout masks come from a stateless seed (per step), so resumed runs are exact.
"""

from gan import tf_quiet  # noqa: F401  (before TensorFlow: keeps its start-up lines off the console)
import tensorflow as tf

from gan import training
from gan.graph import step_seed
from gan.layers import (batch_norm, categorical_code, dense, dropout, minibatch_stddev,
                        with_code_head)

# fp32, not --precision auto: at bf16 seeds 0-2 scored 8.82 on average against fp32's 9.11,
# below fp32's lowest seed (docs/RESULTS.md), so here bf16 does not train as well.
DEFAULTS = dict(epochs=10, batch_size=100, z_dim=100, learning_rate=5e-4, beta1=0.5, beta1_d=0.1,
                ema=0.999, recipe="info-nodrop", log_every="epoch", save_every="epoch",
                sample_every="epoch", precision="fp32")
KEEP_RATE = 0.5  # the article's dropout keep_prob before G's output layer
RECIPE_CHANGES = {
    "mbstd": "D sees the batch's spread (minibatch standard deviation, Karras et al. 2018) "
             "before its output layer",
    "code": "a 10-way categorical code (z's last 10 entries, given to G one-hot) and a head on D "
            "that recovers it (InfoGAN, Chen et al. 2016), so G need not draw between digits",
    "nodrop": "G without the article's dropout before its output layer (G's samples are drawn "
              "without it, so training and sampling then see the same G)",
    "sn": "D's weights divided by their largest singular value (spectral normalization, Miyato "
          "et al. 2018)",
}
RECIPES = {"article": (), "info": ("code",),
           "info-nodrop": ("code", "nodrop")}  # info-nodrop: the default (docs/RESULTS.md)


def generator(z, labels, cfg, training_):
    """z 100 -> 256 -> 512 -> 1024 (each dense, leaky ReLU 0.2, BN) -> dropout -> 784 -> 28x28x1.

    Recipe change "code": z's last 10 entries become the one-hot of their argmax.
    Recipe change "nodrop": no dropout."""
    h = categorical_code(z) if "code" in cfg.changes else z
    for i, units in enumerate((256, 512, 1024), start=1):
        h = batch_norm(tf.nn.leaky_relu(dense(h, units, f"gen_fc{i}"), 0.2), training_,
                       f"gen_bn{i}")
    if "nodrop" not in cfg.changes:
        h = dropout(h, 1.0 - KEEP_RATE, training_, seed=step_seed(cfg, stream=1))
    image = tf.nn.tanh(0.5 * dense(h, 28 * 28, "gen_out"))  # = 2 * sigmoid(x) - 1
    return tf.reshape(image, [-1, 28, 28, 1])


def discriminator(images, labels, cfg, training_):
    """784 -> 1024 -> 512 -> 256 (dense, leaky ReLU 0.2, no BN) -> 1 logit.

    Recipe change "mbstd": the batch's spread joins the 256 features (a 257th) before the heads.
    Recipe change "code": a second head on those features, the code's 10 logits.
    Recipe change "sn": every layer of D (heads too) spectrally normalized."""
    sn = "sn" in cfg.changes
    h = tf.reshape(images, [-1, 28 * 28])
    for i, units in enumerate((1024, 512, 256), start=1):
        h = tf.nn.leaky_relu(dense(h, units, f"dis_fc{i}", spectral_norm=sn), 0.2)  # article's op
    if "mbstd" in cfg.changes:
        h = minibatch_stddev(h)
    logit = dense(h, 1, "dis_out", spectral_norm=sn)
    return with_code_head(logit, h, "dis_code", spectral_norm=sn) if "code" in cfg.changes \
        else logit


SPEC = training.GanSpec(name="gan_mlp", generator=generator, discriminator=discriminator,
                        defaults=DEFAULTS, recipes=RECIPES, recipe_changes=RECIPE_CHANGES,
                        arch_flags=("recipe",))

if __name__ == "__main__":
    training.run(SPEC)
