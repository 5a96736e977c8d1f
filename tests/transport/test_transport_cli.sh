#!/usr/bin/env bash
# End-to-end tests of `fluxkit transport` on a synthetic case written by `fluxkit synth footprints`: forward
# (columns of the db, foreground + background = truth), adjoint (layout of the output), both together, the
# adjoint test, thread invariance, the check file, trailing arguments, LUMIA's verbosity names, and bad inputs
# (missing footprint file, malformed rc line, category missing from the flux file, site missing from sites.csv,
# missing dy column) with the db left untouched and no check file.
#
#   FLUXKIT=/path/to/fluxkit bash tests/transport/test_transport_cli.sh <workdir>
#
# Prints one line per check and ends with "N passed, 0 failed"; stops at the first failure (exit status 1),
# keeping the files under <workdir>/run.*. Needs python3 (standard library only) and ncdump (netcdf-bin).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: FLUXKIT=<fluxkit binary> $0 <workdir>" >&2
  exit 2
fi
: "${FLUXKIT:?FLUXKIT must name the fluxkit binary}"
if [[ ! -x $FLUXKIT ]]; then
  echo "FLUXKIT=$FLUXKIT is not an executable file" >&2
  exit 2
fi
FLUXKIT="$(cd "$(dirname "$FLUXKIT")" && pwd)/$(basename "$FLUXKIT")"
for tool in python3 ncdump; do
  command -v $tool >/dev/null || { echo "$tool not found" >&2; exit 2; }
done

mkdir -p "$1"
RUN="$(mktemp -d "$(cd "$1" && pwd)/run.XXXXXX")"
cd "$RUN"
export OMP_WAIT_POLICY=PASSIVE SOURCE_DATE_EPOCH=0

passed=0
pass() {
  echo "ok    $1"
  passed=$((passed + 1))
}
fail() {  # name, expected, got
  echo "FAIL  $1"
  echo "  expected: $2"
  echo "  got:      $3"
  echo "  (files kept in $RUN)"
  echo "$passed passed, 1 failed"
  exit 1
}
rc=0
run() {  # runs the command with stdout in out.txt, stderr in err.txt, exit status in $rc
  set +e
  "$@" >out.txt 2>err.txt
  rc=$?
  set -e
}
show() {
  printf 'exit %s; stdout: %s; stderr: %s' "$rc" "$(head -c 2000 out.txt)" "$(head -c 3000 err.txt)"
}
expect_success() { [[ $rc -eq 0 ]] || fail "$1" "exit status 0" "$(show)"; }
expect_failure() { [[ $rc -ne 0 ]] || fail "$1" "a non-zero exit status" "$(show)"; }
expect_in() {  # name, file, text...
  local name=$1 file=$2
  shift 2
  local text
  for text in "$@"; do
    grep -qF -- "$text" "$file" || fail "$name" "$file containing '$text'" "$(show)"
  done
}
# py NAME SCRIPT ARGS...: runs a python3 check; its stdout is the failure detail when it exits non-zero.
py() {
  local name=$1 script=$2
  shift 2
  local detail
  detail="$(python3 -c "$script" "$@" 2>&1)" || fail "$name" "python check to pass" "$detail"
}

# Python helpers (standard library): read and rewrite obsdb tar archives.
DB_PY='
import csv, io, sys, tarfile
def members(path):
    with tarfile.open(path, "r:gz") as t:
        return {m.name: t.extractfile(m).read().decode("utf-8") for m in t.getmembers()}
def table(text):
    return list(csv.DictReader(io.StringIO(text)))
def write(path, m):
    with tarfile.open(path, "w:gz") as t:
        for name, text in m.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name); info.size = len(data)
            t.addfile(info, io.BytesIO(data))
'

TRANSPORT=(transport --rc transport.rc --db observations.tar.gz)

# ---- the case -----------------------------------------------------------------------------------------------

name="synth footprints writes a transport case"
run "$FLUXKIT" synth footprints --output-dir case --observations 60 --seed 3
expect_success "$name"
for f in case/transport.rc case/observations.tar.gz case/fluxes.nc; do
  [[ -s $f ]] || fail "$name" "$f" "$(ls -R case)"
