#!/usr/bin/env bash
# The whole `fluxkit transport` command as LUMIA calls it, on a synthetic case like the issue's reference
# (LUMIA's lagrange_mp.py: 43 s forward, 32 s adjoint for 370 observations, 2 M non-zeros, 80 MB of
# footprints): wall time and peak memory (max RSS) of forward and adjoint from the footprint files, of
# `transport pack`, and of forward and adjoint from the packed operator; the memory budget is the flux
# fields the command holds plus the largest footprint file, above the RSS of an idle fluxkit process.
#   bench/transport_command.sh [observations] [workdir]      (default 400, a temp dir)
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
FLUXKIT="$SRC/build/fluxkit"
N="${1:-400}"
WORK="${2:-$(mktemp -d)}"
mkdir -p "$WORK"
cd "$WORK"
export OMP_WAIT_POLICY=PASSIVE
if [[ ! -f case/transport.rc ]]; then
  "$FLUXKIT" synth footprints --output-dir case --observations "$N" --seed 42 --verbosity warn
fi
cp case/transport.rc case/fluxes.nc .

# measure LABEL CMD...: best of 3 wall seconds and the peak RSS of the child (Debian's python3, getrusage).
measure() {
  local label=$1
  shift
  /usr/bin/python3 - "$label" "$@" <<'PY'
import resource, subprocess, sys, time
label, cmd = sys.argv[1], sys.argv[2:]
best = None
for _ in range(3):
    subprocess.run(["cp", "case/observations.tar.gz", "db.tar.gz"], check=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.perf_counter() - t0
    best = t if best is None else min(best, t)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{label:34s} {best:8.3f} s   peak RSS {rss:7.1f} MB", flush=True)
PY
}

T=("$FLUXKIT" transport --rc transport.rc --db db.tar.gz --verbosity WARNING)
measure "idle fluxkit (--version)" "$FLUXKIT" --version
measure "forward from the files" "${T[@]}" -f --emis fluxes.nc
measure "adjoint from the files" "${T[@]}" -a --emis adjoint.nc
measure "transport pack" "$FLUXKIT" transport pack --rc transport.rc --db case/observations.tar.gz --out op.fkop \
  --verbosity warning
measure "forward from the packed operator" "${T[@]}" -f --emis fluxes.nc --packed op.fkop
measure "adjoint from the packed operator" "${T[@]}" -a --emis adjoint.nc --packed op.fkop

/usr/bin/python3 - <<'PY'
import glob, os, netCDF4
f = netCDF4.Dataset("fluxes.nc")
flux = sum(f[g]["emis"].size * 8 for g in f.groups)
a = netCDF4.Dataset("adjoint.nc")
adj = sum(a[g]["emis"].size * 8 for g in a.groups)
largest = max(os.path.getsize(p) for p in glob.glob("case/footprints/*"))
total = sum(os.path.getsize(p) for p in glob.glob("case/footprints/*"))
print(f"footprints: {total / 1e6:.1f} MB, largest file {largest / 1e6:.1f} MB; packed operator "
      f"{os.path.getsize('op.fkop') / 1e6:.1f} MB")
print(f"memory budget above the idle process: forward {(flux + largest) / 1e6:.1f} MB (flux fields "
      f"{flux / 1e6:.1f} MB + largest file), adjoint {(adj + largest) / 1e6:.1f} MB (adjoint field "
      f"{adj / 1e6:.1f} MB + largest file)")
PY
echo "LUMIA lagrange_mp.py reference (issue): forward 43 s, adjoint 32 s for 370 observations, 2 M non-zeros, 80 MB"
