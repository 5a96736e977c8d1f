"""`fluxkit tune` on a small synthetic case (SQLite storage): search spaces and their errors, pruning, a rerun
that continues the study, a diverging trial recorded as failed, a worker killed with SIGKILL whose trial is failed
and retried without losing a completed one, and best.toml read by `fluxkit train --config ... --config best.toml`.

Needs FLUXKIT (the binary) and PYTHONPATH=<build>/python (the package with fluxkit._core).
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest

FLUXKIT = os.environ.get("FLUXKIT", "")

RUN_TOML = """
[run]
threads = 1
seed = 42
verbosity = "warn"

[synth.ocean]
output_dir = "data"
experiments = ["experiment_5"]
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
test_experiments = ["experiment_5"]
test_years = [2004, 2004]
test_regions = ["global"]

[train]
models = ["mlp"]
output_dir = "models"

[tune]
models = ["mlp", "xgboost"]
n_trials = 5
pruner_startup_trials = 2
pruner_warmup_steps = 1
max_epochs = 4
xgboost_report_every = 5
heartbeat_seconds = 1

[tune.space.mlp]
n_layers = {low = 1, high = 2}
hidden_dim = {low = 8, high = 24}

[tune.space.xgboost]
n_estimators = {low = 20, high = 40, step = 20}
max_depth = {low = 2, high = 4}
"""


def fluxkit(*args, cwd, check=True, timeout=600):
    p = subprocess.run([FLUXKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"fluxkit {' '.join(args)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    assert FLUXKIT, "set FLUXKIT to the fluxkit binary"
    d = tmp_path_factory.mktemp("tune")
    (d / "run.toml").write_text(RUN_TOML)
    fluxkit("synth", "ocean", "--config", "run.toml", cwd=d)
    fluxkit("prepare", "--config", "run.toml", cwd=d)
    return d


def trials(db: Path, study: str) -> pd.DataFrame:
    """The trials of a study straight from the SQLite file (number, state, value)."""
    with sqlite3.connect(db) as c:
        return pd.read_sql_query(
            "SELECT t.number, t.state, v.value FROM trials t JOIN studies s USING (study_id) "
            "LEFT JOIN trial_values v USING (trial_id) WHERE s.study_name = ? ORDER BY t.number", c, params=(study,))


# ---- search spaces: every bad space is a configuration error before any trial or file

@pytest.mark.parametrize("space, message", [
    ("[tune.space.mlp]\nlearning_rat = {low = 1e-4, high = 1e-2}", "tune.space.mlp.learning_rat: unknown parameter"),
    ("[tune.space.mlp]\nlearning_rate = {low = 1e-2, high = 1e-4}", "empty range"),
    ("[tune.space.xgboost]\nreg_alpha = {low = 0.0, high = 1.0, log = true}", "log range must lie above 0"),
    ("[tune.space.mlp]\ndropout = {choices = []}", "non-empty list"),
    ("[tune.space.mlp]\nmax_epochs = 5", "change tune.max_epochs instead"),
    ("[tune.space.lstm]\nnum_layer = [1, 2]", "tune.space.lstm.num_layer: unknown parameter"),
])
def test_bad_space_is_rejected_before_any_trial(case, tmp_path, space, message):
    (tmp_path / "bad.toml").write_text(f"[tune]\noutput_dir = \"{tmp_path / 'out'}\"\n{space}\n")
    p = fluxkit("tune", "--config", "run.toml", "--config", str(tmp_path / "bad.toml"), cwd=case, check=False)
    assert p.returncode == 1, p.stderr
    assert "configuration error" in p.stderr and message in p.stderr
    assert not (tmp_path / "out").exists()


def test_unprepared_data_and_bad_settings_fail_before_any_trial(tmp_path):
    (tmp_path / "run.toml").write_text(RUN_TOML + "\n")
    p = fluxkit("tune", "--config", "run.toml", cwd=tmp_path, check=False)
    assert p.returncode != 0
    assert "samples/train.nc" in p.stderr and "fluxkit prepare" in p.stderr
    assert not (tmp_path / "tuning" / "best.toml").exists()
    p = fluxkit("tune", "--config", "run.toml", "--pruner", "mediam", cwd=tmp_path, check=False)
    assert p.returncode == 1 and "tune.pruner" in p.stderr and "expected median" in p.stderr
    p = fluxkit("tune", "--config", "run.toml", "--storage", "mysql://x", cwd=tmp_path, check=False)
    assert p.returncode == 1 and "tune.storage" in p.stderr


# ---- a study, its rerun, and training from its output

def test_study_prunes_resumes_and_feeds_train(case):
    out = case / "tuning"
    fluxkit("tune", "--config", "run.toml", cwd=case)
    assert not (case / "models").exists()  # trials train in memory: no artifact, checkpoint or loss table
    db = out / "studies.db"
    first = {m: trials(db, m) for m in ("mlp", "xgboost")}
    for m, df in first.items():
        assert len(df) == 5 and set(df.state) <= {"COMPLETE", "PRUNED"}, (m, df)
    summary = pd.read_csv(out / "summary.csv").set_index("model")
    assert summary.loc["mlp", "trials"] == 5 and summary.loc["mlp", "pruned"] >= 1, summary  # pruning is on
    table = pd.read_csv(out / "trials_mlp.csv")
    assert list(table.number) == [0, 1, 2, 3, 4]
    pruned = table[table.state == "pruned"]
    assert (pruned.epochs < 4).all() and pruned.stop_reason.str.startswith("pruned after step").all()

    # The rerun with a larger budget continues the same studies: the first five trials are untouched.
    fluxkit("tune", "--config", "run.toml", "--n-trials", "7", "--models", "mlp", cwd=case)
    again = trials(db, "mlp")
    assert len(again) == 7
    pd.testing.assert_frame_equal(again.iloc[:5].reset_index(drop=True), first["mlp"])
    # A study that already holds its trials is skipped.
    fluxkit("tune", "--config", "run.toml", "--n-trials", "7", "--models", "mlp", cwd=case)
    assert len(trials(db, "mlp")) == 7

    # best.toml: the best complete trial's values as [model.mlp], read by train through a second --config.
    best = tomllib.loads((out / "best.toml").read_text())
    complete = again[again.state == "COMPLETE"]
    row = complete.loc[complete.value.idxmin()]
    mlp_rows = pd.read_csv(out / "trials_mlp.csv").set_index("number")
    n_layers = int(mlp_rows.loc[row.number, "param_n_layers"])
    expect = [int(mlp_rows.loc[row.number, f"param_hidden_dim_{i}"]) for i in range(n_layers)]
    assert best["model"]["mlp"]["hidden_dims"] == expect
    assert best["model"]["mlp"]["learning_rate"] == pytest.approx(mlp_rows.loc[row.number, "param_learning_rate"])
    assert "max_epochs" not in best["model"]["mlp"]  # the trial budget is not a tuned value
    fluxkit("train", "--config", "run.toml", "--config", "tuning/best.toml", cwd=case)
    artifact = tomllib.loads((case / "models" / "mlp" / "model.toml").read_text())
    assert artifact["hyper_parameters"]["hidden_dims"] == expect
    assert artifact["hyper_parameters"]["batch_size"] == best["model"]["mlp"]["batch_size"]

    figs = case / "figs"
    p = subprocess.run([sys.executable, "-m", "fluxkit.figures", "--config", "run.toml", "--families", "tuning",
                        "--output-dir", str(figs)], cwd=case, capture_output=True, text=True)
    assert (figs / "tuning_history.png").exists() and (figs / "tuning_importance.png").exists(), p.stderr


def test_local_worker_processes_share_the_study(case, tmp_path):
    out = tmp_path / "out"
    p = fluxkit("tune", "--config", "run.toml", "--models", "mlp", "--n-trials", "4", "--workers", "2",
                "--output-dir", str(out), "--threads", "2", cwd=case)
    df = pd.read_csv(out / "trials_mlp.csv")
    assert 4 <= len(df) <= 5 and list(df.number) == list(range(len(df)))  # one extra at most: see docs/tuning.md
    assert df.worker.nunique() == 2, df.worker  # both worker processes ran trials
    assert "worker 0 of 2" in p.stderr and "worker 1 of 2" in p.stderr


def test_diverging_trial_is_failed_and_the_study_goes_on(case, tmp_path):
    (tmp_path / "nan.toml").write_text(f"""
