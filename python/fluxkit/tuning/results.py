"""The result files of a tuning run, read back from the storage (so every worker, on any machine, writes the
same files): best.toml, trials_<model>.csv, importance_<model>.csv and summary.csv in [tune] output_dir.
Every file is written to a temporary name and renamed into place."""
from __future__ import annotations

import json
import logging
import math
import os
import warnings
from pathlib import Path

import pandas as pd

from .space import values_of_params
from .study import FINISHED, Settings, _optuna, finished_trials, load_study, open_storage

log = logging.getLogger("fluxkit.tune")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def trial_table(study) -> pd.DataFrame:
    """One row per trial: number, state, value, the Optuna parameters, epochs, seconds (wall and training),
    the worker, stop reason and the trial it retries."""
    from optuna.storages import RetryFailedTrialCallback

    trials = study.get_trials(deepcopy=False)
    names = sorted({k for t in trials for k in t.params})
    rows = []
    for t in trials:
        info = t.user_attrs.get("fluxkit", {})
        rows.append({
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            **{f"param_{k}": t.params.get(k) for k in names},
            "epochs": info.get("epochs"),
            "best_epoch": info.get("best_epoch"),
            "seconds": t.duration.total_seconds() if t.duration else None,
            "train_seconds": info.get("train_seconds"),
            "stop_reason": info.get("stop_reason", ""),
            "worker": info.get("worker", ""),
            "retry_of": RetryFailedTrialCallback.retried_trial_number(t),
            "started": t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else "",
        })
    return pd.DataFrame(rows)


def importances(study) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA) over the complete trials; {} when there are too few."""
    optuna = _optuna()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError) as e:  # e.g. every complete trial has the same parameters
        log.info("%s: no parameter importances (%s)", study.study_name, e)
        return {}


def write_results(s: Settings) -> dict:
    """Writes the result files from the storage; returns {model: summary row}."""
    out = s.output_dir
    out.mkdir(parents=True, exist_ok=True)
    storage = open_storage(s)
    lines = ["# fluxkit tune: the best parameters of each study, read by", "#   fluxkit train --config <run.toml> "
             f"--config {out / 'best.toml'}", f"# storage: {s.storage_url}", ""]
    summary = {}
    for model in s.tune["models"]:
        study = load_study(s, storage, model)
        df = trial_table(study)
        _write_atomic(out / f"trials_{model}.csv", df.to_csv(index=False))
        imp = importances(study)
        _write_atomic(out / f"importance_{model}.csv",
                      pd.DataFrame({"parameter": list(imp), "importance": list(imp.values())}).to_csv(index=False))
        states = df["state"].value_counts().to_dict() if not df.empty else {}
        fin = df[df["state"].isin([f.lower() for f in FINISHED[:2]])] if not df.empty else df
        seconds = float(fin["seconds"].fillna(0).sum()) if not df.empty else 0.0
        train_seconds = float(fin["train_seconds"].fillna(0).sum()) if not df.empty else 0.0
        row = {"model": model, "trials": finished_trials(study), "target": int(s.tune["n_trials"]),
               "complete": states.get("complete", 0), "pruned": states.get("pruned", 0),
               "failed": states.get("fail", 0), "running": states.get("running", 0),
               "epochs": int(fin["epochs"].fillna(0).sum()) if not df.empty else 0,
               "seconds": round(seconds, 3), "train_seconds": round(train_seconds, 3),
               "overhead_percent": round(100 * (seconds - train_seconds) / seconds, 3) if seconds > 0 else None,
               "best_value": None, "best_trial": None}
        try:
            best = study.best_trial
        except ValueError:
            best = None
        if best is None:
            lines += [f"# [model.{model}]: no complete trial yet in study {study.study_name}", ""]
        else:
            row["best_value"], row["best_trial"] = best.value, best.number
            values = values_of_params(model, best.params, s.spaces[model])
            lines.append(f"[model.{model}]  # study {study.study_name}: trial {best.number} of "
                         f"{len(df)}, best validation MSE {best.value:.6g} (normalised)")
            lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
            lines.append("")
        summary[model] = row
    _write_atomic(out / "best.toml", "\n".join(lines))
    _write_atomic(out / "summary.csv", pd.DataFrame(list(summary.values())).to_csv(index=False))
    return summary
