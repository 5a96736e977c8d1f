"""Ensembles ([train] ensemble = 3 for XGBoost) through the real binary: the caches open in xarray with the
mean and standard deviation of their members; the spread maps and bands draw the evaluation's numbers; the
report holds the calibration table and the figures; a run without ensembles has no ensemble figure or section.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxkit import report, runconfig
from fluxkit.figures import ensemble, tasks
from fluxkit.figures.common import Run, RunFiles

from conftest import fluxkit

EXP = "experiment_1"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def ensemble_run(run_dir, tmp_path_factory) -> Path:
    """The shared run with XGBoost trained again as an ensemble of 3 and everything after it redone."""
    d = tmp_path_factory.mktemp("ensemble") / "run"
    shutil.copytree(run_dir, d, ignore=shutil.ignore_patterns("figures", "report"))
    toml = (d / "run.toml").read_text().replace('models = ["xgboost"]\noutput_dir = "models"',
                                                 'models = ["xgboost"]\noutput_dir = "models"\nensemble = 3')
    assert "ensemble = 3" in toml
    (d / "run.toml").write_text(toml)
    c = ["--config", "run.toml"]
    fluxkit("train", *c, cwd=d)
    fluxkit("reconstruct", *c, cwd=d)
    fluxkit("evaluate", *c, cwd=d)
    return d


def open_run(path) -> Run:
    os.chdir(path)
    return Run(runconfig.load(Path(path) / "run.toml", []))


def by_gid(fig, gid):
    found = [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]
    assert found, f"nothing drawn with gid {gid}"
    return found[0]


def test_caches_hold_the_members_mean_and_std(ensemble_run):
    d = ensemble_run
    assert (d / "models" / "xgboost" / "ensemble.toml").exists()
    assert not (d / "models" / "xgboost" / "model.toml").exists()
    p = d / "reconstruction" / EXP / "North_Atlantic" / f"xgboost_North_Atlantic_reconstruction_2005_{EXP}.nc"
    with xr.open_dataset(p) as ds:
        assert ds.attrs["ensemble_members"] == 3
        members = ds["reconstructed_co2flux_pre_member"].values.astype(float)
        assert members.shape[0] == 3
        mean = ds["reconstructed_co2flux_pre"].values.astype(float)
        sd = ds["reconstructed_co2flux_pre_std"].values.astype(float)
        np.testing.assert_allclose(mean, members.mean(axis=0), rtol=0, atol=2e-6)
        np.testing.assert_allclose(sd, members.std(axis=0, ddof=1), rtol=0, atol=2e-6)
        assert np.nanmean(sd) > 0  # the seeds differ
        assert np.array_equal(np.isnan(mean), np.isnan(sd))
    # the single model next to it is unchanged
    p1 = d / "reconstruction" / EXP / "North_Atlantic" / f"xgb_small_North_Atlantic_reconstruction_2005_{EXP}.nc"
    with xr.open_dataset(p1) as ds:
        assert "ensemble_members" not in ds.attrs and "reconstructed_co2flux_pre_std" not in ds


def test_spread_maps_draw_the_std_and_rmse_fields(ensemble_run):
    run = open_run(ensemble_run)
    assert ensemble.ensemble_models(run) == ["xgboost"]
    sk = []
    f = ensemble.spread_maps(run, EXP, "north_atlantic", sk)
    assert not sk
    with xr.open_dataset(RunFiles(run.cfg).error_field("xgboost", EXP, "north_atlantic")) as ds:
        want = {"std": ds["ensemble_std"].values.astype(float), "rmse": ds["rmse"].values.astype(float)}
    for key in ("std", "rmse"):
        mesh = by_gid(f.fig, f"ensemble_maps:xgboost:{key}")
        got = np.ma.filled(np.ma.masked_invalid(np.ma.asarray(mesh.get_array(), dtype=float)), np.nan)
        got = got.reshape(want[key].shape)
        ok = np.isfinite(want[key])
        np.testing.assert_allclose(got[ok], want[key][ok], rtol=1e-6)
    cal = pd.read_csv(run.files.table("ensemble_calibration.csv"))
    row = cal[(cal["model"] == "xgboost") & (cal["region"] == "north_atlantic")].iloc[0]
    titles = " ".join(t.get_text() for ax in f.fig.axes for t in ax.texts)
    assert f"{100 * row['within_1sigma']:.0f}% within 1" in titles
    assert f"spread/error {row['spread_error_ratio']:.2g}" in titles


def test_spread_bands_draw_the_members_spread(ensemble_run):
    run = open_run(ensemble_run)
    sk = []
    f = ensemble.spread_bands(run, EXP, sk)
    assert not sk
    sp = pd.read_csv(run.files.table("ensemble_spread.csv"))
    for region in ("global", "southern_ocean"):
        for ptype, xcol in (("year", "year"), ("climatology", "month")):
            d = sp[(sp["model"] == "xgboost") & (sp["region"] == region) & (sp["period_type"] == ptype)]
            d = d.sort_values(xcol)
            line = by_gid(f.fig, f"ensemble_bands:xgboost:{region}:{ptype}")
            np.testing.assert_allclose(line.get_xdata(), d[xcol].to_numpy(float))
            np.testing.assert_allclose(line.get_ydata(), d["rec_mean"].to_numpy(float))
            band = by_gid(f.fig, f"ensemble_bands-band:xgboost:{region}:{ptype}")
            ys = band.get_paths()[0].vertices[:, 1]
            lo = (d["rec_mean"] - d["member_std"]).to_numpy(float)
            hi = (d["rec_mean"] + d["member_std"]).to_numpy(float)
            assert np.isclose(ys.min(), lo.min()) and np.isclose(ys.max(), hi.max())
            sim = by_gid(f.fig, f"ensemble_bands:simulation:{region}:{ptype}")
            np.testing.assert_allclose(sim.get_ydata(), d["sim_mean"].to_numpy(float))
    # the annual rows agree with the time series of the ensemble mean
    an = pd.read_csv(run.files.table("timeseries_annual.csv"))
    a = an[(an["model"] == "xgboost") & (an["region"] == "global")].sort_values("year")
    y = sp[(sp["model"] == "xgboost") & (sp["region"] == "global") & (sp["period_type"] == "year")].sort_values("year")
    np.testing.assert_allclose(y["rec_mean"].to_numpy(float), a["rec_mean"].to_numpy(float), rtol=1e-7)
    assert (y["member_std"] > 0).all()


def test_report_holds_the_calibration_and_the_figures(ensemble_run):
    d = ensemble_run
    f = subprocess.run([sys.executable, "-m", "fluxkit.figures", "--config", "run.toml", "--families",
                        "ensemble_maps,ensemble_bands,losses"], cwd=d, capture_output=True, text=True)
    assert f.returncode == 0, f.stderr
    assert (d / "figures" / f"ensemble_bands_{EXP}.png").exists()
    for region in ("global", "north_atlantic", "southern_ocean"):
        assert (d / "figures" / f"ensemble_maps_{EXP}_{region}.png").exists()
    os.chdir(d)
    index, missing = report.build(runconfig.load("run.toml"))
    page = index.read_text()
    assert 'id="ensembles"' in page
    cal = pd.read_csv(d / "evaluation" / "ensemble_calibration.csv")
    assert len(cal) == 3 and (cal["members"] == 3).all()
    for v in cal["within_2sigma"]:
        assert f"{v:.4g}" in page
    assert "img/ensemble_bands_experiment_1.png" in page
    assert not [m for m in missing if "Ensembles" in m], missing
    # the losses of an ensemble are member 0's
    assert RunFiles(runconfig.load("run.toml")).losses("xgboost") == d / "models" / "xgboost" / "member_0" / "losses.csv"


def test_a_run_without_ensembles_has_no_ensemble_figures_or_section(run_copy):
    run = open_run(run_copy)
    assert ensemble.ensemble_models(run) == []
    assert not [t for t in tasks(run, ["ensemble_maps", "ensemble_bands", "annual"]) if t[0].startswith("ensemble")]
    os.chdir(run_copy)
    assert report.ensemble_sections(report.ReportContext(runconfig.load("run.toml"), run_copy / "r")) == []


def test_a_missing_member_stops_reconstruct(ensemble_run, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(ensemble_run, d, ignore=shutil.ignore_patterns("figures", "report", "reconstruction"))
    shutil.rmtree(d / "models" / "xgboost" / "member_2")
    r = fluxkit("reconstruct", "--config", "run.toml", cwd=d, check=False)
    assert r.returncode != 0
    assert "ensemble member artifact models/xgboost/member_2" in r.stderr + r.stdout
    assert not (d / "reconstruction").exists()


def test_members_trained_at_the_same_time_are_the_same_on_every_run(run_dir, tmp_path):
    """Two MLP members on 2 threads train at the same time, one thread each: every run gives the same weights
    (each member draws its dropout from its own generator and sets its own thread count)."""
    weights = []
    for k in range(2):
        d = tmp_path / f"run{k}"
        shutil.copytree(run_dir, d, ignore=shutil.ignore_patterns("figures", "report", "models"))
        fluxkit("train", "--config", "run.toml", "--threads", "2", "--set", 'train.models=["mlp"]',
                "--set", "train.ensemble=2", "--set", "model.mlp.max_epochs=2", "--set", "model.mlp.dropout=0.4",
                cwd=d)
        weights.append([(d / "models" / "mlp" / f"member_{m}" / "weights.pt").read_bytes() for m in range(2)])
    assert weights[0][0] != weights[0][1]  # two members, two seeds
    assert weights[0] == weights[1]
