"""Agreement and speed of `fluxkit explain` against the Python `shap` package, on the same model and inputs.

Reads a `fluxkit explain` file of an XGBoost model (its samples, background and attributions) and runs the
Python package on the same booster (the artifact's model.json), samples and weighted background:

    PYTHONPATH=<shap source>:<slicer source> /usr/bin/python3 bench/explain_vs_python.py \
        --file EXPLAIN.nc --booster MODELS/xgboost/model.json [--kernel-file KERNEL.nc]

EXPLAIN.nc is a `tree_shap_interventional` (or `kernel_shap`) file; for KernelSHAP the Python side uses the
same number of coalitions (2 M + 2048) and l1_reg = 0 (feature selection off, as fluxkit). Prints the maximum
absolute difference, the correlation of the attributions, the agreement of the driver ranking and the time per
sample of both (fluxkit's from its log). Not a test: the Python package is not a dependency.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import xarray as xr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--booster", required=True)
    ap.add_argument("--samples", type=int, default=0, help="first N samples only (0 = all)")
    a = ap.parse_args()

    import shap
    import xgboost as xgb

    ds = xr.open_dataset(a.file)
    method = ds.attrs["method"]
    x = ds["inputs"].values.astype(np.float32)
    phi = ds["phi"].values
    if a.samples:
        x, phi = x[: a.samples], phi[: a.samples]
    bg = ds["background"].values.astype(np.float32)
    w = ds["background_weight"].values
    booster = xgb.Booster(model_file=a.booster)
    booster.set_param({"nthread": 2})

    t0 = time.perf_counter()
    if method == "tree_shap_interventional":
        # the weighted background as repeated rows is not possible in general; the TreeExplainer takes rows with
        # equal weights, so this comparison needs an equal-weight background ([explain] background_kmeans = 0)
        if not np.allclose(w, w[0]):
            raise SystemExit("interventional comparison needs an equal-weight background (background_kmeans = 0)")
        e = shap.TreeExplainer(booster, data=bg, feature_perturbation="interventional")
        ref = e.shap_values(x, check_additivity=False)
    elif method == "kernel_shap":
        from shap.utils._legacy import DenseData

        f = lambda z: booster.inplace_predict(z.astype(np.float32))  # noqa: E731
        data = DenseData(bg, [str(i) for i in range(bg.shape[1])], None, w)
        e = shap.KernelExplainer(f, data)
        ref = e.shap_values(x, nsamples=2 * x.shape[1] + 2048, l1_reg=0, silent=True)
    else:
        raise SystemExit(f"no Python counterpart for method {method}")
    seconds = time.perf_counter() - t0
    ref = np.asarray(ref)
    diff = np.abs(ref - phi)
    corr = np.corrcoef(ref.ravel(), phi.ravel())[0, 1]
    rank_f = np.argsort(-np.abs(phi).mean(axis=0))
    rank_p = np.argsort(-np.abs(ref).mean(axis=0))
    top = 10
    print(f"method {method}: {x.shape[0]} samples, {x.shape[1]} players, background {bg.shape[0]} rows")
    print(f"max |phi_fluxkit - phi_shap| = {diff.max():.3g} (largest |phi| {np.abs(ref).max():.3g}); "
          f"mean {diff.mean():.3g}; correlation {corr:.6f}")
    print(f"top-{top} players by mean |phi| in common: {len(set(rank_f[:top]) & set(rank_p[:top]))}/{top}")
    print(f"shap {shap.__version__}: {seconds / x.shape[0]:.4f} s per sample")


if __name__ == "__main__":
    main()
