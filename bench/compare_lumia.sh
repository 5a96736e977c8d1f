#!/usr/bin/env bash
# fluxkit transport against LUMIA v2020's own transport/lagrange_mp.py, on one synthetic case, in one run:
# the whole command as LUMIA calls it (wall time, CPU time and peak RSS from /usr/bin/time), forward and
# adjoint, for
#   - LUMIA's lagrange_mp.py --serial (one process, as its parallel path runs each chunk);
#   - fluxkit from the footprint files, through python/lumia/lagrange_mp.py (what LUMIA runs when its rc
#     names that script), with --serial (one thread) and with all cores;
#   - fluxkit from a packed operator (`fluxkit transport pack`, written once, then --packed);
#   - with a fluxkit that has the operator cache: its first call (packs) and later calls (the files rows
#     above then run with --no-operator-cache);
# plus `transport pack` itself, an idle fluxkit process, and, when build/bench/bench_transport exists, the
# HDF5 I/O floor of the same footprint files (open and read every dataset with the HDF5 C API).
# Then checks that the outputs agree with LUMIA's: forward columns (foreground, totals, model, one per
# category) to 1e-6 relative, adjoint fields to 1e-6 of the field's largest |value| (LUMIA rounds each
# adjoint increment to float32); exits 1 if not. Ends with a table and fluxkit's memory against its budget.
# On a shared machine compare CPU times: wall times there depend on the other jobs.
#
#   LUMIA_DIR=/path/to/lumia-v2020 bench/compare_lumia.sh [observations] [workdir]
#
#   observations   default 400 (about 2 M non-zeros in 34,000 slices with PARTICLES=800); 4000 works too
#   workdir        default a new temp dir; a case already there (same parameters) is reused
#   LUMIA_DIR      a checkout of LUMIA's tag v2020 (not downloaded by this script); `lumia` is imported from it
#   FLUXKIT        the fluxkit binary (default build/fluxkit)
#   PYTHON         the interpreter with LUMIA's dependencies (default /usr/bin/python3: Debian's packages)
#   PARTICLES      particles per footprint (default 800: about 5,000 non-zeros per observation)
#   LUMIA_REPEAT   runs of each LUMIA command, best time kept (default 1); FLUXKIT_REPEAT likewise (default 3)
#   BENCH_TRANSPORT  the bench_transport binary for the HDF5 floor (default build/bench/bench_transport)
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-400}"
WORK="${2:-$(mktemp -d /tmp/compare_lumia.XXXXXX)}"
FLUXKIT="${FLUXKIT:-$SRC/build/fluxkit}"
PYTHON="${PYTHON:-/usr/bin/python3}"
PARTICLES="${PARTICLES:-800}"
LUMIA_REPEAT="${LUMIA_REPEAT:-1}"
FLUXKIT_REPEAT="${FLUXKIT_REPEAT:-3}"
BENCH_TRANSPORT="${BENCH_TRANSPORT:-$SRC/build/bench/bench_transport}"
HELPER="$SRC/bench/compare_lumia.py"
SHIM="$SRC/python/lumia/lagrange_mp.py"

die() {
  echo "compare_lumia: $*" >&2
  exit 2
}
if [[ -z "${LUMIA_DIR:-}" ]]; then
  die "set LUMIA_DIR to a checkout of LUMIA's tag v2020 (the directory holding transport/lagrange_mp.py and lumia/)"
fi
LUMIA_DIR="$(cd "$LUMIA_DIR" && pwd)"
LAGRANGE="$LUMIA_DIR/transport/lagrange_mp.py"
[[ -f "$LAGRANGE" && -d "$LUMIA_DIR/lumia" ]] || die "$LUMIA_DIR has no transport/lagrange_mp.py and lumia/ (tag v2020)"
[[ -x "$FLUXKIT" ]] || die "no fluxkit binary at $FLUXKIT (build it, or set FLUXKIT)"
FLUXKIT="$(cd "$(dirname "$FLUXKIT")" && pwd)/$(basename "$FLUXKIT")"
[[ -x /usr/bin/time ]] || die "needs GNU time: apt-get install time"
"$PYTHON" "$HELPER" deps "$LUMIA_DIR" || exit 2
[[ "$N" =~ ^[0-9]+$ ]] || die "observations must be a number, not $N"

mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
CASE="$WORK/case"
export OMP_WAIT_POLICY=PASSIVE

