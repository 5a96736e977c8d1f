#!/usr/bin/env bash
# `fluxkit prepare` against the thesis code's own test-set preparation (data_preprocessing_test_sets.py), on
# the same generated 1-degree experiment, timed in one run (whole commands, start-up included), and a check
# that both produce the same samples (same cells, windows and targets, normalised with the same statistics).
#
#   SEED_DIR=/path/to/thesis/checkout bench/compare_prepare.sh [REGIONS] [YEARS]
#
# REGIONS: the thesis' spellings, default "North_Atlantic global"; YEARS default "2018". WORK (default
# /tmp/fluxkit_bench_prepare) keeps the generated experiment and its pickles between runs.
#
# The thesis script runs from a copy in WORK/seed_run with its configuration lines (experiment, YEARS, REGION,
# out_dir) set by sed and nothing else changed; it reads `data/experiment_data/experiment_1/...wind_{year}_df.pkl`
# (the `wind` tag it uses for experiment_1: symlinks to the experiment_1 pickles) and
# `data/training_set/training_stats.pkl`, written here from a fluxkit training store of experiment_5 in the
# thesis' format (pandas Series) and given to fluxkit as `[prepare] statistics`, so both normalise alike.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
FLUXKIT="${FLUXKIT:-$SRC/build/fluxkit}"
WORK="${WORK:-/tmp/fluxkit_bench_prepare}"
REGIONS="${1:-North_Atlantic global}"
YEARS="${2:-2018}"
PY=/usr/bin/python3
: "${SEED_DIR:?set SEED_DIR to a checkout of the thesis code (data_preprocessing_test_sets.py)}"
SEED_SCRIPT="$SEED_DIR/data_preprocessing_test_sets.py"
[[ -f $SEED_SCRIPT ]] || {
  echo "SEED_DIR=$SEED_DIR: no data_preprocessing_test_sets.py there" >&2
  exit 2
}
mkdir -p "$WORK"
first_year=2017
for y in $YEARS; do ((y - 1 < first_year)) && first_year=$((y - 1)); done
last_year=2018
for y in $YEARS; do ((y > last_year)) && last_year=$y; done

data="$WORK/data"
if [[ ! -f $WORK/data/.done ]]; then
  echo "generating the 1-degree experiments (experiment_5 1958-1960 for the statistics, experiment_1 $first_year-$last_year)..."
  "$FLUXKIT" synth ocean --output-dir "$data" --resolution 1 --experiments experiment_5 --start-year 1958 \
    --end-year 1960 --verbosity warn
  "$FLUXKIT" synth ocean --output-dir "$data" --resolution 1 --experiments experiment_1 \
    --start-year "$first_year" --end-year "$last_year" --verbosity warn
  touch "$WORK/data/.done"
fi
if [[ ! -f $WORK/pickles/.done ]]; then
  echo "converting experiment_1 to the thesis' yearly DataFrame pickles (not timed)..."
  "$PY" "$SRC/bench/make_seed_pickles.py" --input "$data" --output "$WORK/pickles" --experiments experiment_1
  touch "$WORK/pickles/.done"
fi
if [[ ! -f $WORK/stats/training_stats.pkl ]]; then
  echo "training statistics from a fluxkit training store of experiment_5 (not timed)..."
  "$FLUXKIT" prepare --root "$data" --output-dir "$WORK/stats" --splits train --train-experiment experiment_5 \
    --train-years 1959,1960 --train-fraction 0.1 --verbosity warn
  "$PY" - "$WORK/stats/train.nc" "$WORK/stats/training_stats.pkl" <<'PY'
import pickle, sys
import netCDF4, pandas as pd
with netCDF4.Dataset(sys.argv[1]) as ds:
    names = ds.features.split(",")
    stats = {"feature_mean": pd.Series(ds["feature_mean"][:].data, index=names),
             "feature_std": pd.Series(ds["feature_std"][:].data, index=names),
             "target_mean": float(ds["target_mean"][...]), "target_std": float(ds["target_std"][...])}
