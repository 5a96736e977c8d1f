"""`fluxkit tune` on a real PostgreSQL storage: two worker processes share one study and split its trials.

Checks that two concurrent `fluxkit tune` processes on the same postgresql:// storage both succeed, together run
n_trials (at most one extra: each may start a trial when both see n_trials - 1 finished), with unique contiguous
trial numbers, each trial tagged with the worker (hostname:pid) that ran it, both workers doing some, and that
the trials CSV each writes matches the storage (the last one lists every trial). Also that an unreachable
storage URL fails fast, naming the URL, before anything is written. Why: this is the multi-machine set-up
of docs/tuning.md (concurrent trial numbering, row locking), which SQLite does not exercise.
Needs FLUXKIT, PYTHONPATH, Debian's postgresql (the server runs as `nobody` when we are root) and python3-psycopg2.
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

FLUXKIT = os.environ.get("FLUXKIT", "")
N_TRIALS = 8

RUN_TOML = f"""
run = {{threads = 1, seed = 42, verbosity = "warn"}}
data = {{root = "data"}}
[synth.ocean]
output_dir = "data"
experiments = ["experiment_5"]
start_year = 2000
end_year = 2004
resolution = 10.0
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
[tune]
models = ["mlp"]
n_trials = {N_TRIALS}
pruner_startup_trials = 2
max_epochs = 6
output_dir = "tuning"
space.mlp = {{n_layers = {{low = 1, high = 2}}, hidden_dim = {{low = 8, high = 32}}}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tune(case: Path, url: str, out: str, *flags: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([FLUXKIT, "tune", "--config", "run.toml", "--threads", "1", "--set",
                             f"tune.storage={url}", "--set", f"tune.output_dir={out}", *flags], cwd=case,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    assert FLUXKIT and Path(FLUXKIT).is_file(), "set FLUXKIT to the fluxkit binary"
    d = tmp_path_factory.mktemp("tune_pg")
    (d / "run.toml").write_text(RUN_TOML)
    for verb in (["synth", "ocean"], ["prepare"]):
        subprocess.run([FLUXKIT, *verb, "--config", "run.toml"], cwd=d, check=True, capture_output=True)
    return d


@pytest.fixture()
def pg_url():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        pytest.fail("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): install Debian's postgresql")
    bindir = Path(bins[-1]).parent
    root = tempfile.mkdtemp(prefix="fluxkit-pg-", dir="/tmp")  # /tmp/pytest-of-root is 0700: nobody cannot enter
    as_user = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("nobody")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    data, port = f"{root}/data", free_port()
    started = False
    try:
        subprocess.run(as_user + [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "fluxkit", "-E", "UTF8",
                                  "--locale=C", "--no-sync"], check=True, capture_output=True)
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off"
        r = subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-l", f"{root}/server.log", "-w", "-t", "60",
                                      "-o", opts, "start"], capture_output=True, text=True)
        started = True
        assert r.returncode == 0, f"pg_ctl start failed: {r.stderr}\n{Path(root, 'server.log').read_text()}"
        yield f"postgresql://fluxkit@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# Both workers start together on an empty database, as on a cluster's first run: they race to create Optuna's
# tables, which open_storage absorbs by retrying.
def test_two_workers_share_a_postgres_study(case, pg_url, tmp_path):
    import optuna

    t0 = time.monotonic()
    procs = {out: tune(case, pg_url, str(tmp_path / out), "--verbosity", "info") for out in ("out_a", "out_b")}
    results = {out: p.communicate(timeout=600) for out, p in procs.items()}
    for out, p in procs.items():
        assert p.returncode == 0, f"{out}: exit {p.returncode}\n{results[out][1]}"
    csvs = {out: tmp_path / out / "trials_mlp.csv" for out in procs}

    trials = optuna.load_study(study_name="mlp", storage=pg_url).get_trials(deepcopy=False)
    assert all(t.state.is_finished() for t in trials), [t.state for t in trials]
    assert N_TRIALS <= len(trials) <= N_TRIALS + 1
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    workers = {}
    for t in trials:
        w = t.user_attrs.get("fluxkit", {}).get("worker")
        assert w, f"trial {t.number} has no worker: {t.user_attrs}"
        workers[w] = workers.get(w, 0) + 1
    assert sum(workers.values()) == len(trials)
    print(f"two workers: {time.monotonic() - t0:.1f} s, {len(trials)} trials, {sorted(workers.values())}")
    if len(workers) == 1:
        # Legitimate only when the other worker's first look found the study complete: under load (ctest -j)
        # its start-up can outlast every trial of the first. It then says so and runs none.
        idle = [out for out in procs if not re.search(r"mlp trial \d+: ", results[out][1])]
        assert len(idle) == 1, f"workers {workers}; logs:\n" + "\n".join(r[1] for r in results.values())
        log_idle = results[idle[0]][1]
        assert re.search(rf"study \S*mlp holds \d+ of {N_TRIALS} trials", log_idle), \
            f"one worker ran every trial ({workers}) while the other found the study unfinished:\n{log_idle}"

    by_number = {t.number: t for t in trials}
    for out in sorted(csvs, key=lambda o: csvs[o].stat().st_mtime_ns):
        df = pd.read_csv(csvs[out])
        numbers = sorted(df["number"])
        assert numbers == list(range(len(numbers))), f"{out}: {numbers}"
        for row in df.itertuples():  # a trial the other worker was running then may have finished since
            if row.state != "running":
                assert row.state == by_number[row.number].state.name.lower(), f"{out}: trial {row.number}"
                assert row.worker == by_number[row.number].user_attrs["fluxkit"]["worker"]
    assert len(numbers) == len(trials) and "running" not in set(df["state"]), \
        f"{out} (written last) does not list every finished trial"


def test_unreachable_storage_fails_fast(case, tmp_path):
    url = f"postgresql://fluxkit@127.0.0.1:{free_port()}/postgres"
    t0 = time.monotonic()
    p = tune(case, url, str(tmp_path / "out"))
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0
    assert time.monotonic() - t0 < 30
    assert "cannot be reached" in err and url in err, err
    assert not (tmp_path / "out").exists()