# ---- the case: 8 stations x 6 daytime hours a day, over as many days as needed ----------------------------
DAYS=$(((N + 47) / 48))
((DAYS < 31)) && DAYS=31
SYNTH=(synth footprints --output-dir "$CASE" --observations "$N" --days "$DAYS" --particles "$PARTICLES" --seed 42)
if [[ ! -f "$CASE/transport.rc" || "$(cat "$CASE/.synth_args" 2>/dev/null)" != "${SYNTH[*]}" ]]; then
  rm -rf "$CASE"
  echo "generating the case: fluxkit ${SYNTH[*]}"
  "$FLUXKIT" "${SYNTH[@]}" --verbosity warn
  echo "${SYNTH[*]}" > "$CASE/.synth_args"
fi
RC="$CASE/transport.rc"
FLUX="$CASE/fluxes.nc"
DB="$CASE/observations.tar.gz"

RESULTS="$WORK/results.tsv"
: > "$RESULTS"

# measure LABEL KIND DIR REPEAT CMD...: runs CMD in DIR (a fresh copy of the db as DIR/db.tar.gz and no check
# file DIR/ok before each run; CMD must write DIR/ok), keeps the best wall time with that run's CPU time (user +
# system) and peak RSS. On a shared machine the CPU time is the steadier figure.
measure() {
  local label=$1 kind=$2 dir=$3 repeat=$4
  shift 4
  mkdir -p "$dir"
  local best="" cpu="" rss="" t m u s i
  for ((i = 0; i < repeat; i++)); do
    cp "$DB" "$dir/db.tar.gz"
    rm -f "$dir/ok"
    if ! (cd "$dir" && /usr/bin/time -f '%e %M %U %S' -o "$dir/time.txt" "$@" > "$dir/log.txt" 2>&1); then
      echo "compare_lumia: $label ($kind) failed: $*" >&2
      tail -n 20 "$dir/log.txt" >&2
      exit 1
    fi
    [[ -f "$dir/ok" ]] || {
      echo "compare_lumia: $label ($kind) wrote no check file" >&2
      exit 1
    }
    read -r t m u s < "$dir/time.txt"
    if [[ -z "$best" ]] || awk "BEGIN { exit !($t < $best) }"; then
      best=$t
      rss=$m
      cpu=$(awk "BEGIN { print $u + $s }")
    fi
  done
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$kind" "$best" "$cpu" "$rss" >> "$RESULTS"
  printf '  %-36s %-8s %8.2f s wall %8.2f s CPU %6.0f MB\n' "$label" "$kind" "$best" "$cpu" \
    "$(awk "BEGIN { print $rss / 1024 }")"
}

# ---- LUMIA, as obsoperator.py calls it, with --serial (absolute paths: its writer needs a directory) --------
LUMIA=(env INTERACTIVE=F PYTHONPATH="$LUMIA_DIR" "$PYTHON" "$LAGRANGE")
echo "timing (best of $LUMIA_REPEAT for LUMIA, of $FLUXKIT_REPEAT for fluxkit):"
measure "LUMIA lagrange_mp.py --serial" forward "$WORK/lumia_forward" "$LUMIA_REPEAT" \
  "${LUMIA[@]}" --forward --serial --rc "$RC" --db "$WORK/lumia_forward/db.tar.gz" --emis "$FLUX" \
  --checkfile "$WORK/lumia_forward/ok"
measure "LUMIA lagrange_mp.py --serial" adjoint "$WORK/lumia_adjoint" "$LUMIA_REPEAT" \
  "${LUMIA[@]}" --adjoint --serial --rc "$RC" --db "$WORK/lumia_adjoint/db.tar.gz" \
  --emis "$WORK/lumia_adjoint/adjoint.nc" --checkfile "$WORK/lumia_adjoint/ok"

# ---- fluxkit through the shim LUMIA would run (python/lumia/lagrange_mp.py execs fluxkit transport) --------
FK=(env FLUXKIT="$FLUXKIT" "$PYTHON" "$SHIM")
run_fluxkit() { # LABEL TAG EXTRA_FLAGS...
  local label=$1 tag=$2
  shift 2
  measure "$label" forward "$WORK/${tag}_forward" "$FLUXKIT_REPEAT" "${FK[@]}" --forward "$@" --rc "$RC" \
    --db "$WORK/${tag}_forward/db.tar.gz" --emis "$FLUX" --checkfile "$WORK/${tag}_forward/ok"
  measure "$label" adjoint "$WORK/${tag}_adjoint" "$FLUXKIT_REPEAT" "${FK[@]}" --adjoint "$@" --rc "$RC" \
    --db "$WORK/${tag}_adjoint/db.tar.gz" --emis "$WORK/${tag}_adjoint/adjoint.nc" \
    --checkfile "$WORK/${tag}_adjoint/ok"
}
# A fluxkit with an operator cache (a packed copy of the footprints kept for later calls) runs the files
# rows without it, and its later calls get rows of their own.
NOCACHE=()
if [[ "$("$FLUXKIT" transport --help 2> /dev/null || true)" == *--no-operator-cache* ]]; then
  NOCACHE=(--no-operator-cache)