done
ls case/footprints/*.h5 >/dev/null 2>&1 || fail "$name" "case/footprints/*.h5" "$(ls -R case)"
# The db names the footprints relative to where synth ran: run the transport from here, with the case's files.
cp case/transport.rc case/fluxes.nc .
cp case/observations.tar.gz observations.tar.gz
cp observations.tar.gz original.tar.gz
pass "$name"

name="transport --help documents LUMIA's flags"
run "$FLUXKIT" transport --help
expect_success "$name"
expect_in "$name" out.txt --forward --adjoint --serial --checkfile --rc --db --emis --verbosity --adjtest --truncate
pass "$name"

# ---- forward ------------------------------------------------------------------------------------------------

name="forward writes LUMIA's columns and foreground + background = truth"
run "$FLUXKIT" "${TRANSPORT[@]}" --forward --emis fluxes.nc --checkfile forward.ok
expect_success "$name"
[[ -f forward.ok ]] || fail "$name" "the check file forward.ok" "$(ls)"
py "$name" "$DB_PY"'
new = members("observations.tar.gz"); old = members("original.tar.gz")
rows, before = table(new["observations.csv"]), table(old["observations.csv"])
assert len(rows) == len(before) == 60, (len(rows), len(before))
header = new["observations.csv"].splitlines()[0].split(",")
want = ["id", "totals", "model", "foreground", "biosphere", "fossil"]
assert header[-6:] == want, header
for r, b in zip(rows, before):
    for k, v in b.items():
        assert r[k] == v, ("column changed", k, v, r[k])
    fg = float(r["foreground"]); bio = float(r["biosphere"]); fos = float(r["fossil"])
    assert fg == bio + fos, (fg, bio, fos)
    assert abs(float(r["background"]) + fg - float(r["truth"])) <= 1e-12 * abs(float(r["truth"])), r
    assert float(r["totals"]) > 0, r
    assert r["model"] == "{'"'"'biosphere'"'"': %r, '"'"'fossil'"'"': %r}" % (bio, fos), r["model"]
    assert float(r["id"]) == float(r[""]), (r["id"], r[""])
assert new["sites.csv"] == old["sites.csv"], "sites.csv changed"
assert new["files.csv"] == old["files.csv"], "files.csv changed"
'
pass "$name"

name="forward: identical db with --serial and with --threads 2"
cp observations.tar.gz forward_threads.tar.gz
run "$FLUXKIT" "${TRANSPORT[@]}" --forward --emis fluxes.nc --serial
expect_success "$name"
cp observations.tar.gz forward_serial.tar.gz
run "$FLUXKIT" "${TRANSPORT[@]}" --forward --emis fluxes.nc --threads 3
expect_success "$name"
py "$name" "$DB_PY"'
a = members("forward_serial.tar.gz")["observations.csv"]
b = members("observations.tar.gz")["observations.csv"]
c = members("forward_threads.tar.gz")["observations.csv"]
assert a == b == c, "observations.csv differs between thread counts"
'
pass "$name"

name="unknown arguments and a missing verb are errors (exit 2), LUMIA's verbosity names are accepted"
cp observations.tar.gz before_strict.tar.gz
run "$FLUXKIT" "${TRANSPORT[@]}" --emis fluxes.nc -c strict.ok --adjiont
[[ $rc -eq 2 ]] || fail "$name" "exit status 2 for --adjiont" "$(show)"
expect_in "$name" err.txt "--adjiont"
run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis fluxes.nc -c strict.ok extra
[[ $rc -eq 2 ]] || fail "$name" "exit status 2 for a trailing argument" "$(show)"
expect_in "$name" err.txt "extra"
run "$FLUXKIT" "${TRANSPORT[@]}" --emis fluxes.nc -c strict.ok
[[ $rc -eq 2 ]] || fail "$name" "exit status 2 without --forward/--adjoint/--adjtest" "$(show)"
expect_in "$name" err.txt "nothing to do" "--forward"
[[ ! -e strict.ok ]] || fail "$name" "no check file after a usage error" "strict.ok exists"
cmp -s observations.tar.gz before_strict.tar.gz || fail "$name" "the db unchanged" "it changed"
run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis fluxes.nc -v DEBUG
expect_success "$name"
expect_in "$name" err.txt "[debug]"
run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis fluxes.nc --verbosity warning
expect_success "$name"
grep -qF "[info]" err.txt && fail "$name" "no info lines at WARNING" "$(show)"
pass "$name"

name="an unknown verbosity fails"
run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis fluxes.nc -v LOUD
expect_failure "$name"
expect_in "$name" err.txt "LOUD"
pass "$name"

# ---- adjoint ------------------------------------------------------------------------------------------------

name="adjoint writes the optimized categories on the rc's grid and time axis"
run "$FLUXKIT" "${TRANSPORT[@]}" --adjoint --emis adjoint.nc -c adjoint.ok
expect_success "$name"
[[ -f adjoint.ok ]] || fail "$name" "the check file adjoint.ok" "$(ls)"
header="$(ncdump -h adjoint.nc)"
for text in "group: biosphere" "double emis(nt, nlat, nlon)" "int times_start(nt, time_components)" \
            "float lats(nlat)" "nlat = 80" "nlon = 100"; do
  grep -qF -- "$text" <<<"$header" || fail "$name" "ncdump -h containing '$text'" "$header"
done
grep -qF "group: fossil" <<<"$header" && fail "$name" "no group for the non-optimized fossil" "$header"
cmp -s observations.tar.gz forward_serial.tar.gz || fail "$name" "the db untouched by the adjoint" "it changed"
pass "$name"

name="forward and adjoint together: the db is updated and the adjoint written"
cp original.tar.gz observations.tar.gz
rm -f adjoint.nc
run "$FLUXKIT" "${TRANSPORT[@]}" -f -a --emis fluxes_copy.nc
expect_failure "$name"  # fluxes_copy.nc does not exist: the forward cannot read it
cp fluxes.nc both.nc
run "$FLUXKIT" "${TRANSPORT[@]}" -f -a --emis both.nc -c both.ok
expect_success "$name"
grep -qF "group: fossil" <(ncdump -h both.nc) && fail "$name" "both.nc overwritten by the adjoint" "$(ncdump -h both.nc | head -30)"
py "$name" "$DB_PY"'
assert "foreground" in members("observations.tar.gz")["observations.csv"].splitlines()[0]
'
pass "$name"

name="adjoint test is below 1e-12"
run "$FLUXKIT" "${TRANSPORT[@]}" --adjtest
expect_success "$name"
expect_in "$name" out.txt "adjoint test: 1 - <Hx, y> / <x, H^T y> = "
value="$(sed -n 's/.*<x, H^T y> = \([-+0-9.e]*\) .*/\1/p' out.txt | head -1)"
python3 -c "import sys; sys.exit(0 if abs(float('$value')) < 1e-12 else 1)" ||
  fail "$name" "|value| < 1e-12" "$value"
