#!/usr/bin/python3
"""The seed's data exploration (its data_exploration_*.py scripts) as they do it, for timing `fluxkit explore` against it.

For every experiment and region: load every yearly table (the seed unpickled `xarray.Dataset.to_dataframe()`
tables: with --pickles, the pickles of bench/make_seed_pickles.py; otherwise the same table is made from the
yearly netCDF file), keep tmask == 1, drop the unused columns,
keep the region's rows, concatenate all years (data_preprocessing_dataexploration.py); then drop_duplicates(),
z-score the 11 variables with the table's mean and std (ddof 1) and group by calendar month
(data_exploration_monthly_mean.py); the KDE of every z-scored variable in January and July on seaborn's
200-point grid clipped to (-4, 4) with scipy's gaussian_kde, which seaborn's kdeplot calls
(data_exploration_distribution_plot.py, intent); the correlation matrix of January and July
(data_exploration_corr_matrix_plot.py, intent). No plotting is timed.

    seed_exploration.py DATA_ROOT [--pickles] --experiments experiment_1 --regions north_atlantic \
        --years 1958 2018 [--out results.json]

Prints the seconds per stage; --out writes the climatology and correlations for comparison with fluxkit's
tables.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import gaussian_kde

VARS = ["SST", "SAL", "ice_frac", "mixed_layer_depth", "heat_flux_down", "water_flux_up", "stress_X", "stress_Y",
        "currents_X", "currents_Y", "co2flux_pre"]
TAGS = {"experiment_1": "hind", "experiment_5": "wind"}
PATTERN = "{experiment}/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}.nc"


def zone(df, region):  # the seed's get_zoned_df
    lat, lon = df["nav_lat"], df["nav_lon"]
    if region == "north_atlantic":
        return df[(lon >= -75.0) & (lon <= 0.0) & (lat >= 10) & (lat <= 70)]
    if region == "southern_ocean":
        return df[lat <= -45]
    if region == "arctic":
        return df[lat > 70.0]
    if region == "equatorial_pacific":
        return df[(lat >= -10.0) & (lat <= 10.0) & (((lon >= 105.0) & (lon <= 180.0)) | ((lon >= -180.0) & (lon <= -80.0)))]
    return df


def load_year(root, experiment, year, pickles):
    p = Path(root) / PATTERN.format(experiment=experiment, tag=TAGS[experiment], year=year)
    if pickles:
        df = pd.read_pickle(str(p)[:-3] + "_df.pkl")
    else:
        with xr.open_dataset(p) as ds:
            keep = VARS + ["tmask", "e1t", "e2t", "time_centered", "nav_lat", "nav_lon"]
            df = ds[[v for v in keep if v in ds.variables]].to_dataframe().reset_index()
    df = df[df["tmask"] == 1]
    return df.drop(columns=[c for c in ("tmask", "y", "x", "time_centered", "e1t", "e2t") if c in df.columns])


def explore_one(root, experiment, region, years, timings, pickles):
    t = time.perf_counter()
    frames = [zone(load_year(root, experiment, y, pickles), region) for y in range(years[0], years[1] + 1)]
    df = pd.concat(frames, ignore_index=True)
    del frames
    timings["load_concat"] += time.perf_counter() - t

    t = time.perf_counter()
    df = df.drop_duplicates()
    z = (df[VARS] - df[VARS].mean()) / df[VARS].std()
    month = df["time_counter"].dt.month
    clim = z.groupby(month.values).mean()
    timings["zscore_monthly_mean"] += time.perf_counter() - t

    t = time.perf_counter()
    grid = np.linspace(-4, 4, 200)
    kde = {}
    for m in (1, 7):
        zm = z[month.values == m]
        for v in VARS:
            x = zm[v].dropna().to_numpy()
            kde[(m, v)] = gaussian_kde(x)(grid) if x.size > 1 and x.std() > 0 else np.full(grid.size, np.nan)
    timings["kde"] += time.perf_counter() - t

    t = time.perf_counter()
    corr = {m: z[month.values == m].corr() for m in (1, 7)}
    timings["corr"] += time.perf_counter() - t
    return clim, corr, kde


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root", help="directory of the experiments (netCDF, or the pickles with --pickles)")
    ap.add_argument("--pickles", action="store_true", help="read the seed's *_df.pkl tables")
    ap.add_argument("--experiments", nargs="+", default=["experiment_1", "experiment_5"])
    ap.add_argument("--regions", nargs="+", default=["north_atlantic", "southern_ocean"])
    ap.add_argument("--years", nargs=2, type=int, default=[1958, 2018])
    ap.add_argument("--out")
    a = ap.parse_args()
    timings = dict(load_concat=0.0, zscore_monthly_mean=0.0, kde=0.0, corr=0.0)
    t0 = time.perf_counter()
    out = {}
    for e in a.experiments:
        for r in a.regions:
            clim, corr, _ = explore_one(a.root, e, r, a.years, timings, a.pickles)
            out[f"{e}/{r}"] = dict(climatology=clim.to_dict(), corr={m: c.to_dict() for m, c in corr.items()})
    total = time.perf_counter() - t0
    print(json.dumps(dict(seconds=round(total, 2), **{k: round(v, 2) for k, v in timings.items()})))
    if a.out:
        Path(a.out).write_text(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
