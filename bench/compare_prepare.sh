#!/usr/bin/env bash
# fluxkit prepare against a faithful re-implementation of the seed's Python preparation (bench/prepare_seed.py)
# on the same synthetic 1-degree experiment: training 1958-1988 and validation 1989-2008 at fraction 0.01 from
# experiment_5, full global test years from experiment_1. Same cells (fluxkit in NumPy-compatible mode).
#
#   bench/compare_prepare.sh [WORKDIR] [FIRST_TEST_YEAR] [LAST_TEST_YEAR]
#
# Defaults: WORKDIR=/tmp/fluxkit_bench_prepare, test years 2017-2018 (the Python side takes ~2 min per global
# test year; 2009 2018 is the full case, ~22 min). Prints both wall times, peak memory and the ratios.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
FLUXKIT="${FLUXKIT:-$SRC/build/fluxkit}"
WORK="${1:-/tmp/fluxkit_bench_prepare}"
T0="${2:-2017}"
T1="${3:-2018}"
PY=/usr/bin/python3
mkdir -p "$WORK"

if [[ ! -f $WORK/data/experiment_1/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.hind_2018.nc ]]; then
  echo "generating the 1-degree experiment (1958-2018, both experiments)..."
  "$FLUXKIT" synth ocean --output-dir "$WORK/data" --resolution 1 --start-year 1958 --end-year 2018 --verbosity warn
fi
if [[ ! -f $WORK/pickles/.done ]]; then
  echo "converting to seed-style pickles (not timed)..."
  "$PY" "$SRC/bench/make_seed_pickles.py" --input "$WORK/data" --output "$WORK/pickles"
  touch "$WORK/pickles/.done"
fi

echo "fluxkit prepare..."
rm -rf "$WORK/fluxkit_out"
/usr/bin/time -f "%e %M" -o "$WORK/fluxkit.time" "$FLUXKIT" prepare --root "$WORK/data" --output-dir "$WORK/fluxkit_out" \
  --subsample numpy --train-fraction 0.01 --validation-fraction 0.01 --validation-context false \
  --test-experiments experiment_1 --test-regions global --test-years "$T0,$T1" --verbosity warn
read -r fk_s fk_kb <"$WORK/fluxkit.time"

echo "seed re-implementation (Python)..."
rm -rf "$WORK/seed_out"
/usr/bin/time -f "%e %M" -o "$WORK/seed.time" "$PY" "$SRC/bench/prepare_seed.py" --pickles "$WORK/pickles" \
  --out "$WORK/seed_out" --train-years 1958 1988 --val-years 1989 2008 --test-years "$T0" "$T1" \
  --train-experiment experiment_5 --test-experiment experiment_1 --frac 0.01 --regions global \
  --summary "$WORK/seed_summary.json" >"$WORK/seed.log"
read -r py_s py_kb <"$WORK/seed.time"

echo
printf '%-34s %10s %14s\n' "" "wall (s)" "peak RSS (MB)"
printf '%-34s %10.1f %14.0f\n' "fluxkit prepare" "$fk_s" "$((fk_kb / 1024))"
printf '%-34s %10.1f %14.0f\n' "seed approach (pandas + loop)" "$py_s" "$((py_kb / 1024))"
awk -v a="$py_s" -v b="$fk_s" -v c="$py_kb" -v d="$fk_kb" \
  'BEGIN { printf "speed-up %.0fx, memory %.1fx less (test years '"$T0"'-'"$T1"')\n", a / b, c / d }'
