"""Regional time series (the seed's annual_seasonal.py, area-weighted and with integrated fluxes, which the seed lacked), from the
evaluation tables:

- `annual_means`: per experiment, one column per region; top row the area-weighted annual-mean flux, bottom row
  the integrated flux (Pg C yr-1 for mol m-2 yr-1 targets), simulation (black) against every model over the
  evaluated years (timeseries_annual.csv). The legend gives each model's RMSE of the annual means.
- `seasonal_cycles`: per experiment, rows = models, columns = regions (the seed's layout): the monthly
  climatology of the simulation and of the model with a +-1 std band (the spread across cells of the per-cell
  climatology, seasonal_cycle.csv), and the amplitude and phase errors of seasonal_summary.csv on the panel.

Lines carry gids "<family>:<model or simulation>:<region>[:<row>]" for the tests.
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

from .common import (MONTH_ABBR, SIMULATION_COLOR, Figure, Missing, Skipped, bottom_legend, figure_name, flux_label,
                     model_label, period_label, units_tex)

ANNUAL_COLUMNS = ("model", "experiment", "region", "year", "sim_mean", "rec_mean", "sim_integrated",
                  "integrated_units")


def integrated_columns(df):
    """(simulation, simulation at the models' coverage, model) columns of the integrated flux: fluxkit's tables
    integrate the simulation over every ocean cell of the region (sim_integrated) and extrapolate the sampled
    means to the region's area (*_integrated_extrapolated); tables of earlier versions had rec_integrated."""
    if "rec_integrated_extrapolated" in df.columns:
        return "sim_integrated", "sim_integrated_extrapolated", "rec_integrated_extrapolated"
    if "rec_integrated" in df.columns:
        return "sim_integrated", "sim_integrated", "rec_integrated"
    raise Missing("timeseries_annual.csv has no integrated flux of the reconstruction (rec_integrated_extrapolated)")
SEASONAL_COLUMNS = ("model", "experiment", "region", "month", "sim_mean", "rec_mean", "sim_std_cells",
                    "rec_std_cells")
SUMMARY_COLUMNS = ("model", "experiment", "region", "amplitude_error", "phase_error_months", "sim_amplitude",
                   "rec_amplitude", "sim_peak_month", "rec_peak_month")


def _check_years(run, df, what, skipped, family):
    first, last = run.years
    years = sorted(set(int(y) for y in df["year"]))
    want = list(range(first, last + 1))
    if years != want:
        skipped.append(Skipped(family, what, f"the table has the years {years[0]}-{years[-1]} ({len(years)}), "
                                             f"the configuration {first}-{last}: tables of another run?"))
    return df[(df["year"] >= first) & (df["year"] <= last)]


def annual_means(run, experiment, skipped):
    first, last = run.years
    regions = []
    per_region = {}
    for region in run.regions:
        try:
            per_region[region] = run.rows("timeseries_annual.csv", ANNUAL_COLUMNS, experiment=experiment,
                                          region=region)
            regions.append(region)
        except Missing as e:
            skipped.append(Skipped("annual", f"{experiment} {region}", str(e)))
    if not regions:
        raise Missing(f"timeseries_annual.csv has no rows for {experiment}")
    units = run.units()
    fig, axes = plt.subplots(2, len(regions), figsize=(4.4 * len(regions) + 0.4, 8.2), squeeze=False,
                             layout="constrained")
    for j, region in enumerate(regions):
        df = _check_years(run, per_region[region], f"{experiment} {region}", skipped, "annual")
        models_here = [m for m in run.models if (df["model"] == m).any()]
        for m in run.models:
            if m not in models_here:
                skipped.append(Skipped("annual", f"{m} {experiment} {region}",
                                       f"timeseries_annual.csv has no rows for model {m} ({experiment}, {region})"))
        if not models_here:
            continue
        ref = df[df["model"] == models_here[0]].sort_values("year")
        iunits = str(ref["integrated_units"].iloc[0])
        sim_int, sim_cov, rec_int = integrated_columns(df)
        partial = "area_fraction" in df.columns and float(df["area_fraction"].min()) < 0.999
        for i, (col, ylabel) in enumerate([
            ("mean", flux_label(run.target, units, "Area-weighted mean ")),
            ("integrated", f"Integrated flux ({units_tex(iunits)})"),
        ]):
            ax = axes[i, j]
            sim_col, cov_col, rec_col = ("sim_mean", "sim_mean", "rec_mean") if col == "mean" else (
                sim_int, sim_cov, rec_int)
            (line,) = ax.plot(ref["year"], ref[sim_col], color=SIMULATION_COLOR, lw=2.2, marker="o", ms=3,
                              label="Simulation" if col == "mean" or not partial else
                              "Simulation (all ocean cells)", zorder=5)
            line.set_gid(f"annual:simulation:{region}:{col}")
            if col == "integrated" and partial:
                # the models cover only the sampled cells: their integral is an extrapolation; the simulation
                # extrapolated the same way shows the sampling error and is what the models are scored against
                (line,) = ax.plot(ref["year"], ref[cov_col], color=SIMULATION_COLOR, lw=1.2, ls="--",
                                  label=f"Simulation, sampled cells (area fraction "
                                        f"{float(ref['area_fraction'].mean()):.2f}) x area", zorder=4)
                line.set_gid(f"annual:simulation-sampled:{region}:{col}")
            for m in models_here:
                d = df[df["model"] == m].sort_values("year")
                rmse = float(np.sqrt(np.mean((d[rec_col].to_numpy() - d[cov_col].to_numpy()) ** 2)))
                (line,) = ax.plot(d["year"], d[rec_col], color=run.color(m), lw=1.5, marker="o", ms=2.5,
                                  label=f"{model_label(m)} (RMSE {rmse:.2g})")
                line.set_gid(f"annual:{m}:{region}:{col}")
            ax.set_ylabel(ylabel)
            ax.set_xlabel("Year")
            ax.grid(True, lw=0.3, alpha=0.5)
            ax.xaxis.get_major_locator().set_params(integer=True)
            # below the panel: the lines stay visible
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7, frameon=False)
            ax.set_title(f"{run.region_display(region)}: "
                         f"{'annual mean' if col == 'mean' else 'integrated flux'}")
    title = (f"Annual air-sea CO$_2$ flux, simulated and reconstructed: {run.experiment_label(experiment)}, "
             f"{period_label(first, last)}")
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("annual", experiment), "annual", title, fig,
                  caption=("Area-weighted annual-mean flux (top) and the integrated flux (bottom) of every region; "
                           "black = simulation integrated over all the region's ocean cells; the models' integrals "
                           "are their sampled means times the region's ocean area (equal to the integral when "
                           "every cell is sampled; otherwise the dashed line is the simulation treated the same "
                           "way). The legend gives each model's RMSE of the annual values."),
                  experiment=experiment, models=list(run.models))


