#!/usr/bin/env bash
# End-to-end tests of the fluxkit command line: exit codes, messages on stderr and the files written.
#
#   FLUXKIT=/path/to/fluxkit SRC=/path/to/source bash tests/cli/test_cli.sh <workdir>
#
# Prints one line per check and ends with "N passed, 0 failed"; stops at the first failure, printing what was
# expected and what came (exit status 1). The files of a run are kept under <workdir>/run.* when a check fails.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: FLUXKIT=<fluxkit binary> SRC=<source dir> $0 <workdir>" >&2
  exit 2
fi
: "${FLUXKIT:?FLUXKIT must name the fluxkit binary}"
: "${SRC:?SRC must name the source directory}"
if [[ ! -x $FLUXKIT ]]; then
  echo "FLUXKIT=$FLUXKIT is not an executable file" >&2
  exit 2
fi
FLUXKIT="$(cd "$(dirname "$FLUXKIT")" && pwd)/$(basename "$FLUXKIT")"
SRC="$(cd "$SRC" && pwd)"
if ! command -v ncdump >/dev/null; then
  echo "ncdump not found (Debian: apt-get install netcdf-bin)" >&2
  exit 2
fi

mkdir -p "$1"
RUN="$(mktemp -d "$(cd "$1" && pwd)/run.XXXXXX")"
cd "$RUN"
export OMP_WAIT_POLICY=PASSIVE

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
skip() {
  echo "skip  $1"
}

# run cmd...: runs the command with stdout in out.txt, stderr in err.txt and its exit status in $rc.
rc=0
run() {
  set +e
  "$@" >out.txt 2>err.txt
  rc=$?
  set -e
}
show() {  # the captured output of the last run, for failure messages
  printf 'exit %s; stdout: %s; stderr: %s' "$rc" "$(head -c 2000 out.txt)" "$(head -c 2000 err.txt)"
}
expect_success() {  # name
  [[ $rc -eq 0 ]] || fail "$1" "exit status 0" "$(show)"
}
expect_failure() {  # name
  [[ $rc -ne 0 ]] || fail "$1" "a non-zero exit status" "$(show)"
}
expect_in() {  # name, file (out.txt or err.txt), text...
  local name=$1 file=$2
  shift 2
  local text
  for text in "$@"; do
    grep -qF -- "$text" "$file" || fail "$name" "$file containing '$text'" "$(show)"
  done
}

TINY=(--resolution 10 --start-year 2000 --end-year 2001)
PREFIX=ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002
SYNTH_FLAGS=(--output-dir --experiments --start-year --end-year --resolution --grid --file-pattern --calendar
             --noise-std --deflate-level)

# ---- help ---------------------------------------------------------------------------------------------------

name="fluxkit --help exits 0 and lists the subcommands"
run "$FLUXKIT" --help
expect_success "$name"
expect_in "$name" out.txt "synth" "config" "--config" "--set"
pass "$name"

name="fluxkit synth ocean --help exits 0 and documents every flag"
run "$FLUXKIT" synth ocean --help
expect_success "$name"
expect_in "$name" out.txt "${SYNTH_FLAGS[@]}"
pass "$name"

# ---- synth ocean --------------------------------------------------------------------------------------------

name="synth ocean writes one file per experiment and year"
run "$FLUXKIT" synth ocean --output-dir out "${TINY[@]}"
expect_success "$name"
expected_files="out/experiment_1/$PREFIX.hind_2000.nc
out/experiment_1/$PREFIX.hind_2001.nc
out/experiment_5/$PREFIX.wind_2000.nc
out/experiment_5/$PREFIX.wind_2001.nc"
got_files="$(find out -type f | LC_ALL=C sort)"
[[ $got_files == "$expected_files" ]] || fail "$name" "$expected_files" "$got_files"
pass "$name"

name="synth ocean files are CF-1.8 with standard names and cell measures"
header="$(ncdump -h "out/experiment_1/$PREFIX.hind_2000.nc")"
for text in ':Conventions = "CF-1.8"' 'cell_measures = "area: area"' 'standard_name = "sea_surface_temperature"' \
            'time_counter:calendar = ' 'float co2flux_pre(time_counter, y, x)'; do
  grep -qF -- "$text" <<<"$header" || fail "$name" "ncdump -h containing '$text'" "$header"
done
pass "$name"

name="synth ocean --grid orca has x = 360/res + 2 and y = 180/res + 1"
run "$FLUXKIT" synth ocean --output-dir orca --grid orca --experiments experiment_1 --resolution 10 \
  --start-year 2000 --end-year 2000