pass "$name"

name="adjoint: footprints reaching before time.start are skipped, or truncated with --truncate"
sed 's/^time.start *:.*/time.start : 2017, 12, 27/' transport.rc >late.rc
run "$FLUXKIT" transport --rc late.rc --db observations.tar.gz --adjoint --emis late.nc
expect_success "$name"
skipped="$(sed -n 's/.* \([0-9]*\) outside the period of the rc (skipped).*/\1/p' err.txt)"
[[ -n $skipped && $skipped -gt 0 ]] || fail "$name" "observations outside the period (skipped)" "$(show)"
run "$FLUXKIT" transport --rc late.rc --db observations.tar.gz --adjoint --emis late_truncated.nc --truncate
expect_success "$name"
truncated="$(sed -n 's/.*(\([0-9]*\) truncated).*/\1/p' err.txt)"
[[ $truncated == "$skipped" ]] || fail "$name" "$skipped truncated observations" "$(show)"
pass "$name"

# ---- packed operator ----------------------------------------------------------------------------------------

# NC_PY: compares the emis of every group of two flux files to 1e-12 relative (Debian's python3-netcdf4).
NC_PY='
import sys, numpy as np, netCDF4
a, b = netCDF4.Dataset(sys.argv[1]), netCDF4.Dataset(sys.argv[2])
assert sorted(a.groups) == sorted(b.groups), (list(a.groups), list(b.groups))
for g in a.groups:
    x, y = a[g]["emis"][:], b[g]["emis"][:]
    assert x.shape == y.shape, (g, x.shape, y.shape)
    scale = max(np.abs(x).max(), 1e-300)
    assert np.abs(x - y).max() <= 1e-12 * scale, (g, np.abs(x - y).max(), scale)
    assert (a[g]["times_start"][:] == b[g]["times_start"][:]).all(), g
