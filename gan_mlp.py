"""MLP GAN with batch norm and dropout on MNIST, after article 004 (FaBo, in Japanese).

    python gan_mlp.py                     # 10 epochs at Adam 1e-3, G's weights averaged
    python gan_mlp.py --epochs 71 --learning-rate 2e-4 --ema 0   # the article's run
    python gan_mlp.py --device /cpu:0     # the article's device switch (tf.device)
    python gan_mlp.py --generate          # new digits from the newest checkpoint

Epoch-based as in the article: a line per epoch with D/G loss and its time, a CSV row, a
checkpoint and a sample grid per epoch, at any --batch-size (at batch 100: 600 steps).

Defaults that differ from the article's, each measured (docs/RESULTS.md): 10 epochs instead of
71 (after 71 the digit 2 had nearly vanished and ones made 28% of the samples; after 10 all ten
digits were there, in 6x less time); samples drawn with a moving average of G's weights
(--ema 0.999: Frechet distance 195 instead of 230, MNIST score 7.65 instead of 7.45); and Adam
1e-3 instead of 2e-4 (score 8.17, Frechet 103; at 2e-3 it collapsed).

Differences from the article, each a bug fix or the repository's convention:
- the article applied sigmoid_cross_entropy_with_logits to D's already-sigmoided output (a
  double sigmoid that flattens every gradient); D returns logits here;
- G's last layer is 2*sigmoid(x)-1 = tanh(x/2), the article's sigmoid mapped to the [-1, 1]
  pixel range every script shares (data are scaled to match, so D sees the same problem);
- batch norm keeps moving averages, so sampling in eval mode does not depend on the batch;
- dropout masks come from a stateless seed (per step), so resumed runs are exact.
"""

import tf_quiet  # noqa: F401  (before TensorFlow: keeps its start-up lines off the console)
import tensorflow as tf

import training
from graph import step_seed
from layers import CODE_SIZE, batch_norm, categorical_code, dense, dropout

DEFAULTS = dict(epochs=10, batch_size=100, z_dim=100, learning_rate=1e-3, beta1=0.5, beta1_d=0.1,
                ema=0.999, recipe="article", log_every="epoch", save_every="epoch", sample_every="epoch")
KEEP_RATE = 0.5  # the article's dropout keep_prob before G's output layer
RECIPE_CHANGES = {
    "code": "a 10-way categorical code (z's last 10 entries, given to G one-hot) and a head on D "
            "that recovers it (InfoGAN, Chen et al. 2016), so G need not draw between digits",
}
RECIPES = {"article": (), "info": ("code",)}


def generator(z, labels, cfg, training_):
    """z 100 -> 256 -> 512 -> 1024 (each dense, leaky ReLU 0.2, BN) -> dropout -> 784 -> 28x28x1.

    Recipe change "code": z's last 10 entries become the one-hot of their argmax."""
    h = categorical_code(z) if "code" in cfg.changes else z
    for i, units in enumerate((256, 512, 1024), start=1):
        h = batch_norm(tf.nn.leaky_relu(dense(h, units, f"gen_fc{i}"), 0.2), training_,
                       f"gen_bn{i}")
    h = dropout(h, 1.0 - KEEP_RATE, training_, seed=step_seed(cfg, stream=1))
    image = tf.nn.tanh(0.5 * dense(h, 28 * 28, "gen_out"))  # = 2 * sigmoid(x) - 1
    return tf.reshape(image, [-1, 28, 28, 1])


def discriminator(images, labels, cfg, training_):
    """784 -> 1024 -> 512 -> 256 (dense, leaky ReLU 0.2, no BN) -> 1 logit.

    Recipe change "code": a second head on the 256 features, the code's 10 logits."""
    h = tf.reshape(images, [-1, 28 * 28])
    for i, units in enumerate((1024, 512, 256), start=1):
        h = tf.nn.leaky_relu(dense(h, units, f"dis_fc{i}"), 0.2)  # the article's op
    logit = dense(h, 1, "dis_out")
    if "code" in cfg.changes:  # column 0: real or fake; columns 1-10: the code's logits
        return tf.concat([logit, dense(h, CODE_SIZE, "dis_code")], axis=1)
    return logit


SPEC = training.GanSpec(name="gan_mlp", generator=generator, discriminator=discriminator,
                        defaults=DEFAULTS, recipes=RECIPES, recipe_changes=RECIPE_CHANGES,
                        arch_flags=("recipe",))

if __name__ == "__main__":
    training.run(SPEC)