expect_success "$name"
header="$(ncdump -h "orca/experiment_1/$PREFIX.hind_2000.nc")"
grep -qE '^[[:space:]]*x = 38 ;' <<<"$header" || fail "$name" "x = 38 (360/10 + 2)" "$(grep -E ' [xy] = ' <<<"$header")"
grep -qE '^[[:space:]]*y = 19 ;' <<<"$header" || fail "$name" "y = 19 (180/10 + 1)" "$(grep -E ' [xy] = ' <<<"$header")"
[[ $(find orca -type f | wc -l) -eq 1 ]] || fail "$name" "one file (experiment_1, 2000)" "$(find orca -type f)"
pass "$name"

name="synth ocean with SOURCE_DATE_EPOCH=0 is byte-identical across runs"
run env SOURCE_DATE_EPOCH=0 "$FLUXKIT" synth ocean --output-dir repro "${TINY[@]}"
expect_success "$name"
mv repro repro_first
run env SOURCE_DATE_EPOCH=0 "$FLUXKIT" synth ocean --output-dir repro "${TINY[@]}"
expect_success "$name"
count=0
while IFS= read -r f; do
  cmp -s "repro_first/$f" "repro/$f" || fail "$name" "identical repro_first/$f and repro/$f" "$(cmp "repro_first/$f" "repro/$f" 2>&1)"
  count=$((count + 1))
done < <(cd repro_first && find . -type f)
[[ $count -eq 4 ]] || fail "$name" "4 files compared" "$count"
grep -qF 'date_created = "1970-01-01T00:00:00Z"' <(ncdump -h "repro/experiment_5/$PREFIX.wind_2001.nc") ||
  fail "$name" 'date_created = "1970-01-01T00:00:00Z"' "$(ncdump -h "repro/experiment_5/$PREFIX.wind_2001.nc" | grep date_created)"
pass "$name"

name="synth ocean leaves no temp files behind"
leftovers="$(find out orca repro repro_first -name '.*' -type f)"
[[ -z $leftovers ]] || fail "$name" "no hidden temp files" "$leftovers"
pass "$name"

# ---- configuration errors -----------------------------------------------------------------------------------

name="unknown config key is named, with a suggestion"
printf '[synth.ocean]\nresolutoin = 2\n' >unknown_key.toml
run "$FLUXKIT" synth ocean --config unknown_key.toml --output-dir bad_key "${TINY[@]}"
expect_failure "$name"
expect_in "$name" err.txt "unknown_key.toml" "synth.ocean.resolutoin" "synth.ocean.resolution'"
[[ ! -e bad_key ]] || fail "$name" "nothing written" "$(find bad_key)"
pass "$name"

name="unknown config section is named"
printf '[synht.ocean]\nresolution = 2\n' >unknown_section.toml
run "$FLUXKIT" synth ocean --config unknown_section.toml --output-dir bad_section "${TINY[@]}"
expect_failure "$name"
expect_in "$name" err.txt "unknown_section.toml" "synht" "unknown section" "did you mean [synth"
[[ ! -e bad_section ]] || fail "$name" "nothing written" "$(find bad_section)"
pass "$name"

name="wrong value type names the key and the expected type"
printf '[synth.ocean]\nresolution = "two"\n' >wrong_type.toml
run "$FLUXKIT" synth ocean --config wrong_type.toml --output-dir bad_type
expect_failure "$name"
expect_in "$name" err.txt "wrong_type.toml" "synth.ocean.resolution" "expected a number"
pass "$name"

name="TOML syntax error names the file and the line"
printf '# a comment\n[synth.ocean]\nresolution = = 2\n' >syntax.toml
run "$FLUXKIT" synth ocean --config syntax.toml --output-dir bad_syntax
expect_failure "$name"
expect_in "$name" err.txt "syntax.toml" "line 3"
pass "$name"

name="--set with an invalid value names the key"
run "$FLUXKIT" synth ocean --set synth.ocean.grid=hexagonal --output-dir bad_set "${TINY[@]}"
expect_failure "$name"
expect_in "$name" err.txt "command line" "synth.ocean.grid" "hexagonal"
[[ ! -e bad_set ]] || fail "$name" "nothing written" "$(find bad_set)"
pass "$name"

name="--set with an unknown key names it"
run "$FLUXKIT" config show --set synth.ocean.resolutoin=2
expect_failure "$name"
expect_in "$name" err.txt "synth.ocean.resolutoin"
pass "$name"

name="a missing --config file is rejected"
run "$FLUXKIT" synth ocean --config does_not_exist.toml --output-dir bad_missing "${TINY[@]}"
expect_failure "$name"
expect_in "$name" err.txt "does_not_exist.toml"
[[ ! -e bad_missing ]] || fail "$name" "nothing written" "$(find bad_missing)"
pass "$name"

