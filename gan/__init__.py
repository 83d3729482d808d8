"""The machinery the four article scripts share, one job a module.

    training     GanSpec (what a script declares), the Schedule, main() and the loop
    config       every shared flag, config.json read back and checked, the frozen RunConfig
    flags        flag types and the CommandLine table (no TensorFlow)
    graph        the TF1 graph: in-graph batches, sampler, train ops, towers, EMA, session
    layers       dense, conv, transposed conv, batch norm, leaky ReLU, the InfoGAN code
    losses       the standard GAN loss (sigmoid cross-entropy on logits)
    data         which data a run trains on: MNIST through utils.py, or a picture folder
    pictures     listing a picture folder and decoding one picture as a viewer shows it
    picture_cache  a picture folder decoded once onto disk and read a batch at a time
    distributed  --worker-hosts: several machines, gradients averaged by collective all-reduce
    sampling     the fixed-z grids, --generate, --walk, --code, --export-generator
    guided_sampling  --refine and --reject: sampling with the run's own discriminator
    checkpoints  scanning, strict restore with fallback, retention, config.json, the run lock
    outputs      loss CSV and plot, PNG writing, which run owns a sample folder
    metrics      the fixed MNIST classifier and the scores (evaluate.py, --eval-every)
    memory       how much memory is left, and estimates before big allocations
    errors, files, machine, tf_quiet   one-line errors, whole writes, the CPU, quiet TF import
"""