def seasonal_cycles(run, experiment, skipped):
    first, last = run.years
    data, summaries, regions = {}, {}, []
    for region in run.regions:
        try:
            data[region] = run.rows("seasonal_cycle.csv", SEASONAL_COLUMNS, experiment=experiment, region=region)
            regions.append(region)
        except Missing as e:
            skipped.append(Skipped("seasonal", f"{experiment} {region}", str(e)))
            continue
        try:
            summaries[region] = run.rows("seasonal_summary.csv", SUMMARY_COLUMNS, experiment=experiment,
                                         region=region)
        except Missing as e:
            skipped.append(Skipped("seasonal", f"{experiment} {region} amplitude/phase", str(e)))
    if not regions:
        raise Missing(f"seasonal_cycle.csv has no rows for {experiment}")
    models = [m for m in run.models if any((data[r]["model"] == m).any() for r in regions)]
    for m in run.models:
        if m not in models:
            skipped.append(Skipped("seasonal", f"{m} {experiment}", f"seasonal_cycle.csv has no rows for {m}"))
    if not models:
        raise Missing(f"seasonal_cycle.csv has no rows for the models of the configuration ({experiment})")
    units = run.units()
    fig, axes = plt.subplots(len(models), len(regions), figsize=(3.8 * len(regions) + 0.4, 2.3 * len(models) + 1),
                             squeeze=False, sharex=True, layout="constrained")
    months = np.arange(1, 13)
    for j, region in enumerate(regions):
        df = data[region]
        # shared y limits per region column
        lo, hi = np.inf, -np.inf
        for m in models:
            d = df[df["model"] == m]
            for c in ("sim", "rec"):
                lo = min(lo, float(np.nanmin(d[f"{c}_mean"] - d[f"{c}_std_cells"])) if len(d) else lo)
                hi = max(hi, float(np.nanmax(d[f"{c}_mean"] + d[f"{c}_std_cells"])) if len(d) else hi)
        for i, m in enumerate(models):
            ax = axes[i, j]
            d = df[df["model"] == m].sort_values("month")
            if len(d) != 12:
                ax.text(0.5, 0.5, f"no seasonal cycle of {model_label(m)}", ha="center", transform=ax.transAxes)
                skipped.append(Skipped("seasonal", f"{m} {experiment} {region}",
                                       f"seasonal_cycle.csv has {len(d)} months for {m} ({region}), not 12"))
                continue
            for c, color, label in (("sim", SIMULATION_COLOR, "Simulation"), ("rec", run.color(m), model_label(m))):
                mean, std = d[f"{c}_mean"].to_numpy(), d[f"{c}_std_cells"].to_numpy()
                (line,) = ax.plot(months, mean, color=color, lw=2 if c == "sim" else 1.6, label=label, marker="o",
                                  ms=2.5)
                line.set_gid(f"seasonal:{'simulation' if c == 'sim' else m}:{region}:{m}")
                band = ax.fill_between(months, mean - std, mean + std, color=color, alpha=0.15, lw=0)
                band.set_gid(f"seasonal-band:{'simulation' if c == 'sim' else m}:{region}:{m}")
            if region in summaries:
                s = summaries[region][summaries[region]["model"] == m]
                if len(s):
                    s = s.iloc[0]
                    ax.text(0.02, 0.97,
                            f"amplitude error {s['amplitude_error']:+.2g} {units_tex(units)}\n"
                            f"phase error {int(s['phase_error_months']):+d} month"
                            f"{'' if abs(int(s['phase_error_months'])) == 1 else 's'}",
                            transform=ax.transAxes, va="top", fontsize=7,
                            bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.8))
            if np.isfinite(lo) and np.isfinite(hi):
                pad = 0.05 * (hi - lo if hi > lo else 1.0)
                ax.set_ylim(lo - pad, hi + pad + 0.25 * (hi - lo))  # room for the note
            ax.set_xticks(months, MONTH_ABBR, rotation=0)
            ax.tick_params(axis="x", labelsize=7)
            ax.grid(True, lw=0.3, alpha=0.5)
            ax.set_title(f"{run.region_display(region)}: {model_label(m)}")
            if j == 0:
                ax.set_ylabel(flux_label(run.target, units))
            if i == len(models) - 1:
                ax.set_xlabel("Month")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=SIMULATION_COLOR, lw=2, marker="o", ms=3, label="Simulation")] + [
        Line2D([], [], color=run.color(m), lw=1.6, marker="o", ms=3, label=model_label(m)) for m in models]
    bottom_legend(fig, handles, ncol=len(handles))
    title = (f"Seasonal cycle (monthly climatology, +-1 std across cells): {run.experiment_label(experiment)}, "
             f"{period_label(first, last)}")
    fig.suptitle(title, fontsize=10.5)
    return Figure(figure_name("seasonal", experiment), "seasonal", title, fig,
                  caption=("Area-weighted monthly climatology of the simulation (black) and each model, with a +-1 "
                           "standard deviation band across cells; amplitude error = reconstructed - simulated "
                           "amplitude, phase error = months between the peaks."),
                  experiment=experiment, models=models)
