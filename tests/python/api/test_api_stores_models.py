"""fluxkit.SampleStore and fluxkit.load_model: numpy layouts, zero-copy views, predictions, attention weights,
training with a per-epoch callback, and bad inputs."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fluxkit


@pytest.fixture()
def store(ocean_run):
    return fluxkit.SampleStore(ocean_run / "samples" / "validation.nc")


def test_store_layouts(store):
    h = store.header
    assert h["split"] == "validation" and store.window == h["window"]
    W, F = store.window, len(store.features)
    x, y = store.windows()
    assert x.shape == (store.n_windows, W, F) and y.shape == (store.n_windows,) and x.dtype == np.float32
    xf, yf = store.windows(layout="flat")
    assert xf.shape == (store.n_windows, store.flat_width) == (store.n_windows, len(store.flat_column_names()))
    np.testing.assert_array_equal(y, yf)
    # the zero-copy views hold the same windows
    v = store.sequence_view()
    assert np.shares_memory(v, store.inputs)
    assert not v.flags.writeable and not store.inputs.flags.writeable
    np.testing.assert_array_equal(v.reshape(-1, W, F), x)
    cell, t = store.window_index()
    np.testing.assert_array_equal(store.target[cell, t], y)
    # physical units
    xp, yp = store.windows(ids=[0, 3], normalised=False)
    st = store.stats
    np.testing.assert_allclose(xp, x[[0, 3]] * st["feature_std"] + st["feature_mean"], rtol=1e-6)
    np.testing.assert_allclose(yp, store.denormalise_target(y[[0, 3]]), rtol=1e-6)
    c = store.coords()
    assert set(c) == {"lat", "lon", "y", "x", "area"} and len(c["lat"]) == store.cells


def test_closed_store(store):
    inputs = store.inputs
    store.close()
    assert store.closed
    with pytest.raises(fluxkit.Error, match="closed"):
        store.windows()
    assert np.isfinite(inputs).all()  # the view keeps the memory alive


def test_bad_window_ids(store):
    with pytest.raises(fluxkit.ShapeError, match="out of range"):
        store.windows(ids=[store.n_windows])
    with pytest.raises(fluxkit.ShapeError, match="integer"):
        store.windows(ids=[0.5])
    with pytest.raises(fluxkit.Error, match="layout"):
        store.windows(layout="wide")


def test_predict_matches_the_artifact(ocean_run, store):
    model = fluxkit.load_model(ocean_run / "models" / "xgboost")
    assert model.type == "xgboost" and model.layout == "flat"
    x, y = store.windows(layout=model.layout)
    y_hat = model.predict(x)
    assert y_hat.shape == y.shape
    mse = float(np.mean((y_hat.astype(np.float64) - y) ** 2))
    assert mse == pytest.approx(model.info["best_validation_loss"], rel=1e-4)
    np.testing.assert_array_equal(model.predict(x.astype(np.float64)), y_hat)  # converted
    np.testing.assert_array_equal(model.predict(np.asfortranarray(x)), y_hat)  # copied


def test_bad_model_inputs(ocean_run, store):
    model = fluxkit.load_model(ocean_run / "models" / "mlp")
    x, _ = store.windows(ids=np.arange(5), layout="flat")
    assert x.shape == (5, 44)
    with pytest.raises(fluxkit.ShapeError, match=r"expected input of shape \(n, 44\) \(flat layout\), got \(5, 43\)"):
        model.predict(x[:, :43])
    with pytest.raises(ValueError, match=r"got \(44,\)"):
        model.predict(x[0])
    with pytest.raises(fluxkit.ShapeError, match="expected a float32 array, got dtype int32"):
        model.predict(x.astype(np.int32))
    with pytest.raises(fluxkit.ShapeError, match="numpy array of floats"):
        model.predict("not an array")
    with pytest.raises(fluxkit.Error, match="no attention"):
        model.attention(x)
    with pytest.raises(fluxkit.FileError):
        fluxkit.load_model(ocean_run / "models" / "nope")


def test_train_with_a_callback_and_attention(ocean_run, tmp_path, chdir):
    chdir(ocean_run)
    cfg = fluxkit.Config("run.toml").set("train.models", ["attention_lstm"]).set("train.output_dir",
                                                                              str(tmp_path / "models"))
    seen = []

    def callback(record):
        seen.append(record)
        return record["epoch"] < 2  # stop after the second epoch

    rows = fluxkit.train(cfg, callback=callback)
    assert [r["epoch"] for r in seen] == [1, 2]
    assert all(np.isfinite(r["validation_loss"]) and r["model"] == "attention_lstm" for r in seen)
    assert rows[0]["stop_reason"] == "callback" and rows[0]["epochs"] == 2
    model = fluxkit.load_model(rows[0]["artifact"])
    assert model.info["stop_reason"] == "callback"
    store = fluxkit.SampleStore(ocean_run / "samples" / "validation.nc")
    x, _ = store.windows(ids=np.arange(7))
    y, alpha, beta = model.attention(x)
    assert alpha.shape == (7, store.window, len(store.features)) and beta.shape == (7, store.window)
    np.testing.assert_allclose(alpha.sum(axis=2), 1, rtol=1e-5)
    np.testing.assert_allclose(beta.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(y, model.predict(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(fluxkit.ShapeError, match=r"expected input of shape \(n, 4, 11\)|expected input of shape"):
        model.predict(x[:, :, :-1])


def test_callback_errors_come_back(ocean_run, tmp_path, chdir):
    chdir(ocean_run)
    cfg = fluxkit.Config("run.toml").set("train.models", ["xgboost"]).set("train.output_dir", str(tmp_path))

    def callback(record):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        fluxkit.train(cfg, callback=callback)


def test_import_does_not_load_libtorch(ocean_run):
    code = (
        "import fluxkit, numpy as np\n"
        f"s = fluxkit.SampleStore({str(ocean_run / 'samples' / 'validation.nc')!r})\n"
        f"m = fluxkit.load_model({str(ocean_run / 'models' / 'xgboost')!r})\n"
        "m.predict(s.windows(layout='flat')[0])\n"
        "maps = open('/proc/self/maps').read()\n"
        "print('libtorch' in maps, 'libfluxkit.so' in maps)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_explain_arrays(ocean_run, store):
    """Model.explain: the explainers of `fluxkit explain` on numpy arrays, as an xarray Dataset."""
    assert {"kernel_shap", "tree_shap", "tree_shap_interventional", "timeshap", "attention"} <= set(
        fluxkit.explainers())
    x, _ = store.windows(ids=np.arange(6), layout="flat")
    background, _ = store.windows(ids=np.arange(100, 400, 10), layout="flat")
    xgb = fluxkit.load_model(ocean_run / "models" / "xgboost")
    ds = xgb.explain(x, "tree_shap")
    assert ds.phi.shape == (6, 44) and list(ds.driver.values[:2]) != []
    np.testing.assert_allclose(ds.fx, xgb.predict(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds.phi.sum("column") + ds.base, ds.fx, rtol=1e-5, atol=1e-6)  # efficiency
    inter = xgb.explain(x, "tree_shap_interventional", background=background)
    np.testing.assert_allclose(inter.phi.sum("column") + inter.base, inter.fx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(inter.base, xgb.predict(background).astype(np.float64).mean(), rtol=1e-5)
    # the model keeps its explainers (the trees are read once): a later call answers for its own background
    other = background[::2]
    inter_other = xgb.explain(x, "tree_shap_interventional", background=other)
    np.testing.assert_allclose(inter_other.base, xgb.predict(other).astype(np.float64).mean(), rtol=1e-5)
    assert not np.allclose(inter_other.phi, inter.phi)
    again = xgb.explain(x, "tree_shap_interventional", background=background)
    np.testing.assert_array_equal(again.phi, inter.phi)

    mlp = fluxkit.load_model(ocean_run / "models" / "mlp")
    a = mlp.explain(x[:2], "kernel_shap", background=background, background_kmeans=5, nsamples=600, seed=3)
    b = mlp.explain(x[:2], "kernel_shap", background=background, background_kmeans=5, nsamples=600, seed=3)
    np.testing.assert_array_equal(a.phi, b.phi)  # deterministic for a seed
    np.testing.assert_allclose(a.phi.sum("column") + a.base, a.fx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a.fx, mlp.predict(x[:2]), rtol=1e-5, atol=1e-6)
    assert set(a.lag.values) <= set(range(-1, store.window)) and a.attrs["method"] == "kernel_shap"

    with pytest.raises(fluxkit.ShapeError, match=r"expected the flat layout \(n, 44\).*got \(6, 43\)"):
        mlp.explain(x[:, :43], "kernel_shap", background=background)
    with pytest.raises(fluxkit.Error, match="needs a background"):
        mlp.explain(x, "kernel_shap")
    with pytest.raises(fluxkit.Error, match="tree ensemble"):
        mlp.explain(x, "tree_shap")
    with pytest.raises(fluxkit.Error, match="kernel_shap"):  # the message lists the methods
        mlp.explain(x, "shapley")


def test_an_ensemble_loads_as_its_members_mean(ocean_run, store, tmp_path):
    """fluxkit.load_model on an ensemble's directory predicts and explains the members' mean, as `fluxkit
    reconstruct` and `fluxkit explain` use it; each member stays an artifact of its own."""
    d = tmp_path / "run"
    d.mkdir()
    (d / "run.toml").write_text((ocean_run / "run.toml").read_text())
    for sub in ("samples",):
        os.symlink(ocean_run / sub, d / sub)
    r = subprocess.run([os.environ["FLUXKIT"], "train", "--config", "run.toml", "--set", 'train.models=["xgboost"]',
                        "--set", "train.ensemble=2", "--set", "train.output_dir=ensemble"], cwd=d,
                       capture_output=True, text=True, env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
    assert r.returncode == 0, r.stderr
    ens = fluxkit.load_model(d / "ensemble" / "xgboost")
    assert ens.describe().startswith("mean of 2 members")
    members = [fluxkit.load_model(d / "ensemble" / "xgboost" / f"member_{k}") for k in range(2)]
    x, _ = store.windows(ids=np.arange(20), layout="flat")
    ys = np.array([m.predict(x) for m in members], dtype=float)
    assert np.ptp(ys, axis=0).max() > 1e-4  # the seeds differ
    np.testing.assert_allclose(ens.predict(x), ys.mean(axis=0), rtol=0, atol=1e-6)
    background = x[4:]
    e = ens.explain(x[:4], "tree_shap_interventional", background=background)
    em = [m.explain(x[:4], "tree_shap_interventional", background=background) for m in members]
    np.testing.assert_allclose(e.phi.values, np.mean([m.phi.values for m in em], axis=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(e.phi.sum("column") + e.base, e.fx, rtol=0, atol=1e-5)
