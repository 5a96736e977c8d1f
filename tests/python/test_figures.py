"""The figures draw the numbers of fluxkit's files: every test reads back what a figure plotted (mesh arrays,
line data, texts) and compares it with the caches and tables; every figure file is written; bad inputs are
named, the rest is drawn and the exit status is non-zero; nothing is downloaded.

Run by ctest (label python): FLUXKIT=<binary> PYTHONPATH=<source>/python python3 -m pytest tests/python
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxkit import runconfig
from fluxkit.figures import FAMILIES, draw_all, explore, losses, maps, scatter, timeseries
from fluxkit.figures.common import Run
from fluxkit.figures.geo import MapFrame, cell_corners, circular_center, continuous_longitudes

from conftest import FLUXKIT, fluxkit

EXP, YEARS, REGIONS, MODELS = "experiment_1", (2004, 2005), ["global", "north_atlantic", "southern_ocean"], [
    "xgboost", "xgb_small"]
PY = [sys.executable, "-m", "fluxkit.figures"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def open_run(path, *sets) -> Run:
    os.chdir(path)
    return Run(runconfig.load(Path(path) / "run.toml", list(sets)))


def by_gid(fig, gid):
    found = [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]
    assert found, f"nothing drawn with gid {gid}"
    return found[0]


def mesh_values(mesh, shape):
    return np.ma.filled(np.ma.masked_invalid(np.ma.asarray(mesh.get_array(), dtype=float)), np.nan).reshape(shape)


def cache(run_dir, model, region, year, var):
    d = {"global": "global", "north_atlantic": "North_Atlantic", "southern_ocean": "Southern_Ocean"}[region]
    with xr.open_dataset(Path(run_dir) / "reconstruction" / EXP / d /
                         f"{model}_{d}_reconstruction_{year}_{EXP}.nc") as ds:
        return ds[var].values.astype(float), ds["time"].dt.month.values


def skipped_list():
    return []


# ---- maps ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_flux_maps_draw_the_caches(run_dir, region):
    run = open_run(run_dir)
    sk = []
    f = maps.flux_maps(run, EXP, region, sk)
    assert not sk
    year = YEARS[1]  # map_year 0 = the last evaluated year
    sim, months = cache(run_dir, "xgboost", region, year, "co2flux_pre")
    norms = set()
    for m in (1, 7):
        k = list(months).index(m)
        mesh = by_gid(f.fig, f"flux:simulation:{m}")
        np.testing.assert_allclose(mesh_values(mesh, sim[k].shape), sim[k], rtol=1e-6, equal_nan=True)
        norms.add((mesh.norm.vmin, mesh.norm.vmax))
        for model in MODELS:
            rec, _ = cache(run_dir, model, region, year, "reconstructed_co2flux_pre")
            mesh = by_gid(f.fig, f"flux:{model}:{m}")
            np.testing.assert_allclose(mesh_values(mesh, rec[k].shape), rec[k], rtol=1e-6, equal_nan=True)
            norms.add((mesh.norm.vmin, mesh.norm.vmax))
    assert len(norms) == 1, "one colour scale for every panel"
    (lo, hi), = norms
    assert hi > 0 and lo == -hi
    cbar_labels = [ax.get_xlabel() for ax in f.fig.axes if "mol m" in ax.get_xlabel()]
    assert cbar_labels and "CO$_2$ flux" in cbar_labels[0], "a colour bar labelled with the units"
    assert "2005" in f.title and EXP in f.title


@pytest.mark.parametrize("region", REGIONS)
def test_difference_maps_are_rec_minus_sim(run_dir, region):
    run = open_run(run_dir)
    f = maps.difference_maps(run, EXP, region, [])
    sim, months = cache(run_dir, "xgboost", region, YEARS[1], "co2flux_pre")
    limits = set()
    for model in MODELS:
        rec, _ = cache(run_dir, model, region, YEARS[1], "reconstructed_co2flux_pre")
        for m in (1, 7):
            k = list(months).index(m)
            mesh = by_gid(f.fig, f"difference:{model}:{m}")
            np.testing.assert_allclose(mesh_values(mesh, sim[k].shape), rec[k] - sim[k], rtol=1e-5, atol=1e-6,
                                       equal_nan=True)
            limits.add((mesh.norm.vmin, mesh.norm.vmax))
            assert mesh.get_cmap().name == "BrBG"
    assert len(limits) == 1
    (lo, hi), = limits
    assert lo == -hi, "centred on zero, symmetric"


@pytest.mark.parametrize("region", REGIONS)
def test_error_maps_draw_the_evaluation_fields(run_dir, region):
    run = open_run(run_dir)
    f = maps.error_maps(run, EXP, region, [])
    for model in MODELS:
        with xr.open_dataset(Path(run_dir) / "evaluation" / "fields" / f"{model}_{EXP}_{region}_errors.nc") as ds:
            for key, var in (("rmse", "rmse"), ("bias", "mean_difference")):
                want = ds[var].values.astype(float)
                mesh = by_gid(f.fig, f"errors:{model}:{key}")
                np.testing.assert_allclose(mesh_values(mesh, want.shape), want, rtol=1e-6, equal_nan=True)
    bias = [by_gid(f.fig, f"errors:{m}:bias").norm for m in MODELS]
    assert len({(n.vmin, n.vmax) for n in bias}) == 1 and bias[0].vmin == -bias[0].vmax


# ---- time series -----------------------------------------------------------------------------------------------


def test_annual_means_draw_timeseries_annual(run_dir):
    run = open_run(run_dir)
    f = timeseries.annual_means(run, EXP, [])
    t = pd.read_csv(Path(run_dir) / "evaluation" / "timeseries_annual.csv")
    assert (t["integrated_units"] == "Pg C yr-1").all()
    for region in REGIONS:
        for col, sim_col, rec_col in (("mean", "sim_mean", "rec_mean"),
                                      ("integrated", "sim_integrated", "rec_integrated_extrapolated")):
            for model in MODELS:
                d = t[(t.model == model) & (t.region == region)].sort_values("year")
                line = by_gid(f.fig, f"annual:{model}:{region}:{col}")
                np.testing.assert_array_equal(line.get_xdata(), d["year"])
                np.testing.assert_allclose(line.get_ydata(), d[rec_col])
            d = t[(t.model == MODELS[0]) & (t.region == region)].sort_values("year")
            np.testing.assert_allclose(by_gid(f.fig, f"annual:simulation:{region}:{col}").get_ydata(), d[sim_col])
    assert any("Pg C" in ax.get_ylabel() for ax in f.fig.axes)


def test_seasonal_cycle_draws_seasonal_tables(run_dir):
    run = open_run(run_dir)
    f = timeseries.seasonal_cycles(run, EXP, [])
    t = pd.read_csv(Path(run_dir) / "evaluation" / "seasonal_cycle.csv")
    s = pd.read_csv(Path(run_dir) / "evaluation" / "seasonal_summary.csv")
    for region in REGIONS:
        for model in MODELS:
            d = t[(t.model == model) & (t.region == region)].sort_values("month")
            np.testing.assert_allclose(by_gid(f.fig, f"seasonal:{model}:{region}:{model}").get_ydata(), d["rec_mean"])
            np.testing.assert_allclose(by_gid(f.fig, f"seasonal:simulation:{region}:{model}").get_ydata(),
                                       d["sim_mean"])
            band = by_gid(f.fig, f"seasonal-band:{model}:{region}:{model}")
            ys = band.get_paths()[0].vertices[:, 1]
            np.testing.assert_allclose(ys.max(), (d["rec_mean"] + d["rec_std_cells"]).max(), rtol=1e-9)
            np.testing.assert_allclose(ys.min(), (d["rec_mean"] - d["rec_std_cells"]).min(), rtol=1e-9)
            row = s[(s.model == model) & (s.region == region)].iloc[0]
            ax = by_gid(f.fig, f"seasonal:{model}:{region}:{model}").axes
            text = " ".join(t_.get_text() for t_ in ax.texts)
            assert f"{row['amplitude_error']:+.2g}" in text
            assert f"phase error {int(row['phase_error_months']):+d}" in text


# ---- scatter ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_density_scatter_bins_every_pair(run_dir, region):
    run = open_run(run_dir)
    f = scatter.density_scatter(run, EXP, region, [])
    edges = f.data["edges"]
    fit = pd.read_csv(Path(run_dir) / "evaluation" / "scatter_fit.csv")
    met = pd.read_csv(Path(run_dir) / "evaluation" / "metrics.csv")
    for model in MODELS:
        sims, recs = [], []
        for y in range(YEARS[0], YEARS[1] + 1):
            s, _ = cache(run_dir, model, region, y, "co2flux_pre")
            r, _ = cache(run_dir, model, region, y, "reconstructed_co2flux_pre")
            ok = np.isfinite(s) & np.isfinite(r)
            sims.append(s[ok])
            recs.append(r[ok])
        s, r = np.concatenate(sims), np.concatenate(recs)
        want, _, _ = np.histogram2d(s, r, bins=[edges, edges])
        mesh = by_gid(f.fig, f"scatter:{model}")
        got = np.ma.filled(np.ma.asarray(mesh.get_array()), 0).reshape(want.T.shape)
        np.testing.assert_array_equal(got, want.T)
        assert f.data["counts"][model] == s.size
        row = fit[(fit.model == model) & (fit.region == region)].iloc[0]
        line = by_gid(f.fig, f"scatter-fit:{model}")
        x = np.asarray(line.get_xdata())
        np.testing.assert_allclose(line.get_ydata(), row["slope"] * x + row["intercept"])
        r2 = met[(met.model == model) & (met.region == region) & (met.weighting == "unweighted")
                 & (met.period_type == "overall")]["r2"].iloc[0]
        assert f"R$^2$ = {r2:.3f}" in " ".join(t.get_text() for t in mesh.axes.texts)
    # the same axis limits for every model
    assert len({(m.axes.get_xlim(), m.axes.get_ylim()) for m in [by_gid(f.fig, f"scatter:{x}") for x in MODELS]}) == 1


# ---- losses ----------------------------------------------------------------------------------------------------


def test_losses_draw_losses_csv(run_dir):
    run = open_run(run_dir)
    f = losses.loss_curves(run, [])
    for model in MODELS:
        t = pd.read_csv(Path(run_dir) / "models" / model / "losses.csv")
        for kind in ("train", "validation"):
            line = by_gid(f.fig, f"losses:{model}:{kind}")
            np.testing.assert_array_equal(line.get_xdata(), t["epoch"])
            np.testing.assert_allclose(line.get_ydata(), t[f"{kind}_loss"])
    # each model keeps its colour
    assert by_gid(f.fig, "losses:xgboost:train").get_color() == run.color("xgboost")
    assert run.color("xgboost") != run.color("xgb_small")


# ---- exploration -----------------------------------------------------------------------------------------------


def test_exploration_figures_draw_the_tables(run_dir):
    run = open_run(run_dir)
    figs = explore.exploration_figures(run, [])
    clim = pd.read_csv(Path(run_dir) / "exploration" / "climatology.csv")
    cor = pd.read_csv(Path(run_dir) / "exploration" / "correlations.csv")
    dist = pd.read_csv(Path(run_dir) / "exploration" / "distributions.csv")
    names = {f.name: f for f in figs}
    c = names["explore_climatology"]
    for e in ("experiment_1", "experiment_5"):
        for r in ("north_atlantic", "southern_ocean"):
            for v in ("SST", "co2flux_pre"):
                d = clim[(clim.experiment == e) & (clim.region == r) & (clim.variable == v)].sort_values("month")
                np.testing.assert_allclose(by_gid(c.fig, f"climatology:{e}:{r}:{v}").get_ydata(), d["mean_z"])
            cf = names[f"explore_correlations_{e}"]
            for m in (1, 7):
                d = cor[(cor.experiment == e) & (cor.region == r) & (cor.month == m)]
                mat = d.pivot(index="variable_a", columns="variable_b", values="r")
                order = list(dict.fromkeys(cor["variable_a"]))
                img = by_gid(cf.fig, f"correlation:{e}:{r}:{m}")
                np.testing.assert_allclose(np.ma.filled(img.get_array(), np.nan),
                                           mat.reindex(index=order, columns=order).to_numpy(), equal_nan=True)
                df = names[f"explore_distributions_{e}"]
                d = dist[(dist.experiment == e) & (dist.region == r) & (dist.month == m) & (dist.variable == "SST")]
                np.testing.assert_allclose(by_gid(df.fig, f"distribution:{e}:{r}:{m}:SST").get_ydata(),
                                           d.sort_values("z_lower")["kde"])


# ---- the command: every file, the manifest, bad inputs ------------------------------------------------------------


def expected_names():
    names = {"losses", "annual_experiment_1", "seasonal_experiment_1", "explore_climatology"}
    for e in ("experiment_1", "experiment_5"):
        names |= {f"explore_distributions_{e}", f"explore_correlations_{e}"}
    for r in REGIONS:
        names |= {f"maps_{EXP}_{r}_2005", f"differences_{EXP}_{r}_2005", f"errors_{EXP}_{r}", f"scatter_{EXP}_{r}"}
    return names


def test_every_figure_file_is_written(run_copy):
    r = subprocess.run(PY + ["--config", "run.toml"], cwd=run_copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    man = json.loads((run_copy / "figures" / "figures.json").read_text())
    assert {f["name"] for f in man["figures"]} == expected_names()
    assert man["skipped"] == []
    from PIL import Image

    for f in man["figures"]:
        p = run_copy / "figures" / f"{f['name']}.png"
        assert p.exists() and p.stat().st_size > 1000, p
        with Image.open(p) as im:
            assert abs(im.info["dpi"][0] - 80) < 1  # [figures] dpi of run.toml
        assert f["title"] and f["caption"]
    # vector formats on request
    r = subprocess.run(PY + ["--config", "run.toml", "--families", "losses,maps", "--formats", "pdf,svg",
                             "--output-dir", "vector"], cwd=run_copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name in ("losses", f"maps_{EXP}_global_2005"):
        assert (run_copy / "vector" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        assert b"<svg" in (run_copy / "vector" / f"{name}.svg").read_bytes()[:2000]


def run_figures(path, *args):
    return subprocess.run(PY + ["--config", "run.toml", *args], cwd=path, capture_output=True, text=True)


def test_missing_cache_is_named_and_the_rest_drawn(run_copy):
    victim = run_copy / "reconstruction" / EXP / "North_Atlantic" / f"xgb_small_North_Atlantic_reconstruction_2005_{EXP}.nc"
    victim.unlink()
    r = run_figures(run_copy, "--families", "maps,annual,scatter")
    assert r.returncode == 1
    assert str(victim.relative_to(run_copy)) in r.stderr or str(victim) in r.stderr
    man = json.loads((run_copy / "figures" / "figures.json").read_text())
    drawn = {f["name"] for f in man["figures"]}
    assert "annual_experiment_1" in drawn and f"maps_{EXP}_global_2005" in drawn
    # the map of that region still shows the other model
    assert f"maps_{EXP}_north_atlantic_2005" in drawn


def test_tables_of_another_config_are_named(run_copy):
    r = run_figures(run_copy, "--set", 'evaluate.models=["xgboost", "xgb_small", "lstm"]', "--families",
                    "annual,seasonal,scatter,losses")
    assert r.returncode == 1
    assert "lstm" in r.stderr and "another" in r.stderr
    drawn = {f["name"] for f in json.loads((run_copy / "figures" / "figures.json").read_text())["figures"]}
    assert {"annual_experiment_1", "seasonal_experiment_1", "losses"} <= drawn


def test_region_without_cells_is_named(run_copy):
    import netCDF4

    d = run_copy / "reconstruction" / EXP / "North_Atlantic"
    for p in d.glob("*.nc"):
        with netCDF4.Dataset(p, "a") as ds:
            ds["sample_mask"][:] = 0
            for v in ("co2flux_pre", "reconstructed_co2flux_pre"):
                ds[v][:] = np.nan
    r = run_figures(run_copy, "--families", "maps,scatter")
    assert r.returncode == 1
    assert "north_atlantic has no cells" in r.stderr
    drawn = {f["name"] for f in json.loads((run_copy / "figures" / "figures.json").read_text())["figures"]}
    assert f"maps_{EXP}_global_2005" in drawn and f"scatter_{EXP}_southern_ocean" in drawn


def test_model_without_loss_table_is_named(run_copy):
    (run_copy / "models" / "xgb_small" / "losses.csv").unlink()
    r = run_figures(run_copy, "--families", "losses")
    assert r.returncode == 1
    assert "xgb_small has no loss table" in r.stderr and "losses.csv" in r.stderr
    assert (run_copy / "figures" / "losses.png").exists()


def test_no_network_is_used(run_dir, monkeypatch):
    """Maps with land and coastlines draw with every network access failing."""
    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    run = open_run(run_dir)
    f = maps.flux_maps(run, EXP, "global", [])
    f.fig.savefig(Path(run_dir) / "offline_check.png", dpi=50)
    import cartopy

    assert cartopy.config["downloaders"] == {}
    # the land came from the shapefile Debian installs
    assert any(type(c).__name__ == "PathCollection" for c in f.fig.axes[0].collections)


def test_defaults_match_fluxkit(run_dir):
    """The Python layer's defaults are fluxkit's (`fluxkit config show` on an empty configuration)."""
    out = fluxkit("config", "show", cwd=run_dir).stdout
    shown = tomllib.loads(out)
    for section, keys in runconfig.DEFAULTS.items():
        node = shown
        for part in section.split("."):
            node = node[part]
        for key, value in keys.items():
            assert node[key] == value, f"{section}.{key}: python {value!r}, fluxkit {node[key]!r}"


def test_fluxkit_figures_verb(run_copy):
    """`fluxkit figures` validates the configuration and runs the Python layer with the effective one."""
    env = dict(os.environ, FLUXKIT_PYTHON=str(Path(runconfig.__file__).parents[1]))
    r = subprocess.run([FLUXKIT, "figures", "--config", "run.toml", "--families", "annual,losses", "--dpi", "60"],
                       cwd=run_copy, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    from PIL import Image

    with Image.open(run_copy / "figures" / "losses.png") as im:
        assert abs(im.info["dpi"][0] - 60) < 1
    r = subprocess.run([FLUXKIT, "figures", "--config", "run.toml", "--set", "figures.formats=[\"gif\"]"],
                       cwd=run_copy, capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "figures.formats" in r.stderr
    # a skipped figure makes the verb fail, naming what is missing
    (run_copy / "evaluation" / "seasonal_cycle.csv").unlink()
    r = subprocess.run([FLUXKIT, "figures", "--config", "run.toml", "--families", "seasonal"], cwd=run_copy,
                       capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "seasonal_cycle.csv" in r.stderr
    assert "run.toml" in r.stderr  # messages name the user's file, not the temporary effective configuration


# ---- map geometry ------------------------------------------------------------------------------------------------


def test_longitudes_across_the_dateline_become_continuous():
    lon = np.array([[170.0, 175.0, -180.0, -175.0, -170.0]] * 3)
    c = continuous_longitudes(lon)
    assert np.all(np.diff(c, axis=1) > 0) and np.allclose(np.diff(c, axis=1), 5)
    assert circular_center(lon.ravel()) in (180.0, -180.0)


def test_curvilinear_grid_cells_have_sane_corners():
    """An ORCA-like curvilinear grid: rotated rows whose longitudes wrap inside the rows; no drawn cell spans
    more than a few degrees, and the cells cover both sides of the dateline."""
    ny, nx = 40, 120
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    lon = (i * 3.0 + 0.3 * j + 100.0) % 360.0
    lon = np.where(lon >= 180, lon - 360, lon)
    lat = -60 + j * 3.0 + 2.0 * np.sin(np.deg2rad(i * 3.0))
    clon, clat, bad, lonc = cell_corners(lat, lon)
    assert not bad.any()
    quad = [clon[:-1, :-1], clon[1:, :-1], clon[:-1, 1:], clon[1:, 1:]]
    assert (np.maximum.reduce(quad) - np.minimum.reduce(quad)).max() < 6
    frame = MapFrame(lat, lon, np.ones_like(lat, dtype=bool))
    assert frame.extent[:2] == (-180.0, 180.0) and len(frame.shifts) >= 2
    import matplotlib.pyplot as plt

    fig = plt.figure()
    ax = fig.add_subplot(projection=frame.crs)
    frame.pcolormesh(ax, lat)
    meshes = [c for c in ax.collections if c.get_array() is not None]
    assert len(meshes) == len(frame.shifts)
    plt.close(fig)


def test_polar_regions_get_polar_maps():
    lat, lon = np.meshgrid(np.arange(-78, -44, 2.0), np.arange(-179, 180, 2.0), indexing="ij")
    assert MapFrame(lat, lon, np.ones_like(lat, dtype=bool)).polar == "south"
    assert MapFrame(-lat, lon, np.ones_like(lat, dtype=bool)).polar == "north"
    lat2, lon2 = np.meshgrid(np.arange(10, 70, 2.0), np.arange(-75, 0, 2.0), indexing="ij")
    f = MapFrame(lat2, lon2, np.ones_like(lat2, dtype=bool))
    assert f.polar is None and -77 < f.extent[0] + f.central < -75 and 0 < f.extent[1] + f.central < 1.6


def test_annual_means_with_partial_coverage(run_copy):
    """With sampled cells covering part of a region, the models' integrated flux is an extrapolation: the figure
    draws the simulation over all ocean cells and, dashed, the simulation extrapolated the same way, and scores
    the models against the latter."""
    p = run_copy / "evaluation" / "timeseries_annual.csv"
    t = pd.read_csv(p)
    t["area_fraction"] = 0.5
    t["sim_integrated_extrapolated"] = t["sim_integrated"] * 1.1
    t.to_csv(p, index=False)
    run = open_run(run_copy)
    f = timeseries.annual_means(run, EXP, [])
    for region in REGIONS:
        d = t[(t.model == MODELS[0]) & (t.region == region)].sort_values("year")
        np.testing.assert_allclose(by_gid(f.fig, f"annual:simulation:{region}:integrated").get_ydata(),
                                   d["sim_integrated"])
        dashed = by_gid(f.fig, f"annual:simulation-sampled:{region}:integrated")
        np.testing.assert_allclose(dashed.get_ydata(), d["sim_integrated_extrapolated"])
        assert dashed.get_linestyle() == "--"
        for model in MODELS:
            d = t[(t.model == model) & (t.region == region)].sort_values("year")
            line = by_gid(f.fig, f"annual:{model}:{region}:integrated")
            rmse = np.sqrt(np.mean((d["rec_integrated_extrapolated"] - d["sim_integrated_extrapolated"]) ** 2))
            assert f"RMSE {rmse:.2g}" in line.get_label()


# ---- ocean signature ---------------------------------------------------------------------------------------------


def test_ocean_signature_figure_draws_the_table(tmp_path):
    """The per-station figure plots the columns of ocean_signature.csv; a missing table is named."""
    from fluxkit.figures import signature

    (tmp_path / "run.toml").write_text('[ocean_transport]\ndb = "obs.tar.gz"\noutput_dir = "ot"\nmodel = "mlp"\n')
    run = open_run(tmp_path)
    with pytest.raises(signature.Missing, match="ocean_signature.csv"):
        signature.signature_by_station(run, [])
    (tmp_path / "ot").mkdir()
    times = pd.date_range("2018-01-01 11:00", periods=6, freq="h").append(
        pd.date_range("2018-01-02 11:00", periods=6, freq="h"))
    rows = []
    for site, scale in (("MHD", 1.0), ("CBW", 0.5)):
        for k, t in enumerate(times):
            s = -scale * (0.2 + 0.01 * k)
            rows.append((len(rows), site, t.strftime("%Y-%m-%d %H:%M:%S"), s, s * 1.1, s * 0.1))
    df = pd.DataFrame(rows, columns=["row", "site", "time", "simulated_ppm", "reconstructed_ppm", "difference_ppm"])
    df.to_csv(tmp_path / "ot" / "ocean_signature.csv", index=False)
    f = signature.signature_by_station(run, [])
    for site in ("MHD", "CBW"):
        d = df[df["site"] == site]
        for col, key in (("simulated_ppm", "simulated"), ("reconstructed_ppm", "reconstructed"),
                         ("difference_ppm", "difference")):
            y = np.asarray(by_gid(f.fig, f"signature:{site}:{key}").get_ydata(), dtype=float)
            np.testing.assert_allclose(y[np.isfinite(y)], d[col].to_numpy(), rtol=1e-12)
            assert np.isnan(y).sum() == 1  # the night between the two days breaks the line
    assert "MLP" in f.title and "2018-01-01" in f.title


# ---- explanations ------------------------------------------------------------------------------------------------


def test_explain_figures_draw_the_files(tmp_path):
    """Importance bars come from importance.csv, beeswarms and attention maps from the per-sample files; a missing
    table is named."""
    import xarray as xr
    from fluxkit.figures import explain

    (tmp_path / "run.toml").write_text('[explain]\noutput_dir = "ex"\n')
    run = open_run(tmp_path)
    with pytest.raises(explain.Missing, match="importance.csv"):
        explain.importance_bars(run, "xgboost", "tree_shap", [])
    (tmp_path / "ex" / "xgboost").mkdir(parents=True)
    rows = []
    for driver, v in (("SST", 0.5), ("currents_X", 0.05)):
        rows.append(("xgboost", "tree_shap", "e", "all", 2018, "all", driver, "all", 10, v, v * 0.9, v * 1.1))
        for lag in range(2):
            rows.append(("xgboost", "tree_shap", "e", "all", 2018, "all", driver, str(lag), 10, v / 2, 0, 1))
    cols = ["model", "method", "experiment", "region", "year", "month", "driver", "lag", "n", "mean_abs_phi",
            "ci_low", "ci_high"]
    pd.DataFrame(rows, columns=cols).to_csv(tmp_path / "ex" / "importance.csv", index=False)
    f = explain.importance_bars(run, "xgboost", "tree_shap", [])
    assert by_gid(f.fig, "importance:xgboost:tree_shap:SST").get_width() == pytest.approx(0.5)
    assert by_gid(f.fig, "importance:xgboost:tree_shap:currents_X").get_width() == pytest.approx(0.05)
    phi = np.array([[0.1, -0.2], [0.3, 0.0], [-0.1, 0.05]])
    xr.Dataset({"phi": (("sample", "player"), phi), "inputs": (("sample", "column"), phi * 2)},
               attrs={"player_names": "SST@t-0,currents_X@t-0"}).to_netcdf(
        tmp_path / "ex" / "xgboost" / "tree_shap_e_global_2018_01.nc")
    f = explain.beeswarm(run, "xgboost", "tree_shap", [])
    pts = by_gid(f.fig, "beeswarm:xgboost:tree_shap:SST@t-0")
    np.testing.assert_allclose(np.asarray(pts.get_offsets())[:, 0], phi[:, 0])
    assert "members" not in f.title
    assert [label for label, _ in explain.explain_tasks(run)] == ["xgboost tree_shap importance",
                                                                   "xgboost tree_shap beeswarm"]
    # an ensemble explained as its members' mean says so in the titles
    xr.Dataset({"phi": (("sample", "player"), phi), "inputs": (("sample", "column"), phi * 2)},
               attrs={"player_names": "SST@t-0,currents_X@t-0", "ensemble_members": 3}).to_netcdf(
        tmp_path / "ex" / "xgboost" / "tree_shap_e_global_2018_01.nc")
    assert "(mean of 3 members)" in explain.beeswarm(run, "xgboost", "tree_shap", []).title
    assert "(mean of 3 members)" in explain.importance_bars(run, "xgboost", "tree_shap", []).title


def test_the_cli_knows_every_family_the_figures_layer_draws(run_copy):
    """`fluxkit figures` validates [figures] families in C++ before starting Python: its list must be the
    figures layer's, or a family the layer draws cannot be asked for."""
    r = fluxkit("figures", "--config", "run.toml", "--families", "no_such_family", cwd=run_copy, check=False)
    assert r.returncode != 0
    m = re.search(r"unknown family 'no_such_family' \(known: ([a-z_, ]+)\)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert m.group(1).split(", ") == FAMILIES


def test_drawing_some_families_keeps_the_others_in_the_manifest(run_copy):
    """`--families losses` after a run that drew maps keeps the maps' entries (their files still there), so the
    report still finds them; an entry whose file has gone is dropped."""
    assert run_figures(run_copy, "--families", "maps,losses").returncode == 0
    r = run_figures(run_copy, "--families", "losses")
    assert r.returncode == 0, r.stderr
    man = json.loads((run_copy / "figures" / "figures.json").read_text())
    assert man["families"] == ["maps", "losses"]
    names = [f["name"] for f in man["figures"]]
    assert f"maps_{EXP}_global_2005" in names and names.count("losses") == 1
    (run_copy / "figures" / f"maps_{EXP}_global_2005.png").unlink()
    assert run_figures(run_copy, "--families", "losses").returncode == 0
    names = [f["name"] for f in json.loads((run_copy / "figures" / "figures.json").read_text())["figures"]]
    assert f"maps_{EXP}_global_2005" not in names and f"maps_{EXP}_north_atlantic_2005" in names
    # through the CLI, whose --families makes the source "run.toml + command line": the same configuration
    r = fluxkit("figures", "--config", "run.toml", "--families", "annual", cwd=run_copy)
    assert "with " in r.stdout and "figures of other families drawn before" in r.stdout, r.stdout
    man = json.loads((run_copy / "figures" / "figures.json").read_text())
    assert man["families"] == ["maps", "annual", "losses"] and man["drawn_families"] == ["annual"]
    assert {f"maps_{EXP}_north_atlantic_2005", "losses", "annual_experiment_1"} <= {f["name"] for f in man["figures"]}