'
nc_py() {  # name, file a, file b
  local detail
  detail="$(/usr/bin/python3 -c "$NC_PY" "$2" "$3" 2>&1)" || fail "$1" "$2 equal to $3 (1e-12 relative)" "$detail"
}

name="transport pack writes a packed operator of every footprint the db references"
run "$FLUXKIT" transport pack --rc transport.rc --db observations.tar.gz --out op.fkop -c pack.ok
expect_success "$name"
[[ -s op.fkop && -f pack.ok ]] || fail "$name" "op.fkop and pack.ok" "$(ls)"
expect_in "$name" err.txt "packed 60 footprints" "op.fkop written"
pass "$name"

name="forward from the packed operator writes the same db as from the files"
cp observations.tar.gz packed_db.tar.gz
cp observations.tar.gz files_db.tar.gz
run "$FLUXKIT" transport --rc transport.rc --db files_db.tar.gz -f --emis fluxes.nc
expect_success "$name"
run "$FLUXKIT" transport --rc transport.rc --db packed_db.tar.gz -f --emis fluxes.nc --packed op.fkop -c packed.ok
expect_success "$name"
[[ -f packed.ok ]] || fail "$name" "the check file packed.ok" "$(ls)"
cmp -s <(tar -xzOf files_db.tar.gz observations.csv) <(tar -xzOf packed_db.tar.gz observations.csv) ||
  fail "$name" "identical observations.csv" "they differ"
pass "$name"

name="adjoint and adjoint test from the packed operator equal the files'"
run "$FLUXKIT" "${TRANSPORT[@]}" -a --emis adjoint_files.nc
expect_success "$name"
run "$FLUXKIT" "${TRANSPORT[@]}" -a --emis adjoint_packed.nc --packed op.fkop --adjtest
expect_success "$name"
expect_in "$name" out.txt "adjoint test: 1 - <Hx, y> / <x, H^T y> = "
nc_py "$name" adjoint_files.nc adjoint_packed.nc
pass "$name"

name="packed: an observation not in the packed operator fails, naming it and the remedy"
py "$name" "$DB_PY"'
m = members("observations.tar.gz")
rows = list(csv.reader(io.StringIO(m["observations.csv"])))
k = rows[0].index("time")
rows[1][k] = rows[1][k][:10] + "30" + rows[1][k][12:]  # the first observation, half an hour later
out = io.StringIO(); w = csv.writer(out, lineterminator="\n")
for r in rows: w.writerow(r)
m["observations.csv"] = out.getvalue()
write("moved.tar.gz", m)
'
cp moved.tar.gz moved_before.tar.gz
run "$FLUXKIT" transport --rc transport.rc --db moved.tar.gz -f --emis fluxes.nc --packed op.fkop -c failed.ok
expect_failure "$name"
expect_in "$name" err.txt "op.fkop" "observation at row 0" "is not in the packed operator" "fluxkit transport pack"
cmp -s moved.tar.gz moved_before.tar.gz || fail "$name" "the db unchanged" "it changed"
[[ ! -e failed.ok ]] || fail "$name" "no check file" "failed.ok exists"
pass "$name"

name="packed: another grid, a missing or corrupt packed file fail, naming them"
sed 's/^region.eurocom05x05.lat1 *:.*/region.eurocom05x05.lat1 : 72/' transport.rc >smaller.rc
run "$FLUXKIT" transport --rc smaller.rc --db observations.tar.gz -a --emis smaller.nc --packed op.fkop
expect_failure "$name"
expect_in "$name" err.txt "op.fkop" "mismatched grids" "80 x 100" "78 x 100"
run "$FLUXKIT" "${TRANSPORT[@]}" -a --emis missing.nc --packed nothing.fkop
expect_failure "$name"
expect_in "$name" err.txt "nothing.fkop"
head -c 100000 op.fkop >cut.fkop
run "$FLUXKIT" "${TRANSPORT[@]}" -a --emis cut.nc --packed cut.fkop
expect_failure "$name"
expect_in "$name" err.txt "cut.fkop" "corrupt packed operator"
[[ ! -e smaller.nc && ! -e missing.nc && ! -e cut.nc ]] || fail "$name" "no adjoint written" "$(ls)"
pass "$name"

