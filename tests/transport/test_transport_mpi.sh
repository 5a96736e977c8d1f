#!/usr/bin/env bash
# `mpirun -n 2 fluxkit --mpi transport`: observations split by footprint file over 2 ranks (balanced by non-zeros).
# The forward db is identical to a 1-rank run (from the files and from a packed operator), the adjoint equal
# to rounding, the adjoint test passes, and an error on one rank fails the run with the db intact and no
# check file.
#   FLUXKIT=<fluxkit> bash tests/transport/test_transport_mpi.sh <workdir>
set -euo pipefail
: "${FLUXKIT:?FLUXKIT must name the fluxkit binary}"
FLUXKIT="$(cd "$(dirname "$FLUXKIT")" && pwd)/$(basename "$FLUXKIT")"
mkdir -p "$1"
WORK="$(mktemp -d "$(cd "$1" && pwd)/run.XXXXXX")"
cd "$WORK"
export OMP_WAIT_POLICY=PASSIVE SOURCE_DATE_EPOCH=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

fail() {
  echo "FAIL  $1"
  echo "  (files kept in $WORK)"
  exit 1
}
csv_of() { tar -xzOf "$1" observations.csv; }
MPI=(mpirun -n 2 "$FLUXKIT" --mpi)
T=(transport --rc transport.rc --verbosity WARNING)

"$FLUXKIT" synth footprints --output-dir case --observations 90 --seed 5 --verbosity warn
cp case/transport.rc case/fluxes.nc .
cp case/observations.tar.gz original.tar.gz

# MPI only when asked for: under mpirun's environment but without --mpi, fluxkit runs serially (as a child of
# an MPI program such as LUMIA under mpirun/srun would), and says so.
mpirun -n 1 "$FLUXKIT" transport --rc transport.rc --db original.tar.gz --adjtest --verbosity INFO >serial.out 2>&1 ||
  fail "mpirun -n 1 without --mpi: $(cat serial.out)"
grep -qF "no MPI x" serial.out || fail "mpirun -n 1 without --mpi runs without MPI: $(cat serial.out)"
OMPI_COMM_WORLD_SIZE=1 PMI_SIZE=1 PMIX_RANK=0 "$FLUXKIT" transport --rc transport.rc --db original.tar.gz --adjtest \
  --verbosity INFO >serial_env.out 2>&1 || fail "an MPI launcher's environment without --mpi: $(cat serial_env.out)"
grep -qF "no MPI x" serial_env.out || fail "an MPI launcher's environment without --mpi: $(cat serial_env.out)"
"${MPI[@]}" transport --rc transport.rc --db original.tar.gz --adjtest --verbosity INFO >ranks.out 2>&1 ||
  fail "2 ranks with --mpi: $(cat ranks.out)"
grep -qF "2 MPI ranks x" ranks.out || fail "2 ranks with --mpi say so: $(cat ranks.out)"
echo "ok    MPI only with --mpi (mpirun -n 1 and a launcher's environment without it run serially)"

# Forward: 1 rank, 2 ranks (sharing the operator cache), 2 ranks from a packed operator.
cp original.tar.gz one.tar.gz
"$FLUXKIT" "${T[@]}" --db one.tar.gz -f --emis fluxes.nc
cp original.tar.gz two.tar.gz
"${MPI[@]}" "${T[@]}" --db two.tar.gz -f --emis fluxes.nc -c two.ok
[[ -f two.ok ]] || fail "2 ranks: check file written"
cmp -s <(csv_of one.tar.gz) <(csv_of two.tar.gz) || fail "2-rank forward db identical to 1 rank"
echo "ok    forward: 2 ranks write the same db as 1 rank"
"$FLUXKIT" transport pack --rc transport.rc --db original.tar.gz --out op.fkop --verbosity warn
cp original.tar.gz packed.tar.gz
"${MPI[@]}" "${T[@]}" --db packed.tar.gz -f --emis fluxes.nc --packed op.fkop
cmp -s <(csv_of one.tar.gz) <(csv_of packed.tar.gz) || fail "2-rank packed forward db identical to 1 rank"
echo "ok    forward: 2 ranks from the packed operator write the same db"

# Adjoint: equal to rounding.
"$FLUXKIT" "${T[@]}" --db original.tar.gz -a --emis adj_one.nc
"${MPI[@]}" "${T[@]}" --db original.tar.gz -a --emis adj_two.nc
"${MPI[@]}" "${T[@]}" --db original.tar.gz -a --emis adj_packed.nc --packed op.fkop
/usr/bin/python3 - <<'PY' || fail "2-rank adjoints equal to the 1-rank adjoint (1e-12 relative)"
import numpy as np, netCDF4
one = netCDF4.Dataset("adj_one.nc")["biosphere"]["emis"][:]
assert np.abs(one).max() > 0
for other in ("adj_two.nc", "adj_packed.nc"):
    x = netCDF4.Dataset(other)["biosphere"]["emis"][:]
    err = np.abs(x - one).max() / np.abs(one).max()
    assert err <= 1e-12, (other, err)
PY
echo "ok    adjoint: 2 ranks (files and packed) equal 1 rank to rounding"

"${MPI[@]}" "${T[@]}" --db original.tar.gz --adjtest >adjtest.txt
grep -qF "adjoint test: 1 - <Hx, y> / <x, H^T y> = " adjtest.txt || fail "adjoint test output"
[[ $(grep -c "adjoint test:" adjtest.txt) -eq 1 ]] || fail "adjoint test printed once (rank 0)"
echo "ok    adjoint test on 2 ranks: $(head -c 60 adjtest.txt)"

# An unreadable footprint file (on whichever rank holds it) fails the run; the db stays intact.
victim="$(ls case/footprints/*.h5 | tail -1)"
cp "$victim" saved.h5
head -c 3000 saved.h5 >"$victim"
cp original.tar.gz broken.tar.gz
set +e
"${MPI[@]}" "${T[@]}" --db broken.tar.gz -f --emis fluxes.nc -c broken.ok >broken.out 2>&1
status=$?
set -e
cp saved.h5 "$victim"
[[ $status -ne 0 ]] || fail "an error on one rank fails the run (exit status $status)"
grep -qF "$(basename "$victim")" broken.out || fail "the error names the file: $(cat broken.out)"
cmp -s broken.tar.gz original.tar.gz || fail "the db unchanged after the failure"
[[ ! -e broken.ok ]] || fail "no check file after the failure"
echo "ok    an error on one rank: exit $status, db intact, no check file"
echo "5 passed, 0 failed"
