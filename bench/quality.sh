#!/usr/bin/env bash
# Train one configuration from scratch, time it, and score 10,000 samples with evaluate.py.
#   bench/quality.sh NAME SCRIPT [FLAGS...]      e.g. bench/quality.sh dcgan-stable dcgan.py
# Writes runs/NAME/{train.log,eval.txt,eval.json}; the README's results table comes from these.
# A run with --ema is scored twice: with the averaged weights, then with G's last weights.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 script=$2
shift 2
out=runs/$name
mkdir -p "$out"
start=$(date +%s)
.venv/bin/python "$script" --fresh --sample-dir "$out/samples" --checkpoint-dir "$out/checkpoints" \
    "$@" > "$out/train.log" 2>&1
seconds=$(( $(date +%s) - start ))
.venv/bin/python evaluate.py --checkpoint-dir "$out/checkpoints" --num-images 10000 \
    --json "$out/eval.json" 2>/dev/null > "$out/eval.txt"
if ! grep -q '"ema": 0.0' "$out/checkpoints/config.json"; then  # what the average adds
    .venv/bin/python evaluate.py --checkpoint-dir "$out/checkpoints" --num-images 10000 \
        --last-weights 2>/dev/null | grep -E "^runs/" >> "$out/eval.txt"
fi
echo "$name: python $script $* -> ${seconds}s wall" | tee -a "$out/eval.txt"
grep -E "^runs/" "$out/eval.txt"
