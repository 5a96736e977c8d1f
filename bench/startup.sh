#!/usr/bin/env bash
# Start-up cost of every verb: wall time (median of N runs) and peak RSS of `fluxkit <verb> --help`, which
# parses the command line, reads nothing and exits: what a verb pays before its work starts (loading the
# program and its shared libraries). Verbs that need no neural network must stay under 30 ms and 20 MB on an
# idle machine. The model verbs pay the same, plus their plugin when they first make a model: the script
# also reports what loading each plugin costs (bench_plugin_load: wall and RSS of load_plugin()).
#
#   bench/startup.sh [FLUXKIT] [RUNS]      (default: build/fluxkit, 10 runs)
#
# Needs GNU time (/usr/bin/time, Debian package `time`). Numbers depend on the machine's load: run it on an
# idle machine.
set -euo pipefail
FLUXKIT="${1:-build/fluxkit}"
RUNS="${2:-10}"
[[ -x $FLUXKIT ]] || { echo "no fluxkit binary at $FLUXKIT (make build)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time: apt-get install time" >&2; exit 2; }

TIMING="$(mktemp)"
trap 'rm -f "$TIMING"' EXIT
# median wall (ms) and median peak RSS (MB) of RUNS runs of the command
measure() {
  local walls=() rss=() out
  for ((i = 0; i < RUNS; i++)); do
    /usr/bin/time -o "$TIMING" -f '%e %M' "$@" >/dev/null 2>&1 || true
    out="$(tail -1 "$TIMING")"
    walls+=("$(awk '{print $1 * 1000}' <<<"$out")")
    rss+=("$(awk '{print $2 / 1024}' <<<"$out")")
  done
  local mw mr
  mw="$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')"
  mr="$(printf '%s\n' "${rss[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')"
  printf '%8.1f ms %7.1f MB' "$mw" "$mr"
}

echo "fluxkit start-up: median of $RUNS runs (wall, peak RSS); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %s\n' "command" "   wall       RSS"
for verb in "--help" "transport --help" "transport pack --help" "synth ocean --help" "synth footprints --help" \
            "prepare --help" "evaluate --help" "config --help" "train --help" "reconstruct --help" \
            "import-weights --help"; do
  # shellcheck disable=SC2086
  printf '%-40s %s\n' "fluxkit $verb" "$(measure "$FLUXKIT" $verb)"
done
printf '%-40s %s\n' "fluxkit config docs (every section)" "$(measure "$FLUXKIT" config docs)"
echo
echo "Shared libraries loaded: fluxkit $(ldd "$FLUXKIT" | wc -l)"
dir="$(dirname "$FLUXKIT")"
for p in torch xgboost mpi; do
  [[ -f $dir/libfluxkit_$p.so ]] || continue
  line="  + plugin $p (loaded on first use): $(ldd "$dir/libfluxkit_$p.so" | wc -l) libraries"
  if [[ -x $dir/bench/bench_plugin_load ]]; then
    walls=()
    for ((i = 0; i < RUNS; i++)); do walls+=("$("$dir/bench/bench_plugin_load" "$p")"); done
    line+=", load: $(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}')"
  fi
  echo "$line"
done
