"""Maps (the seed's reconstruction_experiment.py and plot_difference.py, plus what the seed lacked): simulated and reconstructed flux, reconstructed - simulated,
and each model's RMSE and bias over all test years, per experiment and region, drawn as cells on the model
grid.

- `flux_maps`: rows = simulation and each model, columns = the chosen months of `[figures] map_year` (0 = the
  last evaluated year); one symmetric colour scale around zero shared by every panel (the 99th percentile of
  |flux|), a labelled colour bar with units. Each model panel states the month's RMSE against the simulation.
- `difference_maps`: rows = models, the same columns; reconstructed - simulated on a diverging map centred on
  zero with symmetric limits shared by all models.
- `error_maps`: rows = models; columns = RMSE and mean bias (reconstructed - simulated) over every month of the
  evaluated years, read from the evaluation's error fields; limits shared by all models.

Every mesh carries a gid "<family>:<row>:<column>" so tests can compare the drawn arrays with the files.
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.colors import Normalize

from .common import (DIFF_CMAP, FLUX_CMAP, MONTH_NAMES, RMSE_CMAP, Figure, Missing, Skipped, figure_name,
                     flux_label, model_label, period_label)
from .geo import MapFrame


def _nice_limit(x: float) -> float:
    """Rounds a positive limit up to 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    e = np.floor(np.log10(x))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * 10**e >= x * (1 - 1e-9):
            return float(m * 10**e)
    return float(10 ** (e + 1))


