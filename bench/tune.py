"""Benchmark of `fluxkit tune` on the demo's tuning stores (make demo, or the two prepare steps it runs first):

1. pruning: the same studies (same sampler seed, same number of trials) with the median pruner and without one;
   reports the epochs (XGBoost: boosting rounds) trained, the wall time and the best validation MSE of each;
2. workers: trials per hour of one worker process with every core, and of two worker processes sharing the
   study (threads split between them), on the same study settings;
3. overhead: the share of the trial time that is not training (sampling, storage, reports), per model.

    PYTHONPATH=build/python /usr/bin/python3 bench/tune.py [--config configs/demo.toml] [--trials 12]

Every study lives in a fresh SQLite file under --work (default /tmp/fluxkit-bench-tune), so the runs are
independent; the machine should be otherwise idle.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from pathlib import Path

import pandas as pd

import fluxkit
from fluxkit.tuning import tune


def study(config: str, work: Path, name: str, **overrides) -> tuple[dict, float]:
    out = work / name
    shutil.rmtree(out, ignore_errors=True)
    cfg = fluxkit.Config(config).set("tune.output_dir", str(out))
    for k, v in overrides.items():
        cfg.set(f"tune.{k}" if "." not in k else k, v)
    t0 = time.perf_counter()
    summary = tune(cfg, workers=overrides.get("workers"))
    return summary, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.toml")
    ap.add_argument("--trials", type=int, default=10, help="trials per study")
    ap.add_argument("--epochs", type=int, default=6, help="epoch budget of a neural-network trial")
    ap.add_argument("--work", default="/tmp/fluxkit-bench-tune")
    ap.add_argument("--only", choices=["pruning", "workers"], help="run one part only")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1

    if a.only != "workers":
        pruning(a, work)
    if a.only != "pruning":
        workers_part(a, work, cores)
    return 0


def pruning(a, work: Path) -> None:
    rows = []
    for model in ("mlp", "attention_lstm", "xgboost"):
        for pruner in ("median", "none"):
            s, wall = study(a.config, work, f"{model}_{pruner}", models=[model], n_trials=a.trials, pruner=pruner,
                            max_epochs=a.epochs, patience=a.epochs, pruner_startup_trials=3,
                            pruner_warmup_steps=1)
            r = s[model]
            rows.append({"model": model, "pruner": pruner, "trials": r["trials"], "pruned": r["pruned"],
                         "epochs": r["epochs"], "wall_s": round(wall, 1), "best_mse": r["best_value"],
                         "overhead_%": r["overhead_percent"]})
    prune = pd.DataFrame(rows)
    print(f"\n1. pruning ({a.trials} trials per study, up to {a.epochs} epochs; XGBoost: rounds)\n")
    print(prune.to_string(index=False))
    for model in prune.model.unique():
        m = prune[prune.model == model].set_index("pruner")
        saved = 1 - m.loc["median", "epochs"] / m.loc["none", "epochs"]
        print(f"   {model}: pruning trains {saved:.0%} fewer epochs, {1 - m.loc['median', 'wall_s'] / m.loc['none', 'wall_s']:.0%} "
              f"less time; best MSE {m.loc['median', 'best_mse']:.5f} with, {m.loc['none', 'best_mse']:.5f} without")


def workers_part(a, work: Path, cores: int) -> None:
    rows = []
    for workers in (1, 2):
        s, wall = study(a.config, work, f"workers_{workers}", models=["mlp"], n_trials=a.trials, pruner="none",
                        max_epochs=4, patience=4, workers=workers, **{"run.threads": cores})
        n = s["mlp"]["trials"]
        rows.append({"workers": workers, "threads_each": max(1, cores // workers), "trials": n,
                     "wall_s": round(wall, 1), "trials_per_hour": round(n / wall * 3600)})
    print(f"\n2. trials per hour (MLP, 4 epochs per trial, no pruning, {cores} cores)\n")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    raise SystemExit(main())
