"""The studies: Optuna storage, sampler and pruner from [tune], the objective (one in-process fluxkit training
per trial, reporting every epoch or every N boosting rounds) and the worker loop. The result files are written
by results.py."""
from __future__ import annotations

import logging
import math
import os
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .space import Param, SpaceError, model_space, sample, values_of_params

log = logging.getLogger("fluxkit.tune")

FINISHED = ("COMPLETE", "PRUNED", "FAIL")


class TuneError(RuntimeError):
    """A tuning set-up that cannot run (storage, space, data); raised before any trial starts."""


class TrialDiverged(RuntimeError):
    """The training of a trial produced a non-finite loss: the trial is recorded as failed."""


def _optuna():
    import warnings

    import optuna  # Debian's python3-optuna; imported on use so `fluxkit --help` never pays for it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # heartbeats, fail_stale_trials and the retry callback are marked experimental in Optuna 3.1
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


@dataclass
class Settings:
    """[tune] with its search spaces resolved and checked."""
    tune: dict
    spaces: dict[str, dict[str, Param]]
    storage_url: str
    output_dir: Path
    run_seed: int
    threads: int  # [run] threads, 0 = all cores

    @property
    def sampler_seed(self) -> int:
        seed = int(self.tune["sampler_seed"])
        return seed if seed >= 0 else self.run_seed

    def study_name(self, model: str) -> str:
        return f"{self.tune['study_prefix']}{model}"


def settings(cfg) -> Settings:
    """Reads and checks [tune] and [tune.space.*] of a fluxkit.Config (SpaceError naming the key)."""
    eff = cfg.effective()
    tune = eff["tune"]
    overrides = tune.get("space", {}) or {}
    spaces = {}
    # every space given is checked, also those of models not tuned this time (a typo shows at once)
    for model in list(tune["models"]) + [m for m in overrides if m not in tune["models"]]:
        if not isinstance(overrides.get(model, {}), dict):
            raise SpaceError(f"tune.space.{model}: expected a table ([tune.space.{model}])")
        section = eff["model"].get(model, {})
        space = model_space(model, overrides.get(model), set(section))
        if model in tune["models"]:
            spaces[model] = space
    out = Path(tune["output_dir"])
    url = tune["storage"] or f"sqlite:///{out / 'studies.db'}"
    return Settings(tune, spaces, url, out, int(eff["run"]["seed"]), int(eff["run"]["threads"]))