def symmetric_limit(arrays, q: float = 99.0) -> float:
    vals = np.concatenate([np.abs(np.asarray(a, dtype=float)).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 1.0
    return _nice_limit(float(np.percentile(vals, q)))


def upper_limit(arrays, q: float = 99.0) -> float:
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 1.0
    return _nice_limit(float(np.percentile(vals, q)))


def map_year(run) -> int:
    y = int(run.cfg.get("figures.map_year"))
    first, last = run.years
    return last if y == 0 else y


def _panel_size(frame: MapFrame, ncols: int):
    w = 3.6 if ncols <= 2 else 2.9
    if frame.polar:
        return w * 0.9, w * 0.9
    h = w / max(frame.aspect, 0.3)
    return w, min(max(h, 0.9), 4.2)


def _grid(frame: MapFrame, nrows: int, ncols: int, title: str, cbar_rows: float = 0.55):
    pw, ph = _panel_size(frame, ncols)
    fig = plt.figure(figsize=(pw * ncols + 0.9, ph * nrows + 0.75 + cbar_rows), layout="constrained")
    axes = np.empty((nrows, ncols), dtype=object)
    for i in range(nrows):
        for j in range(ncols):
            axes[i, j] = fig.add_subplot(nrows, ncols, i * ncols + j + 1, projection=frame.crs)
    fig.suptitle(title, fontsize=10.5)
    return fig, axes


def _decorate(frame, ax, i, j, nrows, land_mask):
    frame.add_land(ax, land_mask)
    frame.gridlines(ax, left=(j == 0), bottom=(i == nrows - 1))


def _note(ax, text):
    ax.text(0.02, 0.03, text, transform=ax.transAxes, fontsize=7, zorder=5,
            bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.8))


def _read_month_fields(run, experiment, region, year, months):
    """{model: (sim[m], rec[m])} for the months, plus the grid; Missing if no model has a cache."""
    data, grid, problems = {}, None, []
    for model in run.models:
        try:
            ds = run.open_cache(model, experiment, region, year)
        except Missing as e:
            problems.append(str(e))
            continue
        with ds:
            mon = ds["time"].dt.month.values
            sims, recs = [], []
            for m in months:
                k = np.nonzero(mon == m)[0]
                if k.size == 0:
                    raise Missing(f"{run.files.cache(model, experiment, region, year)} has no month {m}")
                sims.append(ds[run.target].values[k[0]].astype(float))
                recs.append(ds[f"reconstructed_{run.target}"].values[k[0]].astype(float))
            g = dict(lat=ds["nav_lat"].values, lon=ds["nav_lon"].values,
                     mask=(ds["sample_mask"].values == 1) if "sample_mask" in ds else np.isfinite(sims[0]),
                     region=(ds["region_mask"].values == 1) if "region_mask" in ds else None,
                     units=ds[run.target].attrs.get("units", ""))
            if grid is None:
                grid = g
            elif g["lat"].shape != grid["lat"].shape:
                problems.append(f"cache of {model} ({experiment}, {region}, {year}) has another grid box "
                                f"than the other models': left out")
                continue
            data[model] = (sims, recs)
    if not data:
        raise Missing("; ".join(problems) or f"no caches for {experiment} {region} {year}")
    return data, grid, problems


def flux_maps(run, experiment, region, skipped):
    year = map_year(run)
    months = [int(m) for m in run.cfg.get("figures.months")]
    data, grid, problems = _read_month_fields(run, experiment, region, year, months)
    for p in problems:
        skipped.append(Skipped("maps", f"{experiment} {region} {year}", p))
    if not grid["mask"].any() or not any(np.isfinite(s).any() for s, _ in data.values() for s in s):
        raise Missing(f"region {region} has no cells with data in the caches of {experiment} {year}")
    frame = MapFrame(grid["lat"], grid["lon"], grid["mask"] | (grid["region"] if grid["region"] is not None else False))
    models = list(data)
    sim = data[models[0]][0]
    for m in models[1:]:
        if not all(np.allclose(a, b, equal_nan=True, rtol=1e-6, atol=1e-6) for a, b in zip(sim, data[m][0])):
            skipped.append(Skipped("maps", f"{experiment} {region} {year}",
                                   f"the simulated flux in the cache of {m} differs from that of {models[0]} "
                                   f"(caches of different runs?); the Simulation row shows {models[0]}'s"))
    rows = [("simulation", "Simulation", sim)] + [(m, model_label(m), data[m][1]) for m in models]
    lim = symmetric_limit([a for _, _, arrs in rows for a in arrs])
    norm = Normalize(-lim, lim)
    title = (f"CO$_2$ flux, simulated and reconstructed: {run.region_display(region)}, "
             f"{run.experiment_label(experiment)}, {year}")
    fig, axes = _grid(frame, len(rows), len(months), title)
    mesh = None
    land_mask = ~(grid["region"] if grid.get("region") is not None else grid["mask"]) if region == "global" else None
    for i, (key, label, arrs) in enumerate(rows):
        for j, m in enumerate(months):
            ax = axes[i, j]
            mesh = frame.pcolormesh(ax, arrs[j], cmap=FLUX_CMAP, norm=norm)
            mesh.set_gid(f"flux:{key}:{m}")
            _decorate(frame, ax, i, j, len(rows), land_mask)
            ax.set_title(f"{label}, {MONTH_NAMES[m - 1]} {year}")
            if key != "simulation":
                e = arrs[j] - sim[j]
                rmse = float(np.sqrt(np.nanmean(e**2))) if np.isfinite(e).any() else float("nan")
                _note(ax, f"RMSE {rmse:.3g}")
    cb = fig.colorbar(mesh, ax=axes.ravel().tolist(), orientation="horizontal", shrink=0.7, aspect=40,
                      pad=0.02, extend="both")
    cb.set_label(flux_label(run.target, grid["units"]))
    return Figure(figure_name("maps", experiment, region, str(year)), "maps", title, fig,
                  caption=(f"Simulated (top row) and reconstructed flux of every model in "
                           f"{', '.join(MONTH_NAMES[m - 1] for m in months)} {year}, on the model grid; one "
                           f"colour scale (+-{lim:g}); positive = into the ocean. Panels of models give the "
                           f"month's RMSE against the simulation."),
                  region=region, experiment=experiment, models=models)


def difference_maps(run, experiment, region, skipped):
    year = map_year(run)
    months = [int(m) for m in run.cfg.get("figures.months")]
    data, grid, problems = _read_month_fields(run, experiment, region, year, months)
    for p in problems:
        skipped.append(Skipped("differences", f"{experiment} {region} {year}", p))
    if not grid["mask"].any():
        raise Missing(f"region {region} has no cells in the caches of {experiment} {year}")
    frame = MapFrame(grid["lat"], grid["lon"], grid["mask"])
    models = list(data)
    diffs = {m: [r - s for s, r in zip(*data[m])] for m in models}
    lim = symmetric_limit([d for m in models for d in diffs[m]])
    norm = Normalize(-lim, lim)
    title = (f"Reconstructed - simulated CO$_2$ flux: {run.region_display(region)}, "
             f"{run.experiment_label(experiment)}, {year}")
    fig, axes = _grid(frame, len(models), len(months), title)
    land_mask = ~(grid["region"] if grid.get("region") is not None else grid["mask"]) if region == "global" else None
    mesh = None
    for i, model in enumerate(models):
        for j, m in enumerate(months):
            ax = axes[i, j]
            mesh = frame.pcolormesh(ax, diffs[model][j], cmap=DIFF_CMAP, norm=norm)
            mesh.set_gid(f"difference:{model}:{m}")
            _decorate(frame, ax, i, j, len(models), land_mask)
            ax.set_title(f"{model_label(model)}, {MONTH_NAMES[m - 1]} {year}")
            d = diffs[model][j]
            if np.isfinite(d).any():
                _note(ax, f"bias {np.nanmean(d):+.3g}, RMSE {np.sqrt(np.nanmean(d**2)):.3g}")
    cb = fig.colorbar(mesh, ax=axes.ravel().tolist(), orientation="horizontal", shrink=0.7, aspect=40,
                      pad=0.02, extend="both")
    cb.set_label(flux_label(run.target, grid["units"], "Reconstructed - simulated "))
    return Figure(figure_name("differences", experiment, region, str(year)), "differences", title, fig,
                  caption=(f"Reconstructed minus simulated flux of every model, {year}; brown = the model "
                           f"under-estimates, green = over-estimates; limits +-{lim:g} shared by all models."),
                  region=region, experiment=experiment, models=models)


def error_maps(run, experiment, region, skipped):
    fields, grid, units = {}, None, ""
    for model in run.models:
        try:
            ds = run.open_field(model, experiment, region)
        except Missing as e:
            skipped.append(Skipped("errors", f"{model} {experiment} {region}", str(e)))
            continue
        with ds:
            f = dict(rmse=ds["rmse"].values.astype(float), bias=ds["mean_difference"].values.astype(float))
            g = dict(lat=ds["nav_lat"].values, lon=ds["nav_lon"].values, mask=ds["sample_mask"].values == 1)
            units = ds["rmse"].attrs.get("units", units)
        if grid is None:
            grid = g
        elif g["lat"].shape != grid["lat"].shape:
            skipped.append(Skipped("errors", f"{model} {experiment} {region}",
                                   "error field on another grid box than the other models': left out"))
            continue
        fields[model] = f
    if not fields:
        raise Missing(f"no error fields for {experiment} {region} under {run.files.evaluation_dir / 'fields'}")
    if not grid["mask"].any():
        raise Missing(f"region {region} has no cells in the error fields of {experiment}")
    frame = MapFrame(grid["lat"], grid["lon"], grid["mask"])
    models = list(fields)
    rmax = upper_limit([fields[m]["rmse"] for m in models])
    blim = symmetric_limit([fields[m]["bias"] for m in models])
    first, last = run.years
    title = (f"RMSE and bias of the reconstructions: {run.region_display(region)}, "
             f"{run.experiment_label(experiment)}, {period_label(first, last)}")
    pw, ph = _panel_size(frame, 2)
    fig = plt.figure(figsize=(pw * 2 + 0.9, ph * len(models) + 1.4), layout="constrained")
    sub = fig.subfigures(1, 2, wspace=0.02)
    land_mask = ~(grid["region"] if grid.get("region") is not None else grid["mask"]) if region == "global" else None
    for j, (key, cmap, norm, label) in enumerate([
        ("rmse", RMSE_CMAP, Normalize(0, rmax), flux_label(run.target, units, "RMSE of ")),
        ("bias", DIFF_CMAP, Normalize(-blim, blim), flux_label(run.target, units, "Bias (rec. - sim.) of ")),
    ]):
        axes = [sub[j].add_subplot(len(models), 1, i + 1, projection=frame.crs) for i in range(len(models))]
        mesh = None
        for i, model in enumerate(models):
            ax = axes[i]
            mesh = frame.pcolormesh(ax, fields[model][key], cmap=cmap, norm=norm)
            mesh.set_gid(f"errors:{model}:{key}")
            frame.add_land(ax, land_mask)
            frame.gridlines(ax, left=(j == 0), bottom=(i == len(models) - 1))
            ax.set_title(f"{model_label(model)}: {'RMSE' if key == 'rmse' else 'mean bias'}")
        cb = sub[j].colorbar(mesh, ax=axes, orientation="horizontal", shrink=0.85, aspect=30, pad=0.02,
                             extend="max" if key == "rmse" else "both")
        cb.set_label(label)
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("errors", experiment, region), "errors", title, fig,
                  caption=(f"Per-cell RMSE and mean bias (reconstructed - simulated) over every month of "
                           f"{period_label(first, last)}, from the evaluation's error fields; colour limits "
                           f"shared by all models."),
                  region=region, experiment=experiment, models=models)
