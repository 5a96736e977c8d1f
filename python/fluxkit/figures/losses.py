"""Training and validation loss per epoch of every model (the seed's trained_models/train_plots), from the
artifacts' losses.csv (epoch, train_loss, validation_loss, seconds; for XGBoost one row per boosting round), the
best epoch from model.toml and, as reference lines, the validation MSE of the two baselines of
validation_mse.csv. One panel per model (its colour; training dashed, validation solid), logarithmic loss axis.
A model without a loss table is named on an empty panel and reported.
"""
from __future__ import annotations

import math
import tomllib

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker

from .common import Figure, Missing, Skipped, figure_name, model_label

LOSS_COLUMNS = ("epoch", "train_loss", "validation_loss")


def read_losses(run, model):
    p = run.files.losses(model)
    if not p.exists():
        raise Missing(f"model {model} has no loss table: {p} does not exist (run `fluxkit train --config "
                      f"{run.cfg.source}`)")
    df = pd.read_csv(p)
    miss = [c for c in LOSS_COLUMNS if c not in df.columns]
    if miss:
        raise Missing(f"loss table {p} lacks the columns {', '.join(miss)}")
    if df.empty:
        raise Missing(f"loss table {p} has no epochs")
    return df


def best_epoch(run, model):
    p = run.files.model_toml(model)
    try:
        with open(p, "rb") as f:
            t = tomllib.load(f)
        return int(t["training"]["best_epoch"]), str(t["training"].get("stop_reason", ""))
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError):
        return None, ""


def baselines(run):
    p = run.files.validation_mse
    if not p.exists():
        return {}
    df = pd.read_csv(p)
    if not {"model", "validation_mse"} <= set(df.columns):
        return {}
    return {str(r["model"]): float(r["validation_mse"]) for _, r in df.iterrows()}


def loss_curves(run, skipped):
    models = list(dict.fromkeys(run.models))
    tables = {}
    for m in models:
        try:
            tables[m] = read_losses(run, m)
        except Missing as e:
            skipped.append(Skipped("losses", m, str(e)))
    if not tables:
        raise Missing("no model has a loss table under " + str(run.files.models_dir))
    base = baselines(run)
    ref = {k: v for k, v in base.items() if k.startswith("baseline")}
    n = len(models)
    ncols = min(n, 2) if n <= 4 else 3
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols + 0.3, 3.9 * nrows + 0.7), squeeze=False,
                             layout="constrained")
    for k, m in enumerate(models):
        ax = axes.flat[k]
        ax.set_title(model_label(m))
        if m not in tables:
            ax.text(0.5, 0.5, f"no loss table\n({run.files.losses(m).name} missing)", ha="center", va="center",
                    transform=ax.transAxes, color="#999999")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        df = tables[m]
        c = run.color(m)
        unit = "boosting round" if "round" in df.columns or m == "xgboost" else "epoch"
        mk = len(df) <= 40
        (lt,) = ax.plot(df["epoch"], df["train_loss"], ls="--", color=c, lw=1.4, marker="o" if mk else None, ms=2.5,
                        label="training")
        lt.set_gid(f"losses:{m}:train")
        (lv,) = ax.plot(df["epoch"], df["validation_loss"], ls="-", color=c, lw=1.8, marker="s" if mk else None,
                        ms=2.5, label="validation")
        lv.set_gid(f"losses:{m}:validation")
        be, reason = best_epoch(run, m)
        if be is not None and (df["epoch"] == be).any():
            v = float(df.loc[df["epoch"] == be, "validation_loss"].iloc[0])
            ax.plot([be], [v], marker="*", ms=11, color="black", ls="none",
                    label=f"best {unit} {be}" + (f" (stop: {reason})" if reason else ""))
        # logarithmic loss axis over the model's own losses; a baseline far off that range is only named
        vals = np.concatenate([df["train_loss"].to_numpy(float), df["validation_loss"].to_numpy(float)])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (1e-3, 1.0)
        styles = {"baseline_mean": (":", "baseline: training mean"),
                  "baseline_linear": ("-.", "baseline: linear regression")}
        for name, val in ref.items():
            ls, lab = styles.get(name, (":", name))
            if lo / 3 <= val <= hi * 3:
                ax.axhline(val, color="#777777", ls=ls, lw=1, label=f"{lab} ({val:.3g})")
                lo, hi = min(lo, val), max(hi, val)
            else:
                ax.plot([], [], color="none", label=f"{lab}: {val:.3g} (off the axis)")
        ax.set_yscale("log")
        ax.set_ylim(lo / 1.15, hi * 1.15)
        ax.yaxis.set_major_formatter(mticker.FormatStrFormatter("%.2g"))
        # minor labels only within a decade (more would collide)
        ax.yaxis.set_minor_formatter(mticker.FormatStrFormatter("%.2g") if hi / lo < 8 else mticker.NullFormatter())
        ax.set_xlabel(unit.capitalize() if unit == "epoch" else "Boosting round")
        ax.set_ylabel("MSE (normalised target)")
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    for k in range(n, nrows * ncols):
        axes.flat[k].set_visible(False)
    title = "Training and validation loss per epoch (MSE of the z-normalised target)"
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("losses"), "losses", title, fig,
                  caption=("Loss per epoch (XGBoost: per boosting round) on the training (dashed) and validation "
                           "(solid) windows; star: the epoch whose weights were kept; grey: validation MSE of the "
                           "baselines of validation_mse.csv."),
                  models=[m for m in models if m in tables])
