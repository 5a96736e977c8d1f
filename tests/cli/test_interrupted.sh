#!/usr/bin/env bash
# Interrupted runs: `kill -9` of `fluxkit prepare`, `train` and `reconstruct` at several moments, then the same
# command again, gives byte-identical outputs to an uninterrupted run (SOURCE_DATE_EPOCH set), with no file
# left over and none missing.
#
#   FLUXKIT=/path/to/fluxkit bash tests/cli/test_interrupted.sh <workdir>
#
# A tiny pipeline (4-degree grid, 2001-2004, XGBoost and a 1-epoch MLP). The reference runs each stage once in
# ref/. Each case copies the outputs of the earlier stages from ref/ into a fresh directory, starts the stage,
# kills it with SIGKILL after a delay or as soon as a given file appears, runs the same command again and
# compares every file (cmp) and the list of files with ref/. Prints one line per case and ends with
# "N passed, 0 failed"; stops at the first failure (files kept under <workdir>).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: FLUXKIT=<fluxkit binary> $0 <workdir>" >&2
  exit 2
fi
: "${FLUXKIT:?FLUXKIT must name the fluxkit binary}"
FLUXKIT="$(cd "$(dirname "$FLUXKIT")" && pwd)/$(basename "$FLUXKIT")"
mkdir -p "$1"
WORK="$(mktemp -d "$(cd "$1" && pwd)/run.XXXXXX")"
cd "$WORK"
export OMP_WAIT_POLICY=PASSIVE SOURCE_DATE_EPOCH=1700000000

passed=0
fail() {
  echo "FAIL  $1"
  echo "  $2"
  echo "  (files kept in $WORK)"
  echo "$passed passed, 1 failed"
  exit 1
}

cat >pipeline.toml <<'EOF'
[data]
root = "data"
[prepare]
output_dir = "samples"
train_years = [2001, 2002]
train_fraction = 0.2
validation_years = [2003, 2003]
validation_fraction = 0.2
test_experiments = ["experiment_1"]
test_years = [2004, 2004]
test_regions = ["global", "north_atlantic"]
[train]
output_dir = "models"
models = ["mlp", "xgboost"]
[model.mlp]
hidden_dims = [32, 16]
max_epochs = 1
batch_size = 64
[model.xgboost]
n_estimators = 20
max_depth = 4
[reconstruct]
models = ["mlp", "xgboost"]
experiments = ["experiment_1"]
regions = ["global", "north_atlantic"]
years = [2004, 2004]
output_dir = "reconstruction"
EOF

"$FLUXKIT" synth ocean --output-dir data --resolution 4 --start-year 2001 --end-year 2004 --threads 2 \
  --verbosity warn

STAGES=(prepare train reconstruct)
OUTPUT_OF_prepare=samples
OUTPUT_OF_train=models
OUTPUT_OF_reconstruct=reconstruction

# stage_exec <dir> <verb>: becomes the stage's command, always the same (the provenance records it). Run in
# the background (`stage_exec ... &`), $! is then fluxkit's own pid; stage runs it in the foreground.
stage_exec() {
  cd "$1" && exec "$FLUXKIT" --config ../pipeline.toml --threads 2 --verbosity warn "$2"
}
stage() {
  (stage_exec "$1" "$2")
}

# A directory with the data and the outputs of the stages before <verb>, copied from ref/.
setup() {  # dir verb
  rm -rf "$1"
  mkdir "$1"
  ln -s ../data "$1/data"
  local s
  for s in "${STAGES[@]}"; do
    [[ $s == "$2" ]] && break
    local out="OUTPUT_OF_$s"
    cp -a "ref/${!out}" "$1/"
  done
}

# Every file (and directory) under the stage's outputs, relative, sorted.
listing() {  # dir verb
  local out="OUTPUT_OF_$2"
  (cd "$1" && find "${!out}" | LC_ALL=C sort)
}

mkdir ref
ln -s ../data ref/data
start=$SECONDS
for s in "${STAGES[@]}"; do
  t0=$SECONDS
  stage ref "$s" >"ref.$s.log" 2>&1 || fail "reference $s" "$(tail -5 "ref.$s.log")"
  echo "ref   $s ($((SECONDS - t0)) s)"
done

# The reference is itself reproducible: a second uninterrupted run gives the same bytes.
compare() {  # name dir verb
  local name=$1 dir=$2 verb=$3
  local expected got
  expected="$(listing ref "$verb")"
  got="$(listing "$dir" "$verb")"
  [[ $expected == "$got" ]] || fail "$name" "files differ from ref: $(diff <(echo "$expected") <(echo "$got") | head -20)"
  local f n=0
  while IFS= read -r f; do
    [[ -f ref/$f ]] || continue
    cmp -s "ref/$f" "$dir/$f" || fail "$name" "$dir/$f differs from ref/$f: $(cmp "ref/$f" "$dir/$f" 2>&1 | head -1)"
    n=$((n + 1))
  done <<<"$expected"
  [[ $n -gt 0 ]] || fail "$name" "no file compared"
  echo "ok    $name ($n files identical)"
  passed=$((passed + 1))
}

for s in "${STAGES[@]}"; do
  setup "again_$s" "$s"
  stage "again_$s" "$s" >/dev/null 2>&1 || fail "second $s" "the second uninterrupted run failed"
  compare "$s twice: identical" "again_$s" "$s"
done

# kill_case <verb> <when>: <when> is a delay in seconds or file:<path under the case directory>.
killed_any_prepare=0 killed_any_train=0 killed_any_reconstruct=0
kill_case() {
  local verb=$1 when=$2
  local dir="kill_${verb}_${when//[^A-Za-z0-9.]/_}"
  setup "$dir" "$verb"
  stage_exec "$dir" "$verb" >"$dir.first.log" 2>&1 &
  local pid=$!
  if [[ $when == file:* ]]; then
    local f="$dir/${when#file:}" i
    for ((i = 0; i < 600; i++)); do
      [[ -e $f ]] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.02
    done
  else
    sleep "$when"
  fi
  local state="killed"
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null || echo "$FLUXKIT") == "$FLUXKIT" ]] ||
    fail "$verb killed at $when" "pid $pid is not fluxkit but $(readlink "/proc/$pid/exe")"
  if kill -9 "$pid" 2>/dev/null; then
    eval "killed_any_$verb=1"
  else
    state="finished before the kill"
  fi
  wait "$pid" 2>/dev/null || true
  stage "$dir" "$verb" >"$dir.second.log" 2>&1 || fail "$verb killed at $when" "the rerun failed: $(tail -5 "$dir.second.log")"
  compare "$verb killed at $when ($state), rerun" "$dir" "$verb"
}

kill_case prepare 0.1
kill_case prepare file:samples/train.nc
kill_case prepare file:samples/validation.nc
kill_case train 0.3
kill_case train 1.5
kill_case train file:models/mlp/model.toml
kill_case train file:models/xgboost.work/losses.csv.partial
kill_case reconstruct 0.5
kill_case reconstruct file:reconstruction/experiment_1/global/mlp_global_reconstruction_2004_experiment_1.nc

for s in "${STAGES[@]}"; do
  k="killed_any_$s"
  [[ ${!k} -eq 1 ]] || fail "$s was killed at least once" "every $s run finished before its kill: the test proves nothing"
done
echo "($((SECONDS - start)) s)"
echo "$passed passed, 0 failed"
cd /
rm -rf "$WORK"
