"""fluxkit.Config and the stages from Python: the same files as the command line for the same configuration
(data bit for bit; provenance attributes name the caller), log lines through Python's logging, configuration
errors as fluxkit.ConfigError, and the xarray/pandas helpers."""
from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fluxkit


def assert_same_data(a, b):
    with xr.open_dataset(a, decode_times=False) as da, xr.open_dataset(b, decode_times=False) as db:
        assert sorted(da.variables) == sorted(db.variables), (a, b)
        for v in da.variables:
            np.testing.assert_array_equal(da[v].values, db[v].values, err_msg=f"{a}: {v}")


def test_config_overrides_and_errors(ocean_run):
    cfg = fluxkit.Config(ocean_run / "run.toml")
    assert cfg.get("train.models") == ["xgboost", "mlp"]
    cfg2 = cfg.copy().set("train.models", ["mlp"]).set("model.mlp.max_epochs", 5)
    assert cfg2.get("train.models") == ["mlp"] and cfg2.get("model.mlp.max_epochs") == 5
    assert cfg.get("train.models") == ["xgboost", "mlp"]  # the copy is independent
    assert fluxkit.Config().get("run.seed") == 42
    with pytest.raises(fluxkit.ConfigError, match="max_epoch"):
        fluxkit.Config(ocean_run / "run.toml").set("model.mlp.max_epoch", 5).check()
    with pytest.raises(fluxkit.ConfigError, match="train.models"):
        fluxkit.prepare(fluxkit.Config.from_string("[train]\nmodels = 3\n"))
    with pytest.raises(fluxkit.Error):
        fluxkit.Config.from_string("[run\n")
    with pytest.raises(TypeError):
        cfg.copy().set("run.seed", {"a": 1})


def test_stages_equal_the_cli(ocean_run, tmp_path, chdir, caplog):
    d = chdir(tmp_path)
    (d / "run.toml").write_text((ocean_run / "run.toml").read_text())
    os.symlink(ocean_run / "data", d / "data")
    cfg = fluxkit.Config("run.toml").set("run.verbosity", "info")
    with caplog.at_level(logging.INFO, logger="fluxkit"):
        stores = fluxkit.prepare(cfg)
    assert any("windows" in r.getMessage() for r in caplog.records if r.name == "fluxkit")
    assert {s["split"] for s in stores} == {"train", "validation", "test"}
    for s in stores:
        rel = os.path.relpath(s["path"], d) if os.path.isabs(s["path"]) else s["path"]
        assert_same_data(d / rel, ocean_run / rel)

    epochs = []
    rows = fluxkit.train(cfg, callback=lambda r: epochs.append((r["model"], r["epoch"])))
    assert [r["model"] for r in rows] == ["xgboost", "mlp"]
    assert ("mlp", 3) in epochs and ("xgboost", 1) in epochs
    a = pd.read_csv(d / "models" / "validation_mse.csv").drop(columns=["seconds"])
    b = pd.read_csv(ocean_run / "models" / "validation_mse.csv").drop(columns=["seconds"])
    a["artifact"] = a["artifact"].fillna("").map(os.path.basename)
    b["artifact"] = b["artifact"].fillna("").map(os.path.basename)
    pd.testing.assert_frame_equal(a, b)
    store = fluxkit.SampleStore(d / "samples" / "validation.nc")
    for m in ("xgboost", "mlp"):
        mine, cli = fluxkit.load_model(d / "models" / m), fluxkit.load_model(ocean_run / "models" / m)
        x, _ = store.windows(layout=mine.layout)
        np.testing.assert_array_equal(mine.predict(x), cli.predict(x))

    outcomes = fluxkit.reconstruct(cfg)
    assert len(outcomes) == 2 and not any(o["skipped"] for o in outcomes)
    assert all(o["skipped"] for o in fluxkit.reconstruct(cfg))
    for o in outcomes:
        rel = os.path.relpath(o["cache"], d) if os.path.isabs(o["cache"]) else o["cache"]
        assert_same_data(d / rel, ocean_run / rel)

    summary = fluxkit.evaluate(cfg)
    assert summary["caches_read"] == 2 and "mlp" in summary["summary"]
    mine, cli = fluxkit.evaluation_tables(d / "evaluation"), fluxkit.evaluation_tables(ocean_run / "evaluation")
    assert sorted(mine) == sorted(cli) and mine
    for name in mine:
        pd.testing.assert_frame_equal(mine[name], cli[name], obj=name)

    explained = fluxkit.explain(cfg)
    assert explained["files_written"] == 2 and explained["samples_computed"] == 8
    assert len(explained["rankings"]) == 2
    mine, cli = fluxkit.open_explanations(d / "explanations"), fluxkit.open_explanations(ocean_run / "explanations")
    assert sorted(mine) == sorted(cli) == [("mlp", "kernel_shap_experiment_1_global_2004_07"),
                                            ("xgboost", "tree_shap_interventional_experiment_1_global_2004_07")]
    for key in mine:
        for v in ("phi", "base_value", "prediction", "inputs"):
            np.testing.assert_array_equal(mine[key][v].values, cli[key][v].values, err_msg=f"{key}: {v}")
    pd.testing.assert_frame_equal(fluxkit.explanation_importance(d / "explanations"),
                                  fluxkit.explanation_importance(ocean_run / "explanations"))
    again = fluxkit.explain(cfg)  # finished files are reused
    assert again["files_reused"] == 2 and again["samples_computed"] == 0


def test_result_helpers(ocean_run):
    caches = fluxkit.open_caches(ocean_run / "reconstruction")
    assert sorted(k[0] for k in caches) == ["mlp", "xgboost"]
    key = ("mlp", "experiment_1", "global", 2004)
    assert key in caches and isinstance(caches[key], xr.Dataset)
    assert fluxkit.open_caches(ocean_run / "reconstruction", model="xgboost").keys() == {
        ("xgboost", "experiment_1", "global", 2004)}
    tables = fluxkit.evaluation_tables(ocean_run / "evaluation")
    assert all(isinstance(t, pd.DataFrame) for t in tables.values()) and tables
    xgb = fluxkit.open_explanations(ocean_run / "explanations", method="tree_shap_interventional")
    assert list(xgb) == [("xgboost", "tree_shap_interventional_experiment_1_global_2004_07")]
    assert fluxkit.open_explanations(ocean_run / "explanations", method="tree_shap") == {}
    imp = fluxkit.explanation_importance(ocean_run / "explanations")
    assert {"model", "method", "driver", "lag", "mean_abs_phi"} <= set(imp.columns)
    with pytest.raises(FileNotFoundError, match="importance.csv"):
        fluxkit.explanation_importance(ocean_run)