with open(sys.argv[2], "wb") as f:
    pickle.dump(stats, f)
PY
fi

# The thesis script's working directory.
run="$WORK/seed_run"
mkdir -p "$run/data/experiment_data/experiment_1" "$run/data/training_set"
ln -sf "$WORK/stats/training_stats.pkl" "$run/data/training_set/training_stats.pkl"
for f in "$WORK"/pickles/experiment_1/*_df.pkl; do
  ln -sf "$f" "$run/data/experiment_data/experiment_1/$(basename "${f/.hind_/.wind_}")"
done

fk_region() { case "$1" in North_Atlantic) echo north_atlantic ;; Southern_Ocean) echo southern_ocean ;; *) echo "$1" ;; esac; }

printf '%-16s %5s %9s | %8s %7s %7s | %9s %8s %7s | %8s %8s  %s\n' region year samples "fk wall" "fk CPU" \
  "fk MB" "seed wall" "seed CPU" "seed MB" "x wall" "x CPU" agreement
for region in $REGIONS; do
  for year in $YEARS; do
    out="$WORK/fluxkit_out"
    rm -rf "$out"
    /usr/bin/time -f "%e %M %U %S" -o "$WORK/fluxkit.time" "$FLUXKIT" prepare --root "$data" --output-dir "$out" \
      --splits test --test-experiments experiment_1 --test-regions "$(fk_region "$region")" \
      --test-years "$year,$year" --subsample numpy --statistics "$WORK/stats/training_stats.pkl" --verbosity warn
    read -r fk_s fk_kb fk_u fk_sys <"$WORK/fluxkit.time"

    sed -e 's|^experiment_name = .*|experiment_name = "experiment_1"|' \
      -e "s|^YEARS = .*|YEARS = range($year, $year + 1)|" \
      -e "s|^REGION = .*|REGION = \"$region\"|" \
      -e 's|^out_dir = .*|out_dir = "data/test_out"|' "$SEED_SCRIPT" >"$run/data_preprocessing_test_sets.py"
    rm -rf "$run/data/test_out"
    (cd "$run" && /usr/bin/time -f "%e %M %U %S" -o "$WORK/seed.time" "$PY" data_preprocessing_test_sets.py \
      >"$WORK/seed.log" 2>&1) || {
      echo "the thesis script failed:" >&2
      tail -20 "$WORK/seed.log" >&2
      exit 1
    }
    read -r py_s py_kb py_u py_sys <"$WORK/seed.time"

    store="$(find "$out/test" -name "*_test_${year}_experiment_1.nc" | head -1)"
    "$PY" "$SRC/bench/compare_samples.py" "$run/data/test_out/${region}_test_${year}_experiment_1.pkl" "$store" \
      >"$WORK/agreement.txt"
    read -r n agreement <"$WORK/agreement.txt"
    fk_cpu="$(awk -v a="$fk_u" -v b="$fk_sys" 'BEGIN{print a+b}')"
    py_cpu="$(awk -v a="$py_u" -v b="$py_sys" 'BEGIN{print a+b}')"
    printf '%-16s %5s %9s | %8.2f %7.2f %7.0f | %9.1f %8.1f %7.0f | %7.0fx %7.0fx  %s\n' "$region" "$year" "$n" \
      "$fk_s" "$fk_cpu" "$((fk_kb / 1024))" "$py_s" "$py_cpu" "$((py_kb / 1024))" \
      "$(awk -v a="$py_s" -v b="$fk_s" 'BEGIN{print a/b}')" "$(awk -v a="$py_cpu" -v b="$fk_cpu" 'BEGIN{print a/b}')" \
      "$agreement"
  done
done
echo "wall, CPU (user + system): seconds of the whole command; MB: peak RSS; x: the thesis script's / fluxkit's."
