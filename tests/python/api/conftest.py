"""Fixtures of the Python API tests (fluxkit._core): small cases made with the real fluxkit binary.

Environment (ctest sets it): FLUXKIT = the fluxkit binary, PYTHONPATH = <build>/python (the package with the
extension module), FLUXKIT_SOURCE_DIR = the repository (examples/).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

FLUXKIT = os.environ.get("FLUXKIT", "")

# A 10-degree synthetic ocean, training stores from experiment_5, one test year of experiment_1.
OCEAN_TOML = """
[run]
threads = 2
seed = 42
verbosity = "warn"

[synth.ocean]
output_dir = "data"
experiments = ["experiment_1", "experiment_5"]
start_year = 2000
end_year = 2004
resolution = 10.0

[data]
root = "data"

[prepare]
output_dir = "samples"
train_experiment = "experiment_5"
train_years = [2001, 2002]
train_fraction = 1.0
validation_experiment = "experiment_5"
validation_years = [2003, 2003]
validation_fraction = 1.0
test_experiments = ["experiment_1"]
test_years = [2004, 2004]
test_regions = ["global"]

[train]
models = ["xgboost", "mlp"]
output_dir = "models"

[model.xgboost]
booster = "gbtree"
n_estimators = 12
max_depth = 3
early_stopping_rounds = 5

[model.mlp]
hidden_dims = [16, 8]
max_epochs = 3
patience = 3

[model.attention_lstm]
hidden_dim = 8
max_epochs = 4
patience = 4

[reconstruct]
models = ["xgboost", "mlp"]
experiments = ["experiment_1"]
regions = ["global"]
years = [2004, 2004]
output_dir = "reconstruction"

[evaluate]
caches_dir = "reconstruction"
models = ["xgboost", "mlp"]
experiments = ["experiment_1"]
regions = ["global"]
years = [2004, 2004]
output_dir = "evaluation"

[explain]
models = ["xgboost", "mlp"]
methods = ["xgboost:tree_shap_interventional", "mlp:kernel_shap"]
experiment = "experiment_1"
regions = ["global"]
year = 2004
months = [7]
n_samples = 4
background_size = 20
background_kmeans = 0
output_dir = "explanations"
"""


def fluxkit(*args, cwd, check=True):
    if not FLUXKIT or not os.access(FLUXKIT, os.X_OK):
        pytest.fail("FLUXKIT must name the fluxkit binary")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    r = subprocess.run([FLUXKIT, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"fluxkit {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="session")
def ocean_run(tmp_path_factory) -> Path:
    """A finished command-line run (synth, prepare, train, reconstruct, evaluate, explain) of OCEAN_TOML."""
    d = tmp_path_factory.mktemp("cli")
    (d / "run.toml").write_text(OCEAN_TOML)
    for verb in ("synth", "prepare", "train", "reconstruct", "evaluate", "explain"):
        args = ["synth", "ocean"] if verb == "synth" else [verb]
        fluxkit(*args, "--config", "run.toml", cwd=d)
    return d


@pytest.fixture(scope="session")
def transport_case(tmp_path_factory) -> Path:
    """A small synthetic LUMIA case (60 observations) with its packed operator, in a directory the db's relative
    footprint paths resolve from (run the transport from there)."""
    d = tmp_path_factory.mktemp("transport")
    fluxkit("synth", "footprints", "--output-dir", "case", "--observations", "60", "--seed", "3", cwd=d)
    for f in ("transport.rc", "fluxes.nc", "observations.tar.gz"):
        (d / f).write_bytes((d / "case" / f).read_bytes())
    fluxkit("transport", "pack", "--rc", "transport.rc", "--db", "observations.tar.gz", "--out", "operator.fkop",
            cwd=d)
    return d


@pytest.fixture()
def chdir(monkeypatch):
    def go(path):
        monkeypatch.chdir(path)
        return path
    return go
