"""Quick ablations: train a script's graph in-process for a few thousand steps and score it.

    .venv/bin/python bench/ablate.py dcgan --recipe mbstd,glrelu --beta1 0.5 \\
        --learning-rate 2e-4 --steps 3000 --batch-size 64

Same graph code as the scripts (training.build_training), seed 0, one data permutation for the
whole run (no per-epoch reshuffle, no checkpoints or grids: faster than a real run), then
evaluate.py's figures for 5,000 samples (z from numpy seed 1) in eval mode. Prints a sample
spread ("diversity": the mean over pixels of the std over 64 fixed z) every 250 steps, and a
RESULT line (two with --ema: averaged weights, then the last ones); writes a grid of 64 samples
to --grid. The dcgan ablation table in README.md was measured with this script.
"""

import argparse
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

import evaluate
import training
import utils

v1 = tf.compat.v1


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    module = importlib.import_module(sys.argv[1])
    args = sys.argv[2:]
    grid = "ablation.png"
    if "--grid" in args:
        grid = args.pop(args.index("--grid") + 1)
        args.remove("--grid")
    cfg, _ = training.parse_config(module.SPEC, args)
    cfg.device, cfg.dataset = "/cpu:0", "mnist"
    images, labels = utils.load_mnist(cfg.data_dir, "train")
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(0)
        v1.train.get_or_create_global_step()
        sampler = training.build_sampler(module.SPEC, cfg)
        ops = training.build_training(module.SPEC, cfg, len(images), images.shape[1:])
        samplers = {"": sampler}
        if cfg.ema:  # also score the last weights, from the same run
            samplers["last weights "] = training.build_sampler(
                module.SPEC, argparse.Namespace(**{**vars(cfg), "ema": 0.0}))
        init = [v1.global_variables_initializer(), v1.local_variables_initializer()]
    fixed_z = np.random.uniform(-1, 1, (64, cfg.z_dim)).astype(np.float32)
    with v1.Session(graph=graph) as sess:
        sess.run(init, {ops["images_in"]: images, ops["labels_in"]: labels.astype(np.int32)})
        sess.run(ops["reshuffle"])
        for step in range(cfg.steps):
            d_loss, g_loss, _ = training.train_step(sess, ops, module.SPEC.g_steps,
                                                    fetch_losses=True)
            if step % 250 == 0:
                x = sess.run(sampler["images"], {sampler["noise"]: fixed_z,
                                                 sampler["is_training"]: True})
                print(step, round(float(d_loss), 3), round(float(g_loss), 3), "diversity",
                      round(float(x.std(axis=0).mean()), 4), flush=True)
        classifier = evaluate.Classifier()
        reference, _ = classifier(utils.load_mnist(cfg.data_dir, "test")[0])
        z = np.random.default_rng(1).uniform(-1, 1, (5000, cfg.z_dim)).astype(np.float32)
        labels = np.arange(5000) % 10 if module.SPEC.conditional else None
        samples = {k: training.generate_images(sess, s, z, labels) for k, s in samplers.items()}
    for kind, images in samples.items():
        r = evaluate.score(images, classifier, reference, labels)
        print("RESULT", kind + " ".join(args), "score", round(r["mnist_score"], 3), "frechet",
              round(r["frechet"], 1), "digits", r["digits_present"], "largest",
              round(r["largest_share"], 3), flush=True)
    utils.save_png(grid, utils.image_grid(samples[""][:64]))


if __name__ == "__main__":
    main()