name="config check accepts a valid file"
printf '[synth.ocean]\nresolution = 5\ngrid = "orca"\n' >valid.toml
run "$FLUXKIT" config check --config valid.toml
expect_success "$name"
pass "$name"

# ---- config docs and show -----------------------------------------------------------------------------------

name="config docs matches docs/config.md"
if [[ -f $SRC/docs/config.md ]]; then
  run "$FLUXKIT" config docs
  expect_success "$name"
  if ! diff -u "$SRC/docs/config.md" out.txt >docs.diff; then
    fail "$name" "the output of 'fluxkit config docs' equal to $SRC/docs/config.md (regenerate it)" "$(head -40 docs.diff)"
  fi
  pass "$name"
else
  skip "$name: $SRC/docs/config.md does not exist yet"
fi

name="config show applies --set"
run "$FLUXKIT" config show --set synth.ocean.resolution=5
expect_success "$name"
grep -qxF 'resolution = 5.0' out.txt || fail "$name" "a line 'resolution = 5.0'" "$(show)"
pass "$name"

name="config show reflects the --config file"
run "$FLUXKIT" config show --config valid.toml
expect_success "$name"
grep -qxF 'resolution = 5.0' out.txt || fail "$name" "a line 'resolution = 5.0'" "$(show)"
grep -qxF "grid = 'orca'" out.txt || fail "$name" "a line \"grid = 'orca'\"" "$(show)"
pass "$name"

# ---- prepare --------------------------------------------------------------------------------------------------

name="prepare builds every store and prints cells and windows"
run "$FLUXKIT" synth ocean --output-dir prep_data --resolution 10 --start-year 2000 --end-year 2004
expect_success "$name"
PREP=(--root prep_data --output-dir prep_out --train-years 2000,2001 --validation-years 2002,2003
  --test-years 2004,2004 --train-fraction 0.3 --validation-fraction 0.3)
run "$FLUXKIT" prepare "${PREP[@]}"
expect_success "$name"
expect_in "$name" err.txt "train " "validation " "North_Atlantic_test_2004_experiment_1.nc" "windows"
for f in prep_out/train.nc prep_out/validation.nc prep_out/test/experiment_1/global/global_test_2004_experiment_1.nc \
  prep_out/test/experiment_1/Southern_Ocean/Southern_Ocean_test_2004_experiment_1.nc; do
  [[ -f $f ]] || fail "$name" "$f written" "$(find prep_out -type f)"
done
ncdump -h prep_out/train.nc >train_header.txt
grep -qF ':features = "SST,SAL,ice_frac' train_header.txt || fail "$name" "feature list in train.nc" "$(tail -40 train_header.txt)"
pass "$name"

name="prepare with a missing year names every missing file and writes nothing"
run "$FLUXKIT" prepare "${PREP[@]}" --output-dir prep_bad --train-years 1997,2001
expect_failure "$name"
expect_in "$name" err.txt "missing 3 yearly file(s)" "1997" "1998" "1999"
[[ ! -e prep_bad/train.nc ]] || fail "$name" "no train.nc" "$(find prep_bad)"
pass "$name"

name="prepare --help lists the [prepare] and [data] flags"
run "$FLUXKIT" prepare --help
expect_success "$name"
expect_in "$name" out.txt "--train-years" "--subsample" "--validation-context" "--custom-regions" "--root" "--features"
pass "$name"

# ---- explain --------------------------------------------------------------------------------------------------

name="explain --help lists the [explain] flags and the methods"
run "$FLUXKIT" explain --help
expect_success "$name"
expect_in "$name" out.txt "--n-samples" "--methods" "--background-kmeans" "--timeshap-tolerance" "kernel_shap" \
  "tree_shap_interventional" "timeshap" "attention"
pass "$name"

name="explain with an unknown method is a configuration error naming the methods"
run "$FLUXKIT" explain --methods xgboost:shapley_magic --output-dir explain_bad
expect_failure "$name"
expect_in "$name" err.txt "methods" "shapley_magic" "kernel_shap"
[[ ! -e explain_bad ]] || fail "$name" "no output directory" "$(find explain_bad)"
pass "$name"

name="explain without models or stores names every missing input and writes nothing"
run "$FLUXKIT" explain --models nowhere/mlp --output-dir explain_bad
expect_failure "$name"
expect_in "$name" err.txt "missing inputs" "nowhere/mlp" "test store"
[[ ! -e explain_bad ]] || fail "$name" "no output directory" "$(find explain_bad)"
pass "$name"

echo "$passed passed, 0 failed"
cd /
rm -rf "$RUN"
