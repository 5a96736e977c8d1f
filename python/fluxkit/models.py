"""Model artifacts (docs/models.md) in Python: load, predict on numpy arrays, attention weights.

    model = fluxkit.load_model("models/attention_lstm")
    x, y = store.windows(layout=model.layout)          # the layout the model takes
    y_hat = model.predict(x)                           # normalised, as y
    y_hat, alpha, beta = model.attention(x)            # attention-LSTM: alpha [B, W, F], beta [B, W]
    xf, _ = store.windows(layout="flat")               # explanations take the flat layout for every model
    ex = model.explain(xf[:8], "kernel_shap", background=xf[::50], background_kmeans=10)   # xarray.Dataset

Inputs are normalised windows as SampleStore.windows() returns them: [B, W, F] for the LSTMs ("sequence"),
[B, W * F_dynamic + F_static] for the MLP and XGBoost ("flat"). Any floating dtype is accepted (converted to
float32); another dtype or shape raises fluxkit.ShapeError naming the expected and the actual shape. Loading a
neural network loads libtorch (once per process); XGBoost its library. Training runs through fluxkit.train()
(configuration-driven, with a per-epoch callback).
"""
from __future__ import annotations

import numpy as np

from ._common import _core, threads_arg

__all__ = ["load_model", "Model", "explainers"]


class Model:
    """A trained model artifact (a directory written by ``fluxkit train`` or ``fluxkit import-weights``), or an
    ensemble's directory (``[train] ensemble``: ensemble.toml and member_<k>/), which predicts, gives attention
    weights and is explained as the mean of its members, the prediction ``fluxkit reconstruct`` makes; its
    ``info`` is member 0's."""

    def __init__(self, artifact):
        self._m = _core.Model(str(artifact))
        self.artifact = str(artifact)

    type = property(lambda self: self._m.type, doc="mlp, lstm, attention_lstm or xgboost.")
    layout = property(lambda self: self._m.layout, doc="'flat' or 'sequence': the input layout.")
    has_attention = property(lambda self: self._m.has_attention)

    @property
    def info(self) -> dict:
        """model.toml: input shape, lead, normalisation statistics, training summary."""
        return self._m.info

    @property
    def input_shape(self) -> tuple:
        """The input shape of one window: (W, F) for sequence models, (columns,) for flat ones."""
        s = self.info["input_shape"]
        return (s["flat_width"],) if self.layout == "flat" else (s["window"], len(s["features"]))

    def describe(self) -> str:
        return self._m.describe()

    def predict(self, x, *, threads: int | None = None, normalised: bool = True) -> np.ndarray:
        """Predictions for the windows x (normalised inputs); normalised=False returns physical units."""
        y = self._m.predict(x, threads_arg(threads))
        if normalised:
            return y
        st = self.info["stats"]
        return (y * st["target_std"] + st["target_mean"]).astype(np.float32)

    def attention(self, x, *, threads: int | None = None):
        """(y, alpha [B, W, F] softmax over features, beta [B, W] softmax over months): attention-LSTM only."""
        return self._m.attention(x, threads_arg(threads))

    def explain(self, x, method: str, *, background=None, background_kmeans: int = 0, nsamples: int = 0,
                seed: int = 42, timeshap_tolerance: float = 0.025, timeshap_baseline: str = "median_event",
                interactions: bool = False, threads: int | None = None):
        """Attributions of the predictions for the samples x with an explainer of ``fluxkit explain``
        (docs/explain.md): ``kernel_shap`` (any model), ``tree_shap`` and ``tree_shap_interventional``
        (XGBoost), ``timeshap`` (LSTMs), ``attention`` (attention-LSTM); ``fluxkit.explainers()`` lists them.

        x and background are in the flat layout [n, W * F_dynamic + F_static] for every model
        (``SampleStore.windows(layout="flat")``; sequence models get each row expanded to their sequence).
        background: the reference rows of the methods that need one (KernelSHAP, interventional TreeSHAP,
        TimeSHAP's baseline), optionally summarised by weighted k-means to ``background_kmeans`` centres.
        nsamples: KernelSHAP coalitions per sample (0 = 2 M + 2048). Deterministic for a seed.

        Returns an xarray.Dataset: phi (sample, column) in normalised target units with the column's driver and
        lag (months; -1 for a static feature) as coordinates, base and fx (sample) with
        sum(phi) = fx - base; attention: alpha (sample, step, feature) and beta (sample, step), step 0 the
        oldest month (its lag: the step_lag coordinate); timeshap: cell (sample, step, feature) and kept
        (sample); tree_shap with interactions: interactions (sample, column, column_j).
        """
        import xarray as xr

        d = _core.explain_arrays(self._m, method, x, background, int(background_kmeans), int(nsamples), int(seed),
                                 float(timeshap_tolerance), timeshap_baseline, bool(interactions),
                                 threads_arg(threads))
        window = self.info["input_shape"]["window"]
        ds = xr.Dataset(
            {"phi": (("sample", "column"), d["phi"]), "base": ("sample", d["base"]), "fx": ("sample", d["fx"])},
            coords={"column": d["players"], "sample": np.arange(d["phi"].shape[0])})
        if len(d["players"]) == len(d["column_drivers"]):
            ds = ds.assign_coords(driver=("column", d["column_drivers"]), lag=("column", d["column_lags"]))
        for name in ("alpha", "cell"):
            if name in d:
                ds[name] = (("sample", "step", "feature"), d[name])
        if "beta" in d:
            ds["beta"] = (("sample", "step"), d["beta"])
        if "step" in ds.dims:  # step 0 is the oldest month of the window: lag W - 1
            ds = ds.assign_coords(step=np.arange(window), step_lag=("step", np.arange(window - 1, -1, -1)))
        if "feature" in ds.dims:
            ds = ds.assign_coords(feature=d["features"])
        if "kept" in d:
            ds["kept"] = ("sample", d["kept"])
        if "interactions" in d:
            ds["interactions"] = (("sample", "column", "column_j"), d["interactions"])
        ds.attrs.update(method=method, model=self.type, artifact=self.artifact,
                        units="normalised target (phi sums to fx - base)")
        return ds

    def __repr__(self):
        return f"<fluxkit.Model {self.type} ({self.layout}, input {self.input_shape}) from {self.artifact}>"


def load_model(artifact) -> Model:
    """Loads a model artifact directory or an ensemble's (as its members' mean); fluxkit.FileError naming the file
    for a missing or bad artifact or member."""
    return Model(artifact)


def explainers() -> list[str]:
    """The explanation methods Model.explain accepts (the registry of `fluxkit explain`)."""
    return list(_core.registered_explainers())
