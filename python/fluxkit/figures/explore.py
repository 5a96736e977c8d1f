"""Data-exploration figures (the seed's data_exploration_*.py, which did not run), drawn from the tables of
`fluxkit explore` ([explore] output_dir: climatology.csv, distributions.csv, correlations.csv,
statistics.csv):

- `climatology`: rows = experiments, columns = regions: the monthly climatology of every z-scored driver and of
  the target (thick black), z-scored with each (experiment, region)'s own mean and standard deviation over all
  explored years, as the seed;
- `distributions_<experiment>`: rows = regions, columns = the chosen months: the kernel density estimate of
  each z-scored variable (Scott's bandwidth, as seaborn's kdeplot) over [-range, range];
- `correlations_<experiment>`: rows = regions, columns = the chosen months: Pearson correlation matrices,
  annotated, on one diverging scale from -1 to 1 with a colour bar.

Variables are told apart by colour (Okabe-Ito), line style and marker, so the figures read without colour
vision too.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from matplotlib.colors import Normalize

from .common import MONTH_ABBR, MONTH_NAMES, Figure, Missing, Skipped, bottom_legend, figure_name, period_label

VARIABLE_LABELS = {
    "SST": "SST", "SAL": "Salinity", "ice_frac": "Ice fraction", "mixed_layer_depth": "Mixed-layer depth",
    "heat_flux_down": "Heat flux down", "water_flux_up": "Water flux up", "stress_X": "Wind stress X",
    "stress_Y": "Wind stress Y", "currents_X": "Currents X", "currents_Y": "Currents Y",
    "co2flux_pre": "CO$_2$ flux",
}
_COLORS = ["#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#999999"]
_STYLES = ["-", "--", "-.", ":"]
_MARKERS = ["o", "s", "D", "^", "v", "<", ">", "p", "*", "h", "X", "P"]


def variable_label(v: str) -> str:
    return VARIABLE_LABELS.get(v, v)


def variable_style(variables: list[str], target: str) -> dict:
    """Colour, line style, marker and width per variable; the target is thick black."""
    out = {}
    combos = itertools.cycle([(c, s) for s in _STYLES for c in _COLORS])
    k = 0
    for v in variables:
        if v == target:
            out[v] = dict(color="#000000", ls="-", marker="o", lw=2.6)
        else:
            c, s = next(combos)
            out[v] = dict(color=c, ls=s, marker=_MARKERS[k % len(_MARKERS)], lw=1.3)
            k += 1
    return out


def _read(run, name, columns):
    p = run.files.exploration_dir / name
    if not p.exists():
        raise Missing(f"exploration table {p} does not exist (run `fluxkit explore --config {run.cfg.source}`)")
    df = pd.read_csv(p)
    miss = [c for c in columns if c not in df.columns]
    if miss:
        raise Missing(f"exploration table {p} lacks the columns {', '.join(miss)}")
    return df


def _select(df, path, **where):
    sel = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        sel &= df[k].astype(str).to_numpy() == str(v)
    out = df[sel]
    if out.empty:
        raise Missing(f"{path} has no rows for {', '.join(f'{k}={v}' for k, v in where.items())}: tables of "
                      f"another configuration (run `fluxkit explore`)")
    return out


def _period(run):
    y = run.cfg.get("explore.years")
    return period_label(int(y[0]), int(y[-1]))


def climatology_figure(run, skipped):
    clim = _read(run, "climatology.csv", ("experiment", "region", "variable", "month", "mean_z"))
    path = run.files.exploration_dir / "climatology.csv"
    exps = list(run.cfg.get("explore.experiments"))
    regions = list(run.cfg.get("explore.regions"))
    variables = list(dict.fromkeys(clim["variable"]))
    style = variable_style(variables, run.target)
    fig, axes = plt.subplots(len(exps), len(regions), figsize=(5.2 * len(regions) + 0.5, 3.4 * len(exps) + 1.3),
                             squeeze=False, sharey=True, layout="constrained")
    months = np.arange(1, 13)
    for i, e in enumerate(exps):
        for j, r in enumerate(regions):
            ax = axes[i, j]
            try:
                d = _select(clim, path, experiment=e, region=r)
            except Missing as ex:
                skipped.append(Skipped("explore", f"climatology {e} {r}", str(ex)))
                ax.text(0.5, 0.5, "no data", ha="center", transform=ax.transAxes)
                continue
            for v in variables:
                dv = d[d["variable"] == v].sort_values("month")
                if dv.empty:
                    continue
                st = style[v]
                (line,) = ax.plot(dv["month"], dv["mean_z"], color=st["color"], ls=st["ls"], marker=st["marker"],
                                  ms=3.5, lw=st["lw"], label=variable_label(v))
                line.set_gid(f"climatology:{e}:{r}:{v}")
            ax.axhline(0, color="#888888", lw=0.6)
            ax.set_xticks(months, MONTH_ABBR)
            ax.tick_params(axis="x", labelsize=7)
            ax.grid(True, lw=0.3, alpha=0.5)
            ax.set_title(f"{run.region_display(r)}, {run.experiment_label(e)}")
            if j == 0:
                ax.set_ylabel("Monthly mean (z-score, 1)")
            if i == len(exps) - 1:
                ax.set_xlabel("Month")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    bottom_legend(fig, handles, labels, ncol=min(6, len(labels)))
    title = f"Monthly climatology of the z-scored drivers and CO$_2$ flux, {_period(run)}"
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("explore", "climatology"), "explore", title, fig,
                  caption=("Mean of each variable per calendar month over every ocean cell of the region and every "
                           "explored year, z-scored with the (experiment, region)'s own mean and standard deviation "
                           "(the seed's data_exploration_monthly_mean)."),
                  models=[])


def distributions_figure(run, experiment, skipped):
    dist = _read(run, "distributions.csv", ("experiment", "region", "variable", "month", "z_lower", "z_upper",
                                            "density", "kde"))
    path = run.files.exploration_dir / "distributions.csv"
    dist = _select(dist, path, experiment=experiment)
    regions = list(run.cfg.get("explore.regions"))
    months = [int(m) for m in run.cfg.get("explore.months")]
    variables = list(dict.fromkeys(dist["variable"]))
    style = variable_style(variables, run.target)
    fig, axes = plt.subplots(len(regions), len(months), figsize=(4.6 * len(months) + 0.5, 3.3 * len(regions) + 1.3),
                             squeeze=False, sharex=True, layout="constrained")
    for i, r in enumerate(regions):
        for j, m in enumerate(months):
            ax = axes[i, j]
            try:
                d = _select(dist, path, region=r, month=m)
            except Missing as ex:
                skipped.append(Skipped("explore", f"distributions {experiment} {r} {m}", str(ex)))
                ax.text(0.5, 0.5, "no data", ha="center", transform=ax.transAxes)
                continue
            peaks = {}
            for v in variables:
                dv = d[d["variable"] == v].sort_values("z_lower")
                if dv.empty:
                    continue
                z = 0.5 * (dv["z_lower"].to_numpy() + dv["z_upper"].to_numpy())
                k = dv["kde"].to_numpy(float)
                st = style[v]
                if not np.isfinite(k).any():  # constant in this month: the histogram shows the spike
                    k = dv["density"].to_numpy(float)
                (line,) = ax.plot(z, k, color=st["color"], ls=st["ls"], lw=st["lw"], label=variable_label(v))
                line.set_gid(f"distribution:{experiment}:{r}:{m}:{v}")
                ax.fill_between(z, k, color=st["color"], alpha=0.05, lw=0)
                peaks[v] = float(np.nanmax(k)) if np.isfinite(k).any() else 0.0
            ax.set_xlim(float(d["z_lower"].min()), float(d["z_upper"].max()))
            # Spikes (a variable nearly constant in the month) would flatten the rest: cap the axis at 1.25 x the
            # third-highest peak and name what goes above it.
            top = sorted(peaks.values(), reverse=True)
            cap = max(0.6, 1.25 * top[2]) if len(top) >= 3 else None
            if cap is not None and top[0] > cap:
                ax.set_ylim(0, cap)
                over = [f"{variable_label(v)} (peak {p:.3g})" for v, p in peaks.items() if p > cap]
                ax.text(0.98, 0.97, "above the axis:\n" + "\n".join(over), transform=ax.transAxes, ha="right",
                        va="top", fontsize=7, bbox=dict(boxstyle="round,pad=0.2", facecolor="white",
                                                        edgecolor="none", alpha=0.85))
            else:
                ax.set_ylim(bottom=0)
            ax.grid(True, lw=0.3, alpha=0.5)
            ax.set_title(f"{run.region_display(r)}, {MONTH_NAMES[m - 1]}")
            if j == 0:
                ax.set_ylabel("Density (per unit z)")
            if i == len(regions) - 1:
                ax.set_xlabel("z-score (1)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    bottom_legend(fig, handles, labels, ncol=min(6, len(labels)))
    title = (f"Distributions of the z-scored drivers and CO$_2$ flux: {run.experiment_label(experiment)}, "
             f"{_period(run)}")
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("explore", "distributions", experiment), "explore", title, fig,
                  caption=("Kernel density estimate (Gaussian, Scott's bandwidth, as seaborn's kdeplot) of every "
                           "z-scored variable over all cells and years of the month (the seed's "
                           "data_exploration_distribution_plot, which did not run)."),
                  experiment=experiment)


def correlations_figure(run, experiment, skipped):
    cor = _read(run, "correlations.csv", ("experiment", "region", "month", "variable_a", "variable_b", "r"))
    path = run.files.exploration_dir / "correlations.csv"
    cor = _select(cor, path, experiment=experiment)
    regions = list(run.cfg.get("explore.regions"))
    months = [int(m) for m in run.cfg.get("explore.months")]
    variables = list(dict.fromkeys(cor["variable_a"]))
    nv = len(variables)
    side = 0.36 * nv + 1.2
    fig, axes = plt.subplots(len(regions), len(months), figsize=(side * len(months) + 1.2, side * len(regions) + 0.8),
                             squeeze=False, layout="constrained")
    norm = Normalize(-1, 1)
    img = None
    labels = [variable_label(v) for v in variables]
    for i, r in enumerate(regions):
        for j, m in enumerate(months):
            ax = axes[i, j]
            try:
                d = _select(cor, path, region=r, month=m)
            except Missing as ex:
                skipped.append(Skipped("explore", f"correlations {experiment} {r} {m}", str(ex)))
                ax.set_axis_off()
                continue
            mat = d.pivot(index="variable_a", columns="variable_b", values="r").reindex(index=variables,
                                                                                         columns=variables)
            a = mat.to_numpy(float)
            cmap = plt.get_cmap("RdBu_r").copy()
            cmap.set_bad("#d0d0d0")
            img = ax.imshow(np.ma.masked_invalid(a), cmap=cmap, norm=norm)
            img.set_gid(f"correlation:{experiment}:{r}:{m}")
            for (p, q), val in np.ndenumerate(a):
                if np.isfinite(val):
                    ax.text(q, p, f"{val:.2f}", ha="center", va="center", fontsize=5.5,
                            color="white" if abs(val) > 0.6 else "black")
            ax.set_xticks(range(nv), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(nv), labels if j == 0 else [""] * nv, fontsize=7)
            n = int(d["n"].iloc[0]) if "n" in d.columns else 0
            ax.set_title(f"{run.region_display(r)}, {MONTH_NAMES[m - 1]} (n = {n:,})")
    if img is not None:
        cb = fig.colorbar(img, ax=axes.ravel().tolist(), shrink=0.6)
        cb.set_label("Pearson correlation (1)")
    title = f"Correlation matrices: {run.experiment_label(experiment)}, {_period(run)}"
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("explore", "correlations", experiment), "explore", title, fig,
                  caption=("Pearson correlation between the variables over every (cell, year) of the month "
                           "(the seed's data_exploration_corr_matrix_plot, which did not run); grey: undefined, the "
                           "variable is constant in that month and region."),
                  experiment=experiment)


def exploration_tasks(run):
    """(label, callable(skipped) -> Figure) for every exploration figure, so they can be drawn in parallel."""
    out = [("climatology", lambda sk: climatology_figure(run, sk))]
    for e in run.cfg.get("explore.experiments"):
        out.append((f"distributions {e}", lambda sk, e=e: distributions_figure(run, e, sk)))
        out.append((f"correlations {e}", lambda sk, e=e: correlations_figure(run, e, sk)))
    return out


def exploration_figures(run, skipped):
    figs = []
    problems = []
    for fn, args in [(climatology_figure, ())] + [
        (f, (e,)) for e in run.cfg.get("explore.experiments") for f in (distributions_figure, correlations_figure)
    ]:
        try:
            figs.append(fn(run, *args, skipped))
        except Missing as e:
            problems.append(str(e))
    if not figs:
        raise Missing(problems[0] if problems else "no exploration tables")
    for p in dict.fromkeys(problems):
        skipped.append(Skipped("explore", "tables", p))
    return figs
