"""`fluxkit explore` computes what the seed's exploration scripts meant to (data_exploration_*.py), checked against the
seed's own approach in pandas/scipy on the same files: concatenate every year of the region, z-score each
variable with the table's mean and std (ddof 1), group by month; DataFrame.corr(); seaborn's KDE
(scipy.stats.gaussian_kde, Scott's bandwidth).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

VARS = ["SST", "SAL", "ice_frac", "mixed_layer_depth", "heat_flux_down", "water_flux_up", "stress_X", "stress_Y",
        "currents_X", "currents_Y", "co2flux_pre"]
BOXES = {"north_atlantic": lambda lat, lon: (lon >= -75) & (lon <= 0) & (lat >= 10) & (lat <= 70),
         "southern_ocean": lambda lat, lon: lat <= -45}
TAG = {"experiment_1": "hind", "experiment_5": "wind"}


def seed_table(run_dir, experiment, region):
    frames = []
    for year in range(2000, 2006):
        p = (Path(run_dir) / "data" / experiment /
             f"ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{TAG[experiment]}_{year}.nc")
        with xr.open_dataset(p) as ds:
            df = ds[VARS + ["tmask", "nav_lat", "nav_lon"]].to_dataframe().reset_index()
        df = df[df["tmask"] == 1]
        df = df[BOXES[region](df["nav_lat"], df["nav_lon"])]
        df["month"] = df["time_counter"].dt.month
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    for v in VARS:
        df[v] = (df[v].astype(float) - df[v].astype(float).mean()) / df[v].astype(float).std()
    return df


@pytest.fixture(scope="module")
def tables(run_dir):
    d = Path(run_dir) / "exploration"
    return {n: pd.read_csv(d / f"{n}.csv") for n in ("statistics", "climatology", "distributions", "correlations")}


@pytest.mark.parametrize("experiment", ["experiment_1", "experiment_5"])
@pytest.mark.parametrize("region", ["north_atlantic", "southern_ocean"])
def test_matches_the_seed_approach(run_dir, tables, experiment, region):
    df = seed_table(run_dir, experiment, region)
    clim = tables["climatology"]
    clim = clim[(clim.experiment == experiment) & (clim.region == region)]
    want = df.groupby("month")[VARS].mean()
    for v in VARS:
        got = clim[clim.variable == v].sort_values("month")
        assert (got["n"] == df.groupby("month")[v].count().to_numpy()).all()
        np.testing.assert_allclose(got["mean_z"].to_numpy(), want[v].to_numpy(), rtol=1e-6, atol=1e-9)
    cor = tables["correlations"]
    for m in (1, 7, 0):
        sub = df if m == 0 else df[df.month == m]
        want = sub[VARS].corr()
        c = cor[(cor.experiment == experiment) & (cor.region == region) & (cor.month == m)]
        got = c.pivot(index="variable_a", columns="variable_b", values="r").reindex(index=VARS, columns=VARS)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-6, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("region", ["north_atlantic", "southern_ocean"])
def test_distributions_match_histogram_and_gaussian_kde(run_dir, tables, region):
    from scipy.stats import gaussian_kde

    df = seed_table(run_dir, "experiment_1", region)
    dist = tables["distributions"]
    for m in (1, 7):
        for v in ("SST", "co2flux_pre", "mixed_layer_depth"):
            d = dist[(dist.experiment == "experiment_1") & (dist.region == region) & (dist.month == m)
                     & (dist.variable == v)].sort_values("z_lower")
            z = df.loc[df.month == m, v].to_numpy()
            edges = np.append(d["z_lower"].to_numpy(), d["z_upper"].iloc[-1])
            counts, _ = np.histogram(z, bins=edges)
            assert np.abs(counts - d["count"].to_numpy()).sum() <= 2  # a value on a bin edge may fall either way
            np.testing.assert_allclose(d["density"].sum() * (edges[1] - edges[0]),
                                       np.count_nonzero((z >= edges[0]) & (z <= edges[-1])) / z.size, rtol=1e-3)
            centres = 0.5 * (edges[:-1] + edges[1:])
            want = gaussian_kde(z)(centres)
            np.testing.assert_allclose(d["kde"].to_numpy(), want, atol=2e-3 * want.max())


def test_statistics_are_the_zscore_parameters(run_dir, tables):
    st = tables["statistics"]
    frames = []
    for year in range(2000, 2006):
        with xr.open_dataset(Path(run_dir) / "data" / "experiment_5" /
                             f"ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.wind_{year}.nc") as ds:
            frames.append(ds[["SST", "nav_lat", "tmask"]].to_dataframe().reset_index())
    df = pd.concat(frames)
    sst = df[(df.tmask == 1) & (df.nav_lat <= -45)]["SST"].astype(float)
    row = st[(st.experiment == "experiment_5") & (st.region == "southern_ocean") & (st.variable == "SST")].iloc[0]
    assert row["n"] == sst.count() and row["units"] == "degC"
    np.testing.assert_allclose([row["mean"], row["std"], row["min"], row["max"]],
                               [sst.mean(), sst.std(), sst.min(), sst.max()], rtol=1e-6)
