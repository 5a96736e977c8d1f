"""Ensemble spread ([train] ensemble = N > 1): where and how much the members of a model disagree, against the
error of their mean. Drawn only for the models whose evaluation has ensemble rows (ensemble_calibration.csv);
a run without ensembles has no figure of these families and skips nothing.

- `spread_maps` (family ensemble_maps): per experiment and region, rows = ensemble models, columns = the time
  mean of the ensemble standard deviation (fields/*_errors.nc `ensemble_std`) and the RMSE of the ensemble mean
  (`rmse`), on one colour scale, so a calibrated spread looks like the error map; the panels state the
  calibration (fractions within +-1 and +-2 sigma, spread/error ratio).
- `spread_bands` (family ensemble_bands): per experiment, columns = regions; top row the annual area-weighted
  mean, bottom row the seasonal cycle (climatology); the simulation (black), each ensemble's mean and a band
  of +-1 standard deviation across the members' regional means, and the members' range (lighter)
  (ensemble_spread.csv).

Meshes and lines carry gids "<family>:<model or simulation>:<region>[:<row>]" for the tests.
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.colors import Normalize

from .common import (MONTH_ABBR, RMSE_CMAP, SIMULATION_COLOR, Figure, Missing, Skipped, bottom_legend, figure_name,
                     flux_label, model_label, period_label)
from .geo import MapFrame

CALIBRATION_COLUMNS = ("model", "experiment", "region", "members", "n", "within_1sigma", "within_2sigma",
                       "mean_std", "rmse", "spread_error_ratio")
SPREAD_COLUMNS = ("model", "experiment", "region", "period_type", "year", "month", "members", "sim_mean",
                  "rec_mean", "member_std", "member_min", "member_max")


def ensemble_models(run) -> list[str]:
    """The configuration's models that the evaluation scored as ensembles (rows in ensemble_calibration.csv);
    empty when the table is absent or has no rows for them."""
    p = run.files.table("ensemble_calibration.csv")
    if not p.exists():
        return []
    try:
        df = run.table("ensemble_calibration.csv", CALIBRATION_COLUMNS)
    except Missing:
        return []
    have = set(df["model"].astype(str))
    return [m for m in run.models if m in have]


def _calibration_note(run, model, experiment, region) -> str:
    try:
        c = run.rows("ensemble_calibration.csv", CALIBRATION_COLUMNS, model=model, experiment=experiment,
                     region=region).iloc[0]
    except Missing:
        return ""
    return (f"{int(c['members'])} members: {100 * c['within_1sigma']:.0f}% within 1$\\sigma$, "
            f"{100 * c['within_2sigma']:.0f}% within 2$\\sigma$\nspread/error {c['spread_error_ratio']:.2g}")


def spread_maps(run, experiment, region, skipped):
    from .maps import _panel_size, upper_limit

    fields, grid, units = {}, None, ""
    for model in ensemble_models(run):
        try:
            ds = run.open_field(model, experiment, region)
        except Missing as e:
            skipped.append(Skipped("ensemble_maps", f"{model} {experiment} {region}", str(e)))
            continue
        with ds:
            if "ensemble_std" not in ds:
                skipped.append(Skipped("ensemble_maps", f"{model} {experiment} {region}",
                                       f"{run.files.error_field(model, experiment, region)} has no ensemble_std "
                                       f"(evaluate the ensemble's caches again)"))
                continue
            f = dict(std=ds["ensemble_std"].values.astype(float), rmse=ds["rmse"].values.astype(float))
            g = dict(lat=ds["nav_lat"].values, lon=ds["nav_lon"].values, mask=ds["sample_mask"].values == 1)
            units = ds["rmse"].attrs.get("units", units)
        if grid is None:
            grid = g
        elif g["lat"].shape != grid["lat"].shape:
            skipped.append(Skipped("ensemble_maps", f"{model} {experiment} {region}",
                                   "error field on another grid box than the other models': left out"))
            continue
        fields[model] = f
    if not fields:
        raise Missing(f"no ensemble spread fields for {experiment} {region} under "
                      f"{run.files.evaluation_dir / 'fields'}")
    if not grid["mask"].any():
        raise Missing(f"region {region} has no cells in the error fields of {experiment}")
    frame = MapFrame(grid["lat"], grid["lon"], grid["mask"])
    models = list(fields)
    vmax = upper_limit([fields[m][k] for m in models for k in ("std", "rmse")])
    norm = Normalize(0, vmax)
    first, last = run.years
    title = (f"Ensemble spread and error of the ensemble mean: {run.region_display(region)}, "
             f"{run.experiment_label(experiment)}, {period_label(first, last)}")
    pw, ph = _panel_size(frame, 2)
    fig = plt.figure(figsize=(pw * 2 + 0.9, ph * len(models) + 1.6), layout="constrained")
    axes = np.empty((len(models), 2), dtype=object)
    for i in range(len(models)):
        for j in range(2):
            axes[i, j] = fig.add_subplot(len(models), 2, 2 * i + j + 1, projection=frame.crs)
    land_mask = ~grid["mask"] if region == "global" else None
    mesh = None
    for i, model in enumerate(models):
        for j, (key, name) in enumerate((("std", "ensemble std"), ("rmse", "RMSE of the mean"))):
            ax = axes[i, j]
            mesh = frame.pcolormesh(ax, fields[model][key], cmap=RMSE_CMAP, norm=norm)
            mesh.set_gid(f"ensemble_maps:{model}:{key}")
            frame.add_land(ax, land_mask)
            frame.gridlines(ax, left=(j == 0), bottom=(i == len(models) - 1))
            ax.set_title(f"{model_label(model)}: {name}")
            v = fields[model][key]
            note = _calibration_note(run, model, experiment, region) if j == 0 else ""
            if np.isfinite(v).any():
                ax.text(0.02, 0.03, f"mean {np.nanmean(v):.3g}" + (f"\n{note}" if note else ""),
                        transform=ax.transAxes, fontsize=7, zorder=5,
                        bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.8))
    cb = fig.colorbar(mesh, ax=axes.ravel().tolist(), orientation="horizontal", shrink=0.7, aspect=40, pad=0.04,
                      extend="max")
    cb.set_label(flux_label(run.target, units, "Ensemble std and RMSE of "))
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("ensemble_maps", experiment, region), "ensemble_maps", title, fig,
                  caption=(f"Left: the standard deviation across the ensemble members (N - 1), averaged over "
                           f"every month of {period_label(first, last)}; right: the RMSE of the ensemble mean "
                           f"against the simulation; one colour scale. A calibrated ensemble spreads as much as "
                           f"its mean errs; the calibration table gives the fractions of simulated values "
                           f"within 1 and 2 standard deviations."),
                  region=region, experiment=experiment, models=models)


def spread_bands(run, experiment, skipped):
    first, last = run.years
    models = ensemble_models(run)
    data, regions = {}, []
    for region in run.regions:
        try:
            data[region] = run.rows("ensemble_spread.csv", SPREAD_COLUMNS, experiment=experiment, region=region)
            regions.append(region)
        except Missing as e:
            skipped.append(Skipped("ensemble_bands", f"{experiment} {region}", str(e)))
    if not regions or not models:
        raise Missing(f"ensemble_spread.csv has no rows for the ensembles of {experiment}")
    units = run.units()
    fig, axes = plt.subplots(2, len(regions), figsize=(4.4 * len(regions) + 0.4, 7.6), squeeze=False,
                             layout="constrained")
    months = np.arange(1, 13)
    handles = {}
    for j, region in enumerate(regions):
        df = data[region]
        for i, (ptype, xcol) in enumerate((("year", "year"), ("climatology", "month"))):
            ax = axes[i, j]
            d0 = df[df["period_type"] == ptype]
            ref = None
            for m in models:
                d = d0[d0["model"] == m].sort_values(xcol)
                if d.empty:
                    skipped.append(Skipped("ensemble_bands", f"{m} {experiment} {region}",
                                           f"ensemble_spread.csv has no {ptype} rows for {m}"))
                    continue
                ref = d if ref is None else ref
                x = d[xcol].to_numpy(float)
                mean, sd = d["rec_mean"].to_numpy(float), d["member_std"].to_numpy(float)
                c = run.color(m)
                rng = ax.fill_between(x, d["member_min"].to_numpy(float), d["member_max"].to_numpy(float), color=c,
                                      alpha=0.12, lw=0)
                rng.set_gid(f"ensemble_bands-range:{m}:{region}:{ptype}")
                band = ax.fill_between(x, mean - sd, mean + sd, color=c, alpha=0.3, lw=0)
                band.set_gid(f"ensemble_bands-band:{m}:{region}:{ptype}")
                n = int(d["members"].iloc[0])
                (line,) = ax.plot(x, mean, color=c, lw=1.6, marker="o", ms=2.5,
                                  label=f"{model_label(m)}: mean of {n} members, $\\pm1\\sigma$ and range")
                line.set_gid(f"ensemble_bands:{m}:{region}:{ptype}")
                if ptype == "year":  # a band needs two years; the error bars show one too
                    ax.errorbar(x, mean, yerr=sd, color=c, lw=0, elinewidth=1.2, capsize=3)
                handles[m] = line
            if ref is not None:
                (line,) = ax.plot(ref[xcol].to_numpy(float), ref["sim_mean"].to_numpy(float), color=SIMULATION_COLOR,
                                  lw=2.0, marker="o", ms=3, label="Simulation", zorder=5)
                line.set_gid(f"ensemble_bands:simulation:{region}:{ptype}")
                handles["simulation"] = line
            if ptype == "year":
                ax.set_xlabel("Year")
                ax.set_xlim(first - 0.5, last + 0.5)
                if last - first < 12:
                    ax.set_xticks(range(first, last + 1))
                else:
                    ax.xaxis.get_major_locator().set_params(integer=True)
                ax.set_title(f"{run.region_display(region)}: annual mean")
            else:
                ax.set_xticks(months, MONTH_ABBR)
                ax.tick_params(axis="x", labelsize=7)
                ax.set_xlabel("Month")
                ax.set_title(f"{run.region_display(region)}: seasonal cycle")
            ax.set_ylabel(flux_label(run.target, units, "Area-weighted mean "))
            ax.grid(True, lw=0.3, alpha=0.5)
    order = ["simulation"] + [m for m in models if m in handles]
    bottom_legend(fig, [handles[k] for k in order if k in handles], ncol=min(3, len(order)))
    title = (f"Ensemble spread of the regional means: {run.experiment_label(experiment)}, "
             f"{period_label(first, last)}")
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("ensemble_bands", experiment), "ensemble_bands", title, fig,
                  caption=("Area-weighted regional mean over the sampled cells, per year (top) and as a monthly "
                           "climatology (bottom): simulation (black) and each ensemble's mean, with a band of "
                           "+-1 standard deviation across the members' regional means (darker) and the members' "
                           "range (lighter); ensemble_spread.csv."),
                  experiment=experiment, models=models)