name="packed: a footprint file changed since packing fails, naming it"
victim="$(ls case/footprints/*.h5 | head -1)"
cp -p "$victim" stamp.h5
touch -d '2030-01-01' "$victim"
run "$FLUXKIT" "${TRANSPORT[@]}" -a --emis changed.nc --packed op.fkop
touch -r stamp.h5 "$victim"
expect_failure "$name"
expect_in "$name" err.txt "$(basename "$victim")" "changed since it was packed"
run "$FLUXKIT" "${TRANSPORT[@]}" -a --emis changed.nc --packed op.fkop
expect_success "$name"
pass "$name"

# ---- bad input: the db and the check file are left alone ----------------------------------------------------

unchanged() {  # name
  cmp -s observations.tar.gz before.tar.gz || fail "$1" "the db unchanged after a failure" "it changed"
  [[ ! -e failed.ok ]] || fail "$1" "no check file after a failure" "failed.ok exists"
}

name="a missing footprint file fails, naming it, and leaves the db intact"
cp observations.tar.gz before.tar.gz
victim="$(ls case/footprints/*.h5 | head -1)"
mv "$victim" "$victim.away"
run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis fluxes.nc -c failed.ok
mv "$victim.away" "$victim"
expect_failure "$name"
expect_in "$name" err.txt "$(basename "$victim")"
unchanged "$name"
pass "$name"

name="a malformed rc line fails, naming the rc file"
{ cat transport.rc; echo "this line has no separator"; } >bad.rc
run "$FLUXKIT" transport --rc bad.rc --db observations.tar.gz -f --emis fluxes.nc -c failed.ok
expect_failure "$name"
expect_in "$name" err.txt "bad.rc"
unchanged "$name"
pass "$name"

name="a category missing from the flux file fails, naming it and the file"
sed 's/^emissions.categories *:.*/emissions.categories : biosphere, fossil, ocean/' transport.rc >ocean.rc
echo "emissions.ocean.optimize : F" >>ocean.rc
run "$FLUXKIT" transport --rc ocean.rc --db observations.tar.gz -f --emis fluxes.nc -c failed.ok
expect_failure "$name"
expect_in "$name" err.txt "ocean" "fluxes.nc"
unchanged "$name"
pass "$name"

name="a site missing from sites.csv fails, naming it"
py "$name" "$DB_PY"'
m = members("observations.tar.gz")
lines = m["sites.csv"].splitlines(True)
site = table(m["observations.csv"])[0]["site"]
m["sites.csv"] = "".join(l for l in lines if not l.startswith(site + ","))
write("nosite.tar.gz", m)
print(site, file=open("site.txt", "w"))
'
cp nosite.tar.gz nosite_before.tar.gz
run "$FLUXKIT" transport --rc transport.rc --db nosite.tar.gz -f --emis fluxes.nc -c failed.ok
expect_failure "$name"
expect_in "$name" err.txt "$(cat site.txt)" "sites.csv"
cmp -s nosite.tar.gz nosite_before.tar.gz || fail "$name" "the db unchanged" "it changed"
[[ ! -e failed.ok ]] || fail "$name" "no check file" "failed.ok exists"
pass "$name"

name="an adjoint without a dy column fails, naming it"
py "$name" "$DB_PY"'
m = members("observations.tar.gz")
rows = list(csv.reader(io.StringIO(m["observations.csv"])))
k = rows[0].index("dy")
out = io.StringIO(); w = csv.writer(out, lineterminator="\n")
for r in rows: w.writerow(r[:k] + r[k + 1:])
m["observations.csv"] = out.getvalue()
write("nody.tar.gz", m)
'
run "$FLUXKIT" transport --rc transport.rc --db nody.tar.gz -a --emis nody.nc -c failed.ok
expect_failure "$name"
expect_in "$name" err.txt "dy"
[[ ! -e nody.nc && ! -e failed.ok ]] || fail "$name" "no output and no check file" "$(ls)"
pass "$name"