[tune]
models = ["mlp"]
n_trials = 5
output_dir = "{tmp_path / 'out'}"
[tune.space.mlp]
learning_rate = [1e-3, 1e9]
""")
    fluxkit("tune", "--config", "run.toml", "--config", str(tmp_path / "nan.toml"), cwd=case)
    df = pd.read_csv(tmp_path / "out" / "trials_mlp.csv")
    failed = df[df.state == "fail"]
    assert len(failed) >= 1 and (failed.param_learning_rate == 1e9).all()
    assert failed.stop_reason.str.contains("non-finite").all()
    assert (df.state == "complete").sum() >= 1  # the study went on after the failure
    assert len(df) == 5  # a failed trial counts: it is not retried


def test_killed_worker_leaves_a_usable_study(case, tmp_path):
    out = tmp_path / "out"
    base = ["tune", "--config", "run.toml", "--models", "mlp", "--output-dir", str(out), "--pruner", "none"]
    fluxkit(*base, "--n-trials", "1", cwd=case)  # trial 0: complete
    db = out / "studies.db"
    done = trials(db, "mlp")
    assert list(done.state) == ["COMPLETE"]

    # A long trial 1, killed with SIGKILL while it runs (its heartbeat stops).
    p = subprocess.Popen([FLUXKIT, *base, "--n-trials", "2", "--max-epochs", "100000", "--patience", "100000"],
                         cwd=case, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            t = trials(db, "mlp")
            if len(t) == 2 and t.state.iloc[1] == "RUNNING":
                break
            time.sleep(0.2)
        else:
            raise AssertionError("trial 1 never started")
        time.sleep(1.5)
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the fluxkit process and its Python child
        p.wait()
    assert trials(db, "mlp").state.iloc[1] == "RUNNING"  # nobody has noticed yet
    time.sleep(2.5)  # longer than the grace period (2 heartbeats)

    fluxkit(*base, "--n-trials", "3", cwd=case)
    after = pd.read_csv(out / "trials_mlp.csv").set_index("number")
    assert after.loc[0, "state"] == "complete" and after.loc[0, "value"] == pytest.approx(done.value.iloc[0], rel=1e-14)
    assert after.loc[1, "state"] == "fail"
    retry = after[after.retry_of == 1]
    assert len(retry) == 1 and retry.state.iloc[0] == "complete"
    params = [c for c in after.columns if c.startswith("param_")]
    assert (retry[params].iloc[0].fillna(-1) == after.loc[1, params].fillna(-1)).all()  # the same parameters
    assert int((after.state != "fail").sum()) == 3  # the killed trial does not count: its retry does
