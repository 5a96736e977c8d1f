#!/usr/bin/env python3
"""Predict a few cells of a sample store with a trained model, in physical units, explain the predictions
(which drivers, at which lags) and show where an attention-LSTM looks.

    PYTHONPATH=build/python /usr/bin/python3 examples/predict.py demo/models/mlp/member_0 demo/samples/validation.nc
"""
import sys

import numpy as np

import fluxkit

artifact = sys.argv[1] if len(sys.argv) > 1 else "demo/models/xgboost"
store_path = sys.argv[2] if len(sys.argv) > 2 else "demo/samples/validation.nc"

model = fluxkit.load_model(artifact)
store = fluxkit.SampleStore(store_path)
print(model)

# The windows of the first three cells.
ids = np.arange(min(3 * store.windows_per_cell, store.n_windows))
x, y = store.windows(ids=ids, layout=model.layout)
y_hat = model.predict(x)
truth, pred = store.denormalise_target(y), store.denormalise_target(y_hat)
print(f"{len(ids)} windows: RMSE {np.sqrt(np.mean((pred - truth) ** 2)):.4g} {store.header['target_units']}")
cell, month = store.window_index()
for i in ids[:: store.windows_per_cell]:
    print(f"  cell {cell[i]} month {month[i]}: truth {truth[i]:.4g}, predicted {pred[i]:.4g}")

# Attributions of the first cell's predictions: TreeSHAP for XGBoost, KernelSHAP (against a k-means summary of
# other windows) for the networks; mean |phi| per driver over the window's lags.
xf, _ = store.windows(ids=ids[: store.windows_per_cell], layout="flat")
if model.type == "xgboost":
    ex = model.explain(xf, "tree_shap")
else:
    background, _ = store.windows(ids=np.arange(0, store.n_windows, max(1, store.n_windows // 200)), layout="flat")
    ex = model.explain(xf[:4], "kernel_shap", background=background, background_kmeans=10, nsamples=1000)
by_driver = abs(ex.phi).groupby("driver").sum().mean("sample").to_series().sort_values(ascending=False)
print("drivers by mean |phi| (normalised units):", ", ".join(f"{d} {v:.3f}" for d, v in by_driver.head(4).items()))

if model.has_attention:
    _, alpha, beta = model.attention(x)
    top = np.argsort(alpha.mean(axis=(0, 1)))[::-1][:3]
    print("mean attention over months (oldest first):", np.round(beta.mean(axis=0), 3))
    print("features attended most:", [store.features[k] for k in top])