name="--db is required; --emis is required for a forward"
run "$FLUXKIT" transport --rc transport.rc -f --emis fluxes.nc
expect_failure "$name"
expect_in "$name" err.txt "--db"
run "$FLUXKIT" "${TRANSPORT[@]}" -f
expect_failure "$name"
expect_in "$name" err.txt "--emis"
unchanged "$name"
pass "$name"

name="-f -a with an adjoint that fails writes nothing: the db, the adjoint file and the check file stay as they were"
py "$name" "$DB_PY"'
m = members("observations.tar.gz")
rows = list(csv.reader(io.StringIO(m["observations.csv"])))
k = rows[0].index("dy")
rows[1][k] = ""  # NaN departure of an observation that contributes
out = io.StringIO(); w = csv.writer(out, lineterminator="\n")
for r in rows: w.writerow(r)
m["observations.csv"] = out.getvalue()
write("nandy.tar.gz", m)
'
cp nandy.tar.gz nandy_before.tar.gz
cp fluxes.nc nandy.nc
cp fluxes.nc nandy_before.nc
run "$FLUXKIT" transport --rc transport.rc --db nandy.tar.gz -f -a --emis nandy.nc -c failed.ok
expect_failure "$name"
expect_in "$name" err.txt "dy is NaN"
cmp -s nandy.tar.gz nandy_before.tar.gz || fail "$name" "the db unchanged" "it changed"
cmp -s nandy.nc nandy_before.nc || fail "$name" "the flux file unchanged" "it changed"
[[ ! -e failed.ok ]] || fail "$name" "no check file" "failed.ok exists"
pass "$name"

name="a check file in a missing directory fails before any work, naming it"
run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis fluxes.nc -c no/such/dir/forward.ok
expect_failure "$name"
expect_in "$name" err.txt "no/such/dir/forward.ok" "directory"
unchanged "$name"
[[ ! -e no ]] || fail "$name" "no directory created" "$(ls -d no)"
pass "$name"

name="an adjoint with an rc without time.start fails, naming the rc file and the key"
grep -v '^time.start' transport.rc >nostart.rc
run "$FLUXKIT" transport --rc nostart.rc --db observations.tar.gz -a --emis nostart.nc -c failed.ok
expect_failure "$name"
expect_in "$name" err.txt "nostart.rc" "time.start"
[[ ! -e nostart.nc && ! -e failed.ok ]] || fail "$name" "no output and no check file" "$(ls)"
pass "$name"

name="a flux file whose group lacks times_start fails, naming the file and the variable"
/usr/bin/python3 - <<'PY' || fail "$name" "a flux file without times_start" "python failed"
import netCDF4
src = netCDF4.Dataset("fluxes.nc")
dst = netCDF4.Dataset("notimes.nc", "w")
for d, dim in src.dimensions.items(): dst.createDimension(d, len(dim))
for g, grp in src.groups.items():
    out = dst.createGroup(g)
    for d, dim in grp.dimensions.items(): out.createDimension(d, len(dim))
    for v, var in grp.variables.items():
        if g == "fossil" and v == "times_start": continue
        o = out.createVariable(v, var.dtype, var.dimensions)
        o[:] = var[:]
dst.close()
PY
run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis notimes.nc -c failed.ok
expect_failure "$name"
expect_in "$name" err.txt "notimes.nc" "times_start"
unchanged "$name"
pass "$name"

# ---- the operator cache (under the rc's path.run) -----------------------------------------------------------

CACHE="$(sed -n 's/^path.run *: *//p' transport.rc)/fluxkit-operators"
cache_run() {  # name, expected word (built|reusing), extra args...
  local name=$1 want=$2
  shift 2
  run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis fluxes.nc --threads 2 "$@"
  expect_success "$name"
  if [[ $want == built ]]; then
    expect_in "$name" err.txt "operator cache: packed"
  else
    expect_in "$name" err.txt "operator cache: reusing"
  fi
  cmp -s observations.tar.gz cache_reference.tar.gz || fail "$name" "the same forward columns as from the files" \
    "$(python3 -c "$DB_PY"'
a = table(members("observations.tar.gz")["observations.csv"]); b = table(members("cache_reference.tar.gz")["observations.csv"])
print([(x["foreground"], y["foreground"]) for x, y in zip(a, b) if x["foreground"] != y["foreground"]][:3])')"
}

