#!/usr/bin/env bash
# `fluxkit train` against the thesis code's own training, one epoch each, run the way users run them:
# fluxkit from its CLI (start-up, store loading, training and validation pass, artifact writing all timed);
# the thesis code's own datasets, loaders and `training.train_model` (bench/seed_train_epoch.py: only its
# training and validation pass is timed, not the pickle loading). Same training and validation windows, the
# thesis' hyper-parameters (fluxkit's defaults are the same), the same threads, OMP_WAIT_POLICY as the user
# has it (unset here). Prints wall, user and system seconds of each epoch and the speed-up.
#
#   SEED_DIR=/path/to/thesis/checkout bench/compare_training.sh [MODELS] [BATCHES]
#
# SEED_DIR: a checkout of the thesis code (nothing is downloaded). Defaults: MODELS="mlp lstm attention_lstm",
# BATCHES="32 256". The stores come from CONFIG (default configs/demo.toml: its prepare runs first if they are
# missing); TRAIN_FRACTION=f prepares separate stores with that training fraction under WORK (default
# /tmp/fluxkit_bench_training), e.g. TRAIN_FRACTION=0.0414 for the 163,836 training windows of the thesis'
# North Atlantic runs (with configs/demo.toml). Needs python3-torch.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
FLUXKIT="${FLUXKIT:-$SRC/build/fluxkit}"
CONFIG="${CONFIG:-$SRC/configs/demo.toml}"
WORK="${WORK:-/tmp/fluxkit_bench_training}"
MODELS="${1:-mlp lstm attention_lstm}"
BATCHES="${2:-32 256}"
THREADS="${THREADS:-$(nproc)}"
PY=/usr/bin/python3
: "${SEED_DIR:?set SEED_DIR to a checkout of the thesis code (training.py, dataset.py, models/, configs/)}"
[[ -f $SEED_DIR/training.py && -f $SEED_DIR/dataset.py ]] || {
  echo "SEED_DIR=$SEED_DIR: no training.py/dataset.py there" >&2
  exit 2
}
unset OMP_WAIT_POLICY
mkdir -p "$WORK"
cd "$SRC"

sets=()
if [[ -n ${TRAIN_FRACTION:-} ]]; then
  sets+=(--set "prepare.output_dir=\"$WORK/samples\"" --set "prepare.train_fraction=$TRAIN_FRACTION"
    --set "prepare.validation_fraction=$TRAIN_FRACTION" --set "prepare.test_years=[2018, 2018]"
    --set "prepare.test_regions=[\"north_atlantic\"]")
  samples="$WORK/samples"
else
  samples="$(sed -n 's/^output_dir = "\(.*samples\)"/\1/p' "$CONFIG" | head -1)"
fi
if [[ ! -f $samples/train.nc || ! -f $samples/validation.nc ]]; then
  data_root="$(sed -n '/^\[data\]/,/^\[/s/^root = "\(.*\)"/\1/p' "$CONFIG")"
  [[ -d $data_root ]] || "$FLUXKIT" synth ocean --config "$CONFIG" --verbosity warn
  "$FLUXKIT" prepare --config "$CONFIG" "${sets[@]}" --verbosity warn
fi

printf '%-16s %5s %8s | %8s %8s %7s %8s %7s | %8s %8s %7s %7s | %7s\n' model batch windows "fk wall" "fk user" \
  "fk sys" "epoch" "sys %" "seed wall" "seed usr" "seed sys" "sys %" speed-up
for model in $MODELS; do
  for batch in $BATCHES; do
    rm -rf "$WORK/models"
    /usr/bin/time -f "%e %U %S" -o "$WORK/fluxkit.time" "$FLUXKIT" train --config "$CONFIG" "${sets[@]}" \
      --threads "$THREADS" --set "train.models=[\"$model\"]" --set train.ensemble=1 \
      --set "train.ensemble_models=[]" --set "train.output_dir=\"$WORK/models\"" --set "model.$model.max_epochs=1" \
      --set "model.$model.batch_size=$batch" --verbosity info >/dev/null 2>"$WORK/fluxkit.log"
    read -r fk_wall fk_user fk_sys <"$WORK/fluxkit.time"
    # The epoch alone (training and validation pass), from fluxkit's log: wall, user, system seconds.
    read -r ep_wall ep_user ep_sys < <(sed -n \
      's/.*epoch 1\/1 .*(\([0-9.]*\) s; process CPU \([0-9.]*\) s user, \([0-9.]*\) s system[,)].*/\1 \2 \3/p' \
      "$WORK/fluxkit.log")
    "$PY" "$SRC/bench/seed_train_epoch.py" --seed-dir "$SEED_DIR" --train "$samples/train.nc" \
      --validation "$samples/validation.nc" --model "$model" --batch "$batch" --threads "$THREADS" \
      2>/dev/null | tail -1 >"$WORK/seed.json"
    "$PY" - "$WORK/seed.json" "$model" "$batch" "$fk_wall" "$fk_user" "$fk_sys" "$ep_wall" "$ep_sys" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
fw, fu, fs, ew, es = map(float, sys.argv[4:9])
print(f"{sys.argv[2]:16s} {int(sys.argv[3]):5d} {s['windows']:8d} | {fw:8.1f} {fu:8.1f} {fs:7.1f} "
      f"{ew:8.1f} {100 * es / ew:6.1f}% | {s['wall_s']:8.1f} {s['user_s']:8.1f} {s['sys_s']:7.1f} "
      f"{100 * s['sys_s'] / s['wall_s']:6.1f}% | {s['wall_s'] / fw:6.2f}x")
PY
  done
done
echo "wall/user/sys: seconds of one epoch (fluxkit: the whole CLI run; 'epoch': its training and validation"
echo "pass alone, from its log); sys %: system time of the epoch / its wall time (the thesis code: its pass)"
