"""Hyper-parameter tuning of the four models on Optuna (`fluxkit tune`, docs/tuning.md).

    import fluxkit
    cfg = fluxkit.Config("configs/demo.toml")
    summary = fluxkit.tune(cfg)                  # the studies of [tune]; writes [tune] output_dir/best.toml
    fluxkit.train(fluxkit.Config(["configs/demo.toml", "demo/tuning/best.toml"]))

Each model of [tune] models has one study in the storage of [tune] storage (SQLite by default, PostgreSQL for
workers on several machines). A trial trains in-process through the library (no files written), reports the
validation MSE every epoch (XGBoost: every [tune] xgboost_report_every rounds) and stops when the pruner says so.
A study is finished when it holds [tune] n_trials finished trials; a rerun continues it, a worker killed mid-trial
leaves a trial that the next worker marks failed and retries.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .space import DEFAULT_SPACES, SpaceError
from .study import TuneError, check_ready, run_worker, settings
from .results import write_results

__all__ = ["tune", "DEFAULT_SPACES", "SpaceError", "TuneError"]

log = logging.getLogger("fluxkit.tune")


def _config(cfg):
    from ..pipeline import Config

    return cfg if isinstance(cfg, Config) else Config(cfg)


def _spawn_workers(cfg, workers: int, deadline: float | None, max_trials: int | None) -> None:
    """Runs `workers` worker processes on this machine (python -m fluxkit.tuning --worker k) and waits for all."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", prefix="fluxkit-tune-", delete=False) as f:
        f.write(cfg.effective_toml())
        path = f.name
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # several OpenMP teams on one machine must not spin
    # the directory this package was imported from (<build>/python, with the extension module), not the one its
    # files link to
    package_root = str(Path(__file__).parents[2])
    env["PYTHONPATH"] = os.pathsep.join([package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    try:
        procs = []
        for k in range(workers):
            cmd = [sys.executable, "-m", "fluxkit.tuning", "--config", path, "--worker", str(k),
                   "--workers", str(workers)]
            if deadline is not None:
                cmd += ["--deadline", repr(deadline)]
            if max_trials is not None:
                cmd += ["--trials", str(max_trials)]
            procs.append(subprocess.Popen(cmd, env=env))
        codes = [p.wait() for p in procs]
    finally:
        os.unlink(path)
    bad = [f"worker {k} exited with status {c}" for k, c in enumerate(codes) if c != 0]
    if bad:
        raise TuneError("; ".join(bad) + " (its messages are above); the studies keep every finished trial: "
                        "run `fluxkit tune` again to continue")


def tune(config, *, workers: int | None = None, trials: int | None = None) -> dict:
    """Runs the studies of [tune] and writes the result files; returns {model: summary row}.

    workers: worker processes on this machine (default [tune] workers), [run] threads split between them.
    trials: at most this many trials per model in each worker (default: until the study holds n_trials).
    Everything that can fail before a trial (search spaces, storage, sample stores) is checked first.
    """
    cfg = _config(config)
    s = settings(cfg)
    check_ready(cfg, s)
    workers = int(workers or s.tune["workers"])
    minutes = float(s.tune["timeout_minutes"])
    deadline = time.time() + 60 * minutes if minutes > 0 else None
    log.info("tuning %s: %d trials each, %s sampler, %s pruner, storage %s, %d worker%s",
             ", ".join(s.tune["models"]), int(s.tune["n_trials"]), s.tune["sampler"], s.tune["pruner"],
             s.storage_url, workers, "" if workers == 1 else "s")
    if workers == 1:
        run_worker(cfg, s, 0, 1, trials, deadline)
    else:
        _spawn_workers(cfg, workers, deadline, trials)
    summary = write_results(s)
    for m, row in summary.items():
        best = "-" if row["best_value"] is None else f"{row['best_value']:.6g} (trial {row['best_trial']})"
        log.info("%-15s %3d/%d trials (%d complete, %d pruned, %d failed), %d epochs/rounds, best %s", m,
                 row["trials"], row["target"], row["complete"], row["pruned"], row["failed"], row["epochs"], best)
    log.info("best parameters: %s (fluxkit train --config <run.toml> --config %s)",
             s.output_dir / "best.toml", s.output_dir / "best.toml")
    return summary