fi
run_fluxkit "fluxkit, files, --serial" files_serial --serial "${NOCACHE[@]}"
run_fluxkit "fluxkit, files, all cores" files_threads "${NOCACHE[@]}"
TAGS=(files_serial files_threads packed_serial packed_threads)
if ((${#NOCACHE[@]})); then
  rm -rf "$WORK/operator_cache"
  measure "fluxkit, cache: 1st call, --serial" forward "$WORK/cache_first" 1 "${FK[@]}" --forward --serial \
    --operator-cache "$WORK/operator_cache" --rc "$RC" --db "$WORK/cache_first/db.tar.gz" --emis "$FLUX" \
    --checkfile "$WORK/cache_first/ok"
  run_fluxkit "fluxkit, cache: later, --serial" cached_serial --serial --operator-cache "$WORK/operator_cache"
  TAGS+=(cached_serial)
fi
measure "fluxkit transport pack" "once" "$WORK/pack" 1 \
  "$FLUXKIT" transport pack --rc "$RC" --db "$DB" --out "$WORK/operator.fkop" --checkfile "$WORK/pack/ok"
run_fluxkit "fluxkit, packed, --serial" packed_serial --serial --packed "$WORK/operator.fkop"
run_fluxkit "fluxkit, packed, all cores" packed_threads --packed "$WORK/operator.fkop"
measure "fluxkit --version (idle process)" "startup" "$WORK/idle" "$FLUXKIT_REPEAT" \
  bash -c '"$0" --version > /dev/null && touch ok' "$FLUXKIT"

# ---- the case, and the HDF5 floor of its footprint files ---------------------------------------------------
CASE_LOG="$WORK/case.txt"
{
  echo "case: fluxkit ${SYNTH[*]}"
  grep -o 'packed [0-9]* footprints.*written' "$WORK/pack/log.txt" | sed 's/; [^;]*written$//' || true
  echo "footprint files: $(find "$CASE/footprints" -name '*.h5' | wc -l), $(du -sm "$CASE/footprints" | cut -f1) MB;" \
    "flux file $(du -sm "$FLUX" | cut -f1) MB; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$CASE_LOG"
if [[ -x "$BENCH_TRANSPORT" ]]; then
  mkdir -p "$WORK/floor"
  ln -sfn "$CASE" "$WORK/floor/case_$N"
  if FLUXKIT_BENCH_DIR="$WORK/floor" FLUXKIT_BENCH_SIZES="$N" "$BENCH_TRANSPORT" \
    --benchmark_filter="^Hdf5Floor/$N/" > "$WORK/floor/log.txt" 2>&1; then
    for kind in floor floor_evict; do
      # "floor/N  wall T s = R x floor   cpu C s = ..." in its summary
      t=$(awk -v k="$kind/$N" '$1 == k && $2 == "wall" { print $3 "\t" $10 }' "$WORK/floor/log.txt")
      [[ -n "$t" ]] && printf 'HDF5 floor (C API, every dataset)\t%s\t%s\t0\n' \
        "$([[ $kind == floor ]] && echo "HDF5 defaults" || echo "evict-on-close, as fluxkit")" "$t" >> "$RESULTS"
    done
  else
    echo "compare_lumia: $BENCH_TRANSPORT failed (see $WORK/floor/log.txt); no HDF5 floor" >&2
  fi
fi

# ---- the outputs agree ---------------------------------------------------------------------------------------
echo "agreement with LUMIA (tolerance 1e-6):"
status=0
for tag in "${TAGS[@]}"; do
  "$PYTHON" "$HELPER" forward "$DB" "$WORK/lumia_forward/db.tar.gz" "$WORK/${tag}_forward/db.tar.gz" "$tag" ||
    status=1
  "$PYTHON" "$HELPER" adjoint "$WORK/lumia_adjoint/adjoint.nc" "$WORK/${tag}_adjoint/adjoint.nc" "$tag" ||
    status=1
done

echo
"$PYTHON" "$HELPER" table "$RESULTS" "$CASE_LOG" "$CASE" "$WORK/files_serial_adjoint/adjoint.nc"
echo "outputs and logs: $WORK"
if ((status != 0)); then
  echo "compare_lumia: fluxkit and LUMIA disagree (above)" >&2
fi
exit $status