name="the operator cache: the first call packs, later calls reuse it, results equal the files' bit for bit"
cp original.tar.gz observations.tar.gz
run "$FLUXKIT" "${TRANSPORT[@]}" -f --emis fluxes.nc --no-operator-cache
expect_success "$name"
grep -qF "operator cache" err.txt && fail "$name" "no cache with --no-operator-cache" "$(show)"
cp observations.tar.gz cache_reference.tar.gz
rm -rf "$CACHE"
cache_run "$name" built
ls "$CACHE"/operator-*.fkop >/dev/null || fail "$name" "an entry in $CACHE" "$(ls -R "$(dirname "$CACHE")")"
cache_run "$name" reusing
run "$FLUXKIT" "${TRANSPORT[@]}" -a --emis cache_adjoint.nc
expect_success "$name"
expect_in "$name" err.txt "operator cache: reusing"
run "$FLUXKIT" "${TRANSPORT[@]}" -a --emis files_adjoint.nc --no-operator-cache
expect_success "$name"
nc_py "$name" cache_adjoint.nc files_adjoint.nc
pass "$name"

name="the operator cache: a touched footprint file invalidates it"
victim="$(ls case/footprints/*.h5 | head -1)"
touch -d '2001-02-03 04:05:06' "$victim"
cache_run "$name" built
cache_run "$name" reusing
pass "$name"

name="the operator cache: a changed footprint file (same size and time) invalidates it"
stamp="$(stat -c %Y "$victim")"
python3 - "$victim" <<'PY'
import sys
path = sys.argv[1]
with open(path, "r+b") as f:  # flip the last byte (raw data of the last footprint), undone below
    data = bytearray(f.read()); f.seek(len(data) - 1); f.write(bytes([data[-1] ^ 0xff]))
PY
touch -d "@$stamp" "$victim"
cache_run "$name" built
python3 - "$victim" <<'PY'
import sys
path = sys.argv[1]
with open(path, "r+b") as f:
    data = bytearray(f.read()); f.seek(len(data) - 1); f.write(bytes([data[-1] ^ 0xff]))
PY
touch -d "@$stamp" "$victim"
pass "$name"

name="the operator cache: another footprint column in the obsdb invalidates it"
py "$name" "$DB_PY"'
m = members("observations.tar.gz")
rows = list(csv.reader(io.StringIO(m["observations.csv"])))
k = rows[0].index("footprint")
rows[3][k] = ""  # the third observation loses its footprint
out = io.StringIO(); w = csv.writer(out, lineterminator="\n")
for r in rows: w.writerow(r)
m["observations.csv"] = out.getvalue()
write("fewer.tar.gz", m)
'
run "$FLUXKIT" transport --rc transport.rc --db fewer.tar.gz -f --emis fluxes.nc
expect_success "$name"
expect_in "$name" err.txt "operator cache: packed"
pass "$name"

name="the operator cache: another grid invalidates it"
sed 's/^region.eurocom05x05.lat0 *:.*/region.eurocom05x05.lat0 : 33.5/' transport.rc >grid.rc  # a sub-grid of the footprints
run "$FLUXKIT" transport --rc grid.rc --db observations.tar.gz --adjtest
expect_success "$name"
expect_in "$name" err.txt "operator cache: packed"
pass "$name"

name="the operator cache: a corrupt entry is rebuilt with a warning"
entry="$(ls -t "$CACHE"/operator-*.fkop | head -1)"
cache_run "$name" reusing
entry="$(ls -t "$CACHE"/operator-*.fkop | head -1)"
head -c 1000 "$entry" >cut.tmp && mv cut.tmp "$entry"
cache_run "$name" built
expect_in "$name" err.txt "[warning]" "is not usable" "rebuilding"
cache_run "$name" reusing
pass "$name"

echo "$passed passed, 0 failed"