def open_storage(s: Settings):
    """The RDB storage with heartbeats (a killed worker's trial is failed and retried); TuneError when the URL
    cannot be reached."""
    optuna = _optuna()
    from optuna.storages import RDBStorage, RetryFailedTrialCallback

    url = s.storage_url
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TuneError(f"tune.storage: cannot create the directory of {path}: {e}") from e
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}  # several local workers share the file
    else:
        kwargs["engine_kwargs"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    hb = int(s.tune["heartbeat_seconds"])
    retries = int(s.tune["max_retries"])
    key = (url, hb, retries)
    if key in _STORAGES:
        return _STORAGES[key]
    import sqlalchemy.exc

    for attempt in range(5):
        try:
            storage = RDBStorage(url, heartbeat_interval=hb, grace_period=2 * hb,
                                 failed_trial_callback=RetryFailedTrialCallback(max_retry=retries) if retries else None,
                                 **kwargs)
            break
        except ImportError as e:
            raise TuneError(f"tune.storage '{url}': the database driver is missing ({e}); PostgreSQL needs "
                            "Debian's python3-psycopg2 (scripts/install-deps)") from e
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as e:
            # Workers started together on an empty database race to create Optuna's tables; the loser sees
            # them half made. The winner finishes within moments: try again.
            if attempt == 4:
                raise TuneError(f"tune.storage '{url}': cannot set up Optuna's tables: {_first_line(e)}") from e
            time.sleep(0.2 + random.random())
        except sqlalchemy.exc.OperationalError as e:
            raise TuneError(f"tune.storage '{url}' cannot be reached: {_first_line(e)}") from e
        except Exception as e:  # a schema of another Optuna version, a bad URL...: name the URL, not a stack
            raise TuneError(f"tune.storage '{url}': {type(e).__name__}: {_first_line(e)}") from e
    if url.startswith("sqlite:///"):
        _sqlite_wal(storage.engine)
    _STORAGES[key] = storage
    return storage


def _sqlite_wal(engine) -> None:
    """SQLite in write-ahead-log mode with synchronous=NORMAL: a commit (every report of every epoch) no longer
    waits for fsync, and readers do not block the writer. A process killed with SIGKILL loses nothing committed;
    only a power cut may lose the last commits."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    engine.dispose()  # connections opened before the listener reconnect with it


_STORAGES: dict = {}  # one storage (engine, connection pool) per URL in a process


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def make_sampler(s: Settings, worker: int):
    optuna = _optuna()
    seed = s.sampler_seed + worker
    if s.tune["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(s: Settings):
    optuna = _optuna()
    t = s.tune
    kind = t["pruner"]
    if kind == "none":
        return optuna.pruners.NopPruner()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=int(t["pruner_startup_trials"]),
                                           n_warmup_steps=int(t["pruner_warmup_steps"]))
    if kind == "percentile":
        return optuna.pruners.PercentilePruner(float(t["pruner_percentile"]),
                                               n_startup_trials=int(t["pruner_startup_trials"]),
                                               n_warmup_steps=int(t["pruner_warmup_steps"]))
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)


def load_study(s: Settings, storage, model: str, worker: int = 0):
    optuna = _optuna()
    return optuna.create_study(study_name=s.study_name(model), storage=storage, direction="minimize",
                               sampler=make_sampler(s, worker), pruner=make_pruner(s), load_if_exists=True)


def finished_trials(study) -> int:
    """Trials that count towards n_trials: complete, pruned, and failed ones that will not be retried."""
    from optuna.storages import RetryFailedTrialCallback

    n = 0
    retried_numbers = set()
    for t in study.get_trials(deepcopy=False):
        r = RetryFailedTrialCallback.retried_trial_number(t)
        if r is not None:
            retried_numbers.add(r)
    for t in study.get_trials(deepcopy=False):
        if t.state.name in FINISHED and not (t.state.name == "FAIL" and t.number in retried_numbers):
            n += 1
    return n


@dataclass
class WorkerReport:
    """What one worker process did, per model."""
    worker: str
    trials: dict[str, list[int]] = field(default_factory=dict)  # model -> numbers of the trials it ran


def trials_base_config(cfg, s: Settings):
    """The run's configuration with [tune]'s stores (when given) as [train]'s: what every trial starts from."""
    c = cfg.copy()
    for key in ("train_store", "validation_store"):
        if s.tune[key]:
            c.set(f"train.{key}", s.tune[key])
    return c


def trial_config(cfg, s: Settings, model: str, values: dict, threads: int):
    """The configuration of one trial: the run's, with the sampled values in [model.<model>], the trial's epoch
    budget, the worker's threads and quieter logs."""
    c = cfg.copy()
    for k, v in values.items():
        c.set(f"model.{model}.{k}", v)
    if model != "xgboost":
        c.set(f"model.{model}.max_epochs", int(s.tune["max_epochs"]))
        c.set(f"model.{model}.patience", int(s.tune["patience"]))
    c.set("run.threads", int(threads))
    if c.get("run.verbosity") == "info":
        c.set("run.verbosity", "warn")  # one line per trial from the tuner instead of one per epoch
    return c


def objective_for(cfg, s: Settings, model: str, stores, threads: int, worker_id: str):
    from .._common import _core

    optuna = _optuna()
    every = int(s.tune["xgboost_report_every"]) if model == "xgboost" else 1

    def objective(trial):
        values = sample(trial, model, s.spaces[model])
        c = trial_config(cfg, s, model, values, threads)
        pruned = {"at": None}

        in_callback = [0.0]  # seconds spent reporting to the pruner: tuning overhead, not training

        def on_epoch(record):
            step = int(record["epoch"])
            if step % every:
                return True
            value = float(record["validation_loss"])
            if not math.isfinite(value):
                return True  # the fit stops on its own and reports the divergence
            t = time.perf_counter()
            trial.report(value, step)
            prune = trial.should_prune()
            in_callback[0] += time.perf_counter() - t
            if prune:
                pruned["at"] = step
                return False
            return True

        t0 = time.perf_counter()
        fit = _core.fit_trial(c._doc, model, stores, on_epoch)
        # training = the whole fit (model, data matrices, epochs), less the reports made from inside it
        train_seconds = time.perf_counter() - t0 - in_callback[0]
        history = fit["history"]
        reason = fit["stop_reason"] if pruned["at"] is None else f"pruned after step {pruned['at']}"
        # one write to the storage for all of them (each attribute is a transaction)
        trial.set_user_attr("fluxkit", {"epochs": len(history), "best_epoch": int(fit["best_epoch"]),
                                        "train_seconds": round(train_seconds, 6),
                                        "stop_reason": reason, "worker": worker_id})
        if fit["stop_reason"].startswith("non-finite"):
            raise TrialDiverged(f"{model} trial {trial.number}: {fit['stop_reason']}")
        best = float(fit["best_validation_loss"])
        if not math.isfinite(best):
            raise TrialDiverged(f"{model} trial {trial.number}: no finite validation loss")
        if pruned["at"] is not None:
            raise optuna.TrialPruned(f"pruned at step {pruned['at']}")
        return best

    return objective


def run_worker(cfg, s: Settings, worker: int = 0, workers: int = 1, max_trials: int | None = None,
               deadline: float | None = None) -> WorkerReport:
    """Runs trials of every model of [tune] until each study holds n_trials finished trials, the deadline
    passes or this worker has run max_trials trials (per model). Threads: [run] threads split over `workers`."""
    from .._common import _core

    optuna = _optuna()
    storage = open_storage(s)
    cfg = trials_base_config(cfg, s)
    stores = _core.open_training_stores(cfg._doc)
    cores = s.threads if s.threads > 0 else (os.cpu_count() or 1)
    threads = max(1, cores // workers)
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    report = WorkerReport(worker_id)
    target = int(s.tune["n_trials"])

    def on_trial(study, t):
        report.trials.setdefault(study.study_name.removeprefix(s.tune["study_prefix"]), []).append(t.number)
        value = "-" if t.value is None else f"{t.value:.6g}"
        info = t.user_attrs.get("fluxkit", {})
        extra = info.get("stop_reason", "")
        log.info("%s trial %d: %s, validation MSE %s, %s epochs/rounds, %.1f s%s", study.study_name, t.number,
                 t.state.name.lower(), value, info.get("epochs", "?"),
                 t.duration.total_seconds() if t.duration else float("nan"),
                 f" ({extra})" if extra and t.state.name != "COMPLETE" else "")

    for model in s.tune["models"]:
        study = load_study(s, storage, model, worker)
        objective = objective_for(cfg, s, model, stores, threads, worker_id)
        ran = 0
        while True:
            optuna.storages.fail_stale_trials(study)
            done = finished_trials(study)
            if done >= target:
                log.info("study %s holds %d of %d trials", study.study_name, done, target)
                break
            if max_trials is not None and ran >= max_trials:
                break
            if deadline is not None and time.time() >= deadline:
                log.info("time budget reached: %s stops with %d of %d trials", study.study_name, done, target)
                return report
            study.optimize(objective, n_trials=1, catch=(TrialDiverged,), callbacks=[on_trial],
                           gc_after_trial=False)
            ran += 1
    if workers > 1:
        ran_all = ", ".join(f"{m} {len(n)}" for m, n in report.trials.items()) or "none"
        log.info("worker %s ran trials: %s", worker_id, ran_all)
    return report


def check_ready(cfg, s: Settings) -> None:
    """Everything that can fail before a trial, checked before any starts: storage, stores."""
    from .._common import _core

    _core.open_training_stores(trials_base_config(cfg, s)._doc)
    open_storage(s)
