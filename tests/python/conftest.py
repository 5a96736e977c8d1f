"""pytest fixtures of the figure, report and exploration tests: one small fluxkit run made with the real binary.

Environment: FLUXKIT = the fluxkit binary (ctest passes it), PYTHONPATH = <source>/python.
The run: a 10-degree synthetic ocean 2000-2005, the training stores from experiment_5, XGBoost trained twice
(10 rounds, kept as the artifact `xgb_small`, then 30 rounds: `xgboost`), reconstructions and the evaluation of
experiment_1 2004-2005 in three regions, and `fluxkit explore` of both experiments in two regions.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLUXKIT = os.environ.get("FLUXKIT", "")

RUN_TOML = """
[run]
threads = 2
seed = 42
verbosity = "warn"

[synth.ocean]
output_dir = "data"
experiments = ["experiment_1", "experiment_5"]
start_year = 2000
end_year = 2005
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
test_years = [2004, 2005]
test_regions = ["global", "north_atlantic", "southern_ocean"]

[train]
models = ["xgboost"]
output_dir = "models"

[model.xgboost]
booster = "gbtree"
n_estimators = 30
max_depth = 4
early_stopping_rounds = 5

[reconstruct]
models = ["xgboost", "models/xgb_small"]
experiments = ["experiment_1"]
regions = ["global", "north_atlantic", "southern_ocean"]
years = [2004, 2005]
output_dir = "reconstruction"

[evaluate]
caches_dir = "reconstruction"
models = ["xgboost", "xgb_small"]
experiments = ["experiment_1"]
regions = ["global", "north_atlantic", "southern_ocean"]
years = [2004, 2005]
output_dir = "evaluation"

[explore]
experiments = ["experiment_1", "experiment_5"]
regions = ["north_atlantic", "southern_ocean"]
years = [2000, 2005]
months = [1, 7]
output_dir = "exploration"

[figures]
output_dir = "figures"
dpi = 80

[report]
output_dir = "report"
title = "fluxkit test run"
"""


def fluxkit(*args, cwd, check=True):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    r = subprocess.run([FLUXKIT, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"fluxkit {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A finished run (everything but figures and report), shared by the tests; copy it before breaking it."""
    if not FLUXKIT or not os.access(FLUXKIT, os.X_OK):
        pytest.fail("FLUXKIT must name the fluxkit binary")
    d = tmp_path_factory.mktemp("run")
    (d / "run.toml").write_text(RUN_TOML)
    c = ["--config", "run.toml"]
    fluxkit("synth", "ocean", *c, cwd=d)
    fluxkit("prepare", *c, cwd=d)
    fluxkit("train", *c, "--set", "model.xgboost.n_estimators=10", cwd=d)
    os.replace(d / "models" / "xgboost", d / "models" / "xgb_small")
    fluxkit("train", *c, cwd=d)
    fluxkit("reconstruct", *c, cwd=d)
    fluxkit("evaluate", *c, cwd=d)
    fluxkit("explore", *c, cwd=d)
    return d


@pytest.fixture()
def run_copy(run_dir, tmp_path) -> Path:
    """A private copy of the run (for tests that break files)."""
    d = tmp_path / "run"
    shutil.copytree(run_dir, d, ignore=shutil.ignore_patterns("figures", "report"))
    return d


@pytest.fixture()
def chdir(monkeypatch):
    def go(path):
        monkeypatch.chdir(path)
        return path
    return go
