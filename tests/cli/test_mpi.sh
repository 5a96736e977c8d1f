#!/usr/bin/env bash
# `mpirun -n 2 fluxkit --mpi reconstruct` writes the same caches, byte for byte, as a 1-rank run; `mpirun -n 2
# fluxkit --mpi train` with [train] ensemble = 3 deals the members over the ranks and writes the same members;
# `mpirun -n 2 fluxkit --mpi explain` deals the chunks of samples over the ranks and writes the same files.
#   FLUXKIT=<fluxkit> bash tests/cli/test_mpi.sh <workdir>
set -euo pipefail
: "${FLUXKIT:?FLUXKIT must name the fluxkit binary}"
FLUXKIT="$(cd "$(dirname "$FLUXKIT")" && pwd)/$(basename "$FLUXKIT")"
mkdir -p "$1"
WORK="$(mktemp -d "$(cd "$1" && pwd)/run.XXXXXX")"
cd "$WORK"
export OMP_WAIT_POLICY=PASSIVE SOURCE_DATE_EPOCH=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cat >case.toml <<'TOML'
[run]
threads = 1
verbosity = "warn"
[synth.ocean]
output_dir = "data"
start_year = 2000
end_year = 2004
resolution = 10.0
[data]
root = "data"
[prepare]
output_dir = "samples"
train_years = [2001, 2002]
validation_years = [2003, 2003]
test_years = [2004, 2004]
test_experiments = ["experiment_1", "experiment_5"]
train_fraction = 0.5
validation_fraction = 0.5
[train]
models = ["xgboost"]
output_dir = "models"
[model.xgboost]
booster = "gbtree"
n_estimators = 20
[reconstruct]
models = ["xgboost"]
experiments = ["experiment_1", "experiment_5"]
regions = ["global", "north_atlantic", "southern_ocean"]
years = [2004, 2004]
[explain]
models = ["xgboost"]
methods = ["xgboost:tree_shap_interventional", "xgboost:kernel_shap"]
experiment = "experiment_1"
regions = ["global"]
year = 2004
months = [1, 7]
n_samples = 10
chunk = 3
background_size = 20
kernel_nsamples = 200
bootstrap = 50
TOML
"$FLUXKIT" synth ocean --config case.toml
"$FLUXKIT" prepare --config case.toml
"$FLUXKIT" train --config case.toml
# Same command line and config for both runs (the provenance is part of the files), into the same directory.
mpirun -n 1 "$FLUXKIT" --mpi reconstruct --config case.toml --output-dir caches
mv caches one_rank
mpirun -n 2 "$FLUXKIT" --mpi reconstruct --config case.toml --output-dir caches
mv caches two_ranks
n=0
while IFS= read -r f; do
  cmp "one_rank/$f" "two_ranks/$f" || { echo "FAIL: $f differs between 1 and 2 ranks"; echo "0 passed, 1 failed"; exit 1; }
  n=$((n + 1))
done < <(cd one_rank && find . -name '*.nc' | sort)
[[ $n -eq 6 ]] || { echo "FAIL: expected 6 caches, found $n"; echo "0 passed, 1 failed"; exit 1; }
[[ $(cd two_ranks && find . -name '*.nc' | wc -l) -eq 6 ]] || { echo "FAIL: 2-rank run wrote another number of caches"; exit 1; }
echo "ok    $n caches identical between 1 and 2 MPI ranks"

# An ensemble of 3 members: 1 rank and 2 ranks (members 0 and 2 on rank 0, member 1 on rank 1).
mpirun -n 1 "$FLUXKIT" --mpi train --config case.toml --set train.ensemble=3 --output-dir ens_one
mpirun -n 2 "$FLUXKIT" --mpi train --config case.toml --set train.ensemble=3 --output-dir ens_two
for k in 0 1 2; do
  cmp "ens_one/xgboost/member_$k/model.json" "ens_two/xgboost/member_$k/model.json" ||
    { echo "FAIL: member $k differs between 1 and 2 ranks"; echo "1 passed, 1 failed"; exit 1; }
done
cmp ens_one/xgboost/ensemble.toml ens_two/xgboost/ensemble.toml ||
  { echo "FAIL: ensemble.toml differs"; echo "1 passed, 1 failed"; exit 1; }
[[ $(cut -d, -f1-5 ens_two/validation_mse.csv) == $(cut -d, -f1-5 ens_one/validation_mse.csv) ]] &&
  grep -q '^xgboost/member_1,' ens_two/validation_mse.csv ||
  { echo "FAIL: validation_mse.csv of the 2-rank ensemble"; cat ens_two/validation_mse.csv; exit 1; }
echo "ok    3 ensemble members identical between 1 and 2 MPI ranks"
mpirun -n 2 "$FLUXKIT" --mpi reconstruct --config case.toml --models ens_two/xgboost --output-dir ens_caches
header="$(ncdump -h ens_caches/experiment_1/global/xgboost_global_reconstruction_2004_experiment_1.nc)"
[[ $header == *":ensemble_members = 3 ;"* ]] ||
  { echo "FAIL: the ensemble cache has no ensemble_members = 3"; echo "2 passed, 1 failed"; exit 1; }
echo "ok    2-rank reconstruction of the ensemble"
# Explanations: 2 methods x 2 months x 4 chunks of samples dealt over 2 ranks, rank 0 assembles the files.
mpirun -n 1 "$FLUXKIT" --mpi explain --config case.toml --output-dir expl --verbosity info 2> explain_one.log
mv expl expl_one
mpirun -n 2 "$FLUXKIT" --mpi explain --config case.toml --output-dir expl --verbosity info 2> explain_two.log
mv expl expl_two
n=0
while IFS= read -r f; do
  cmp "expl_one/$f" "expl_two/$f" || { echo "FAIL: $f differs between 1 and 2 ranks"; echo "3 passed, 1 failed"; exit 1; }
  n=$((n + 1))
done < <(cd expl_one && find . -type f | sort)
[[ $n -eq 5 && $(cd expl_two && find . | wc -l) -eq $(cd expl_one && find . | wc -l) ]] ||
  { echo "FAIL: expected 4 files and importance.csv alike in both runs, found $n"; echo "3 passed, 1 failed"; exit 1; }
grep -q "on rank 1" explain_two.log ||
  { echo "FAIL: rank 1 computed no samples"; cat explain_two.log; echo "3 passed, 1 failed"; exit 1; }
echo "ok    $n explanation files identical between 1 and 2 MPI ranks"
echo "4 passed, 0 failed"
cd /
rm -rf "$WORK"
