"""The hyper-parameter studies of `fluxkit tune`, from its tables in [tune] output_dir:

- tuning_history: one panel per model, the validation MSE of every trial in trial order (complete: the model's
  colour; pruned: grey crosses at the last value they reported), the best value so far as a step line, failed
  trials as red ticks on the lower axis;
- tuning_importance: one panel per model, Optuna's parameter importances (fANOVA) as horizontal bars.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .common import Figure, Missing, Skipped, figure_name, model_color, model_label


def _models(run) -> list[str]:
    return [m for m in run.cfg.section("tune").get("models", []) if (run.files.tuning_dir / f"trials_{m}.csv").exists()]


def has_results(run) -> bool:
    return bool(_models(run))


def _grid(n: int):
    ncols = min(n, 2)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols + 0.4, 3.4 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def history(run, skipped: list[Skipped]) -> Figure:
    models = _models(run)
    if not models:
        raise Missing(f"no trial table in {run.files.tuning_dir} (run `fluxkit tune --config {run.cfg.source}`)")
    fig, axes = _grid(len(models))
    for ax, m in zip(axes.flat, models):
        df = pd.read_csv(run.files.tuning_dir / f"trials_{m}.csv")
        color = model_color(m, models)
        done = df[df.state == "complete"]
        pruned = df[df.state == "pruned"]
        failed = df[df.state == "fail"]
        ax.scatter(done.number, done.value, s=16, color=color, label=f"complete ({len(done)})", zorder=3)
        if len(pruned) and pruned.value.notna().any():
            ax.scatter(pruned.number, pruned.value, s=16, marker="x", color="#777777",
                       label=f"pruned ({len(pruned)})", zorder=2)
        elif len(pruned):
            ax.plot([], [], "x", color="#777777", label=f"pruned ({len(pruned)})")
        if len(done):
            order = done.sort_values("number")
            best = order.value.cummin()
            ax.step(np.r_[order.number.values, df.number.max()], np.r_[best.values, best.values[-1]],
                    where="post", color="black", lw=1.1, label="best so far")
            values = df.value.dropna()
            if len(values) and values.min() > 0 and values.max() / values.min() > 20:
                ax.set_yscale("log")  # a few very bad trials would flatten the rest
        for n in failed.number:
            ax.axvline(n, ymax=0.04, color="#D62728", lw=1.5)
        if len(failed):
            ax.plot([], [], "|", color="#D62728", label=f"failed ({len(failed)})")
        ax.set_title(f"{model_label(m)}: {len(df)} trials")
        ax.set_xlabel("trial")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("validation MSE (normalised)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, frameon=False)
    fig.suptitle("Hyper-parameter search: validation MSE per trial")
    return Figure(figure_name("tuning_history"), "tuning", "Hyper-parameter search: history", fig,
                  caption="Validation MSE (normalised target) of each trial of fluxkit tune, in trial order, with "
                          "the best value so far. Pruned trials stopped early and show their value when they "
                          "stopped; failed trials (diverged, or their worker died) are ticks on the lower axis.",
                  models=models)


def importance(run, skipped: list[Skipped]) -> Figure:
    models = _models(run)
    tables = {}
    for m in models:
        p = run.files.tuning_dir / f"importance_{m}.csv"
        df = pd.read_csv(p) if p.exists() else pd.DataFrame()
        if df.empty:
            skipped.append(Skipped("tuning", f"{m} importance", f"{p}: no importances (fewer than 2 complete "
                                   "trials, or no parameter varied)"))
            continue
        tables[m] = df
    if not tables:
        raise Missing(f"no parameter importances in {run.files.tuning_dir}")
    fig, axes = _grid(len(tables))
    for ax, (m, df) in zip(axes.flat, tables.items()):
        df = df.sort_values("importance")
        ax.barh(df.parameter, df.importance, color=model_color(m, models))
        ax.set_xlim(0, max(1e-9, float(df.importance.max())) * 1.1)
        ax.set_title(model_label(m))
        ax.set_xlabel("importance (fANOVA, sums to 1)")
    fig.suptitle("Hyper-parameter importance")
    return Figure(figure_name("tuning_importance"), "tuning", "Hyper-parameter importance", fig,
                  caption="Share of the variance of the validation MSE over the complete trials explained by each "
                          "parameter (Optuna's fANOVA importance). Few trials make these estimates rough.",
                  models=list(tables))
