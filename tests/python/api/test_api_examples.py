"""The scripts of examples/ run on the test cases."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(os.environ.get("FLUXKIT_SOURCE_DIR", Path(__file__).resolve().parents[3])) / "examples"


def run(script, *args, cwd):
    r = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], cwd=cwd, capture_output=True,
                       text=True, env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"), timeout=600)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_explore_store(ocean_run):
    out = run("explore_store.py", ocean_run / "samples" / "train.nc", cwd=ocean_run)
    assert "sequence layout" in out and "shares the store's memory: True" in out


@pytest.mark.parametrize("model", ["xgboost", "mlp"])
def test_predict(ocean_run, model):
    out = run("predict.py", ocean_run / "models" / model, ocean_run / "samples" / "validation.nc", cwd=ocean_run)
    assert "RMSE" in out and "drivers by mean |phi|" in out


def test_transport_inversion(transport_case):
    out = run("transport_inversion.py", "transport.rc", "observations.tar.gz", "operator.fkop", cwd=transport_case)
    line = next(l for l in out.splitlines() if l.startswith("lsqr:"))
    assert float(line.rsplit(" ", 1)[1]) < 1e-6, line
