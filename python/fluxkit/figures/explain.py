"""Explanations (`fluxkit explain`): drawn from its files under `[explain] output_dir`.

* importance: per model and method, mean |phi| per driver (all lags together) with the bootstrap interval, and
  the lag profile of every dynamic driver (importance.csv);
* beeswarm: per model and SHAP method, phi of every sample for the most important players, coloured by the
  normalised input value (the per-sample netCDF files);
* attention: the attention-LSTM's mean alpha x beta per step and feature (heatmap) and mean beta per step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import xarray as xr

from .common import Figure, Missing, figure_name, model_label

SHAP_METHODS = ("kernel_shap", "tree_shap", "tree_shap_interventional", "timeshap")
METHOD_LABEL = {"kernel_shap": "KernelSHAP", "tree_shap": "TreeSHAP (path-dependent)",
                "tree_shap_interventional": "TreeSHAP (interventional)", "timeshap": "TimeSHAP",
                "attention": "attention alpha x beta"}


def explain_dir(run) -> Path:
    return run.files._p(str(run.cfg.get("explain.output_dir")))


def read_importance(run) -> pd.DataFrame:
    p = explain_dir(run) / "importance.csv"
    if not p.exists():
        raise Missing(f"no explanations: {p} does not exist (run `fluxkit explain --config {run.cfg.source}`)")
    df = pd.read_csv(p, keep_default_na=False, na_values=["nan"], dtype={"lag": str, "month": str})
    if df.empty:
        raise Missing(f"{p} has no rows")
    return df


def ensemble_note(run, model: str) -> str:
    """", mean of N members" for a model explained as an ensemble's mean (the files' ensemble_members), else ""."""
    for f in sorted((explain_dir(run) / model).glob("*.nc"))[:1]:
        with xr.open_dataset(f) as ds:
            members = int(ds.attrs.get("ensemble_members", 1))
        return f" (mean of {members} members)" if members > 1 else ""
    return ""


def model_methods(run) -> list[tuple[str, str]]:
    df = read_importance(run)
    return list(dict.fromkeys(zip(df["model"], df["method"])))


def importance_bars(run, model: str, method: str, skipped):
    df = read_importance(run)
    d = df[(df["model"] == model) & (df["method"] == method) & (df["region"] == "all") & (df["month"] == "all")]
    if d.empty:
        raise Missing(f"importance.csv has no pooled rows for {model} {method}")
    drivers = d[d["lag"].isin(["all", "-1"])].copy()
    drivers = drivers[~drivers["driver"].isin(["event"])].sort_values("mean_abs_phi")
    lags = d[~d["lag"].isin(["all", "-1", "-2"])].copy()
    lags["lag"] = lags["lag"].astype(int)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.28 * len(drivers) + 1.8), layout="constrained", squeeze=False)
    ax = axes[0, 0]
    y = np.arange(len(drivers))
    err = np.vstack([drivers["mean_abs_phi"] - drivers["ci_low"], drivers["ci_high"] - drivers["mean_abs_phi"]])
    bars = ax.barh(y, drivers["mean_abs_phi"], xerr=np.nan_to_num(err), color="#0072B2", capsize=2)
    for patch, driver in zip(bars.patches, drivers["driver"]):
        patch.set_gid(f"importance:{model}:{method}:{driver}")
    ax.set_yticks(y, drivers["driver"], fontsize=8)
    ax.set_xlabel("mean |phi| (normalised target)", fontsize=8)
    ax.set_title("per driver (lags summed per sample)", fontsize=9)
    ax = axes[0, 1]
    if lags.empty:
        ax.set_visible(False)
    else:
        table = lags.pivot_table(index="driver", columns="lag", values="mean_abs_phi")
        known = [r for r in drivers["driver"][::-1] if r in table.index]
        table = table.loc[known + [r for r in table.index if r not in known]]  # TimeSHAP: the events last
        im = ax.imshow(table.values, aspect="auto", cmap="viridis")
        im.set_gid(f"lags:{model}:{method}")
        ax.set_yticks(range(len(table.index)), table.index, fontsize=8)
        ax.set_xticks(range(len(table.columns)), [f"t-{c}" if c else "t" for c in table.columns], fontsize=8)
        ax.set_title("per driver and lag", fontsize=9)
        fig.colorbar(im, ax=ax, label="mean |phi|")
    n = int(d["n"].iloc[0])
    title = (f"{model_label(model)}{ensemble_note(run, model)}: {METHOD_LABEL.get(method, method)}, mean |phi| "
             f"over {n} samples")
    fig.suptitle(title, fontsize=10)
    return Figure(figure_name("explain_importance", model, method), "explain", title, fig, models=[model],
                  caption=("Mean absolute attribution per driver with its bootstrap confidence interval (left) "
                           "and per driver and lag (right), over every explained region and month."))


def beeswarm(run, model: str, method: str, skipped, top: int = 15):
    files = sorted((explain_dir(run) / model).glob(f"{method}_*.nc"))
    if not files:
        raise Missing(f"no {method} files of {model} under {explain_dir(run) / model}")
    phis, values, names = [], [], None
    for f in files:
        with xr.open_dataset(f) as ds:
            phi = ds["phi"].values
            names = str(ds.attrs.get("player_names", "")).split(",")
            inputs = ds["inputs"].values
            if inputs.shape[1] == phi.shape[1]:
                values.append(inputs)
            else:
                values.append(np.full(phi.shape, np.nan))
            phis.append(phi)
    phi = np.vstack(phis)
    val = np.vstack(values)
    order = np.argsort(np.nanmean(np.abs(phi), axis=0))[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(order) + 1.6), layout="constrained")
    rng = np.random.default_rng(0)
    sc = None
    for row, p in enumerate(order):
        v = val[:, p]
        finite = np.isfinite(v)
        lo, hi = (np.nanpercentile(v, 5), np.nanpercentile(v, 95)) if finite.any() else (0, 1)
        c = np.clip((v - lo) / (hi - lo if hi > lo else 1), 0, 1)
        jitter = rng.uniform(-0.3, 0.3, size=len(v))
        sc = ax.scatter(phi[:, p], row + jitter, c=np.where(finite, c, 0.5), cmap="coolwarm", s=6, vmin=0, vmax=1)
        sc.set_gid(f"beeswarm:{model}:{method}:{names[p] if p < len(names) else p}")
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_yticks(range(len(order)), [names[p] if p < len(names) else str(p) for p in order], fontsize=8)
    ax.set_xlabel("phi (normalised target)", fontsize=8)
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="input value (low to high)", ticks=[])
    title = (f"{model_label(model)}{ensemble_note(run, model)}: {METHOD_LABEL.get(method, method)}, "
             f"{phi.shape[0]} samples")
    fig.suptitle(title, fontsize=10)
    return Figure(figure_name("explain_beeswarm", model, method), "explain", title, fig, models=[model],
                  caption=("Attribution of every explained sample for the most important players (top by mean "
                           "|phi|), coloured by the player's normalised input value."))


def attention_maps(run, model: str, skipped):
    files = sorted((explain_dir(run) / model).glob("attention_*.nc"))
    if not files:
        raise Missing(f"no attention files of {model} under {explain_dir(run) / model}")
    ab, beta, features, steps = [], [], None, None
    for f in files:
        with xr.open_dataset(f) as ds:
            a = ds["alpha"].values
            b = ds["beta"].values
            ab.append(a * b[:, :, None])
            beta.append(b)
            steps = a.shape[1]
            features = [n.split("@")[0] for n in str(ds.attrs.get("player_names", "")).split(",")][: a.shape[2]]
    ab = np.vstack(ab).mean(axis=0)
    beta = np.vstack(beta).mean(axis=0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained", gridspec_kw={"width_ratios": [3, 1]})
    im = axes[0].imshow(ab.T, aspect="auto", cmap="magma")
    im.set_gid(f"attention:{model}:alpha_beta")
    labels = [f"t-{steps - 1 - s}" if steps - 1 - s else "t" for s in range(steps)]
    axes[0].set_xticks(range(steps), labels, fontsize=8)
    axes[0].set_yticks(range(len(features)), features, fontsize=8)
    axes[0].set_title("mean alpha x beta", fontsize=9)
    fig.colorbar(im, ax=axes[0])
    bars = axes[1].bar(range(steps), beta, color="#009E73")
    for k, patch in enumerate(bars.patches):
        patch.set_gid(f"attention:{model}:beta:{k}")
    axes[1].set_xticks(range(steps), labels, fontsize=8)
    axes[1].set_title("mean beta (temporal attention)", fontsize=9)
    title = f"{model_label(model)}{ensemble_note(run, model)}: attention weights"
    fig.suptitle(title, fontsize=10)
    return Figure(figure_name("explain_attention", model), "explain", title, fig, models=[model],
                  caption="Input attention alpha times temporal attention beta, averaged over the explained samples.")


def explain_tasks(run):
    """(label, callable) for every figure of the explanations."""
    try:
        pairs = model_methods(run)
    except Missing as e:
        msg = str(e)

        def missing(skipped):
            raise Missing(msg)

        return [("explanations", missing)]
    out = []
    for model, method in pairs:
        out.append((f"{model} {method} importance", lambda s, m=model, k=method: importance_bars(run, m, k, s)))
        if method in SHAP_METHODS:
            out.append((f"{model} {method} beeswarm", lambda s, m=model, k=method: beeswarm(run, m, k, s)))
        if method == "attention":
            out.append((f"{model} attention", lambda s, m=model: attention_maps(run, m, s)))
    return out
