#!/usr/bin/env bash
# usage: bench/quality.sh NAME SCRIPT [FLAGS...]     e.g. bench/quality.sh dcgan-stable dcgan.py
# Train one configuration from scratch, time it, and score 10,000 samples with evaluate.py.
# SCRIPT is gan_mlp.py, dcgan.py, cgan.py or lsgan.py; FLAGS are its own (python SCRIPT --help),
# with paths relative to the repository root. Writes runs/NAME/{train.log,eval.log,eval.txt,
# eval.json}; the README's results table comes from these. A run with --ema is scored twice:
# with the averaged weights, then with G's last weights.
# Python: $PYTHON if set, else .venv/bin/python if the repository has one, else python3.
set -euo pipefail
prog=quality.sh
scripts="gan_mlp.py, dcgan.py, cgan.py or lsgan.py"

usage() {
    sed -n '2,8s/^# \{0,1\}//p' "$0"
}

error() {  # one line on stderr, exit 2 (or $2)
    echo "$prog: error: $1" >&2
    exit "${2:-2}"
}

show_tail() {  # the last lines of a failed step's log, on stderr
    echo "$prog: $1 failed (exit $2); the end of $3:" >&2
    tail -n 20 "$3" | sed 's/^/  /' >&2
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    "") error "give a run NAME and a SCRIPT ($scripts); see $prog --help" ;;
    -*) error "the first argument is the run's NAME, not a flag ($1); see $prog --help" ;;
esac
[[ $# -ge 2 ]] || error "give the SCRIPT to train after the NAME ($scripts); see $prog --help"
name=$1 script=${2%.py}.py
shift 2
[[ $name != */* && $name != . && $name != .. ]] \
    || error "NAME $name becomes runs/$name; use a plain name without slashes"
case "$script" in
    gan_mlp.py|dcgan.py|cgan.py|lsgan.py) ;;
    *) error "no training script ${script%.py}: use $scripts" ;;
esac
for flag in "$@"; do  # its folders are runs/NAME/: another folder would be started over (--fresh)
    case "$flag" in
        --checkpoint-dir*|--sample-dir*|--fresh) error "$flag: $prog trains into runs/$name/ itself; drop it" ;;
    esac
done

if [[ -n "${PYTHON:-}" ]]; then
    if [[ $PYTHON == */* ]]; then  # a path: keep it valid after the cd below
        folder=$(cd "$(dirname "$PYTHON")" 2>/dev/null && pwd) \
            || error "no Python at $PYTHON; set PYTHON to one that has requirements.txt installed"
        PYTHON=$folder/$(basename "$PYTHON")
    fi
fi
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
command -v "$PYTHON" > /dev/null \
    || error "no Python at $PYTHON; set PYTHON to one that has requirements.txt installed"

# Each Python step runs in the background and is waited for, so that Ctrl-C or SIGTERM reaches
# this script at once: it stops the step (SIGTERM: a training script saves and exits) and exits
# 130 / 143. A foreground child would be left running, reparented to PID 1.
child=
stop_child() {  # $1: the signal's name, $2: the exit code
    trap '' INT TERM
    if [[ -n $child ]] && kill -0 "$child" 2> /dev/null; then
        kill -TERM "$child" 2> /dev/null || true
        wait "$child" 2> /dev/null || true
    fi
    echo "$prog: error: stopped by $1${out:+; the run so far is in $out}" >&2
    exit "$2"
}
trap 'stop_child SIGINT 130' INT
trap 'stop_child SIGTERM 143' TERM
wait_child() {  # wait for the background step $1; its exit code
    child=$1
    local code=0
    wait "$child" || code=$?
    child=
    return "$code"
}

out=runs/$name
marker=$out/.made-by-quality.sh  # --fresh below starts over only a folder this script made
if [[ -e $out || -L $out ]] && [[ ! -f $marker || -L $marker ]]; then
    error "$out exists and was not made by $prog, so it will not start it over; pick another NAME, or move $out away"
fi
mkdir -p "$out"
: > "$marker"
start=$(date +%s)
status=0
"$PYTHON" "$script" --fresh --sample-dir "$out/samples" --checkpoint-dir "$out/checkpoints" \
    "$@" > "$out/train.log" 2>&1 &
wait_child $! || status=$?
seconds=$(( $(date +%s) - start ))
if (( status == 2 )); then  # a flag the script refused: its own one-line error says what to do
    line=$(grep -E ": error: " "$out/train.log" | tail -n 1) || line=$(tail -n 1 "$out/train.log")
    error "$script: ${line#*: error: } (python $script --help lists its flags)"
elif (( status != 0 )); then
    show_tail "training ($PYTHON $script $*)" "$status" "$out/train.log"
    exit "$status"
fi

# The reference digits: the MNIST test split in the run's own --data-dir.
data_dir=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["data_dir"])' \
           "$out/checkpoints/config.json")
evaluate() {  # $1: the file for evaluate.py's report; its messages go to eval.log
    local into=$1 status=0
    shift
    "$PYTHON" evaluate.py --checkpoint-dir "$out/checkpoints" --num-images 10000 \
        --data-dir "$data_dir" "$@" \
        > "$into" 2>> "$out/eval.log" &
    wait_child $! || status=$?
    if (( status != 0 )); then
        show_tail "evaluate.py $*" "$status" "$out/eval.log"
        exit "$status"
    fi
}
: > "$out/eval.log"
evaluate "$out/eval.txt" --json "$out/eval.json"
if ! grep -Eq '"ema": 0(\.0*)?,?$' "$out/checkpoints/config.json"; then  # what the average adds
    evaluate "$out/eval-last.txt" --last-weights
    grep -E "^runs/" "$out/eval-last.txt" >> "$out/eval.txt" || true
    rm -f "$out/eval-last.txt"
fi
echo "$name: python $script $* -> ${seconds}s wall" | tee -a "$out/eval.txt"
grep -E "^runs/" "$out/eval.txt"
