#!/usr/bin/env bash
# fluxkit explore against the seed's exploration (bench/seed_exploration.py: every year of a region concatenated
# into one DataFrame, z-scored, grouped by month, KDEs and correlations of January and July) on the same
# synthetic experiment, read from the seed's yearly DataFrame pickles (bench/make_seed_pickles.py, not timed).
#
#   bench/compare_explore.sh [WORKDIR] [RESOLUTION] [FIRST_YEAR] [LAST_YEAR] [THREADS]
#
# Defaults: WORKDIR=/tmp/fluxkit_bench_explore, the 0.25-degree grid (ORCA025 size), 2000-2003, 2 threads;
# experiment_1, regions north_atlantic and southern_ocean. The seed approach needs ~1 GB of memory per year
# of a 0.25-degree region and cannot hold 61 years in 23 GB; fluxkit's memory does not grow with the years
# (try 1958 2018 for fluxkit alone with FLUXKIT_ONLY=1). Prints wall times, CPU times, peak memory and the
# speed-ups; checks that both computed the same climatology and correlations.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
FLUXKIT="${FLUXKIT:-$SRC/build/fluxkit}"
WORK="${1:-/tmp/fluxkit_bench_explore}"
RES="${2:-0.25}"
Y0="${3:-2000}"
Y1="${4:-2003}"
THREADS="${5:-2}"
PY=/usr/bin/python3
DATA="$WORK/data_$RES"
mkdir -p "$WORK"

if [[ ! -f $DATA/experiment_1/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.hind_$Y1.nc ]]; then
  echo "generating the $RES-degree experiment_1, $Y0-$Y1 (not timed)..."
  "$FLUXKIT" synth ocean --output-dir "$DATA" --resolution "$RES" --experiments experiment_1 \
    --start-year "$Y0" --end-year "$Y1" --verbosity warn
fi

echo "fluxkit explore ($THREADS threads)..."
rm -rf "$WORK/fluxkit_out"
/usr/bin/time -f "%e %U %S %M" -o "$WORK/fluxkit.time" "$FLUXKIT" explore --set "data.root=\"$DATA\"" \
  --experiments experiment_1 --regions north_atlantic,southern_ocean --years "$Y0,$Y1" \
  --output-dir "$WORK/fluxkit_out" --threads "$THREADS" --verbosity warn
read -r fk_s fk_u fk_sys fk_kb <"$WORK/fluxkit.time"
printf 'fluxkit explore: %.1f s wall, %.1f s CPU, %d MB\n' "$fk_s" "$(echo "$fk_u + $fk_sys" | bc)" "$((fk_kb / 1024))"
if [[ ${FLUXKIT_ONLY:-0} == 1 ]]; then exit 0; fi

if [[ ! -f $WORK/pickles_$RES/.done_${Y0}_$Y1 ]]; then
  echo "converting to the seed's pickles (not timed)..."
  "$PY" "$SRC/bench/make_seed_pickles.py" --input "$DATA" --output "$WORK/pickles_$RES" \
    --experiments experiment_1 --years "$Y0" "$Y1" >/dev/null
  touch "$WORK/pickles_$RES/.done_${Y0}_$Y1"
fi
echo "seed approach (pandas, scipy)..."
/usr/bin/time -f "%e %U %S %M" -o "$WORK/seed.time" "$PY" "$SRC/bench/seed_exploration.py" "$WORK/pickles_$RES" \
  --pickles --experiments experiment_1 --regions north_atlantic southern_ocean --years "$Y0" "$Y1" \
  --out "$WORK/seed.json" | tee "$WORK/seed.log"
read -r py_s py_u py_sys py_kb <"$WORK/seed.time"

"$PY" - "$WORK" <<'PYEOF'
import json, sys
import numpy as np, pandas as pd
w = sys.argv[1]
seed = json.load(open(f"{w}/seed.json"))
clim = pd.read_csv(f"{w}/fluxkit_out/climatology.csv")
cor = pd.read_csv(f"{w}/fluxkit_out/correlations.csv")
worst = 0.0
for key, res in seed.items():
    e, r = key.split("/")
    for v, by_month in res["climatology"].items():
        d = clim[(clim.experiment == e) & (clim.region == r) & (clim.variable == v)].set_index("month")["mean_z"]
        for m, val in by_month.items():
            worst = max(worst, abs(d[int(m)] - val))
    for m, mat in res["corr"].items():
        c = cor[(cor.experiment == e) & (cor.region == r) & (cor.month == int(m))]
        for a, col in mat.items():
            for b, val in col.items():
                got = c[(c.variable_a == a) & (c.variable_b == b)]["r"].iloc[0]
                if np.isfinite(val):
                    worst = max(worst, abs(got - val))
print(f"largest difference between fluxkit and the seed (climatology z-scores, correlations): {worst:.2e}")
sys.exit(0 if worst < 1e-6 else 1)
PYEOF

echo
printf '%-32s %10s %10s %14s\n' "" "wall (s)" "CPU (s)" "peak RSS (MB)"
printf '%-32s %10.1f %10.1f %14d\n' "fluxkit explore" "$fk_s" "$(echo "$fk_u + $fk_sys" | bc)" "$((fk_kb / 1024))"
printf '%-32s %10.1f %10.1f %14d\n' "seed approach (concatenate)" "$py_s" "$(echo "$py_u + $py_sys" | bc)" "$((py_kb / 1024))"
awk -v a="$py_s" -v b="$fk_s" -v c="$py_u" -v d="$fk_u" -v e="$py_sys" -v f="$fk_sys" \
  'BEGIN { printf "speed-up: %.0fx wall, %.0fx CPU ('"$RES"' degrees, '"$Y0"'-'"$Y1"', '"$THREADS"' threads)\n", a / b, (c + e) / (d + f) }'
