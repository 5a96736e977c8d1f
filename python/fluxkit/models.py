"""Model artifacts (docs/models.md) in Python: load, predict on numpy arrays, attention weights.

    model = fluxkit.load_model("models/attention_lstm")
    x, y = store.windows(layout=model.layout)          # the layout the model takes
    y_hat = model.predict(x)                           # normalised, as y
    y_hat, alpha, beta = model.attention(x)            # attention-LSTM: alpha [B, W, F], beta [B, W]

Inputs are normalised windows as SampleStore.windows() returns them: [B, W, F] for the LSTMs ("sequence"),
[B, W * F_dynamic + F_static] for the MLP and XGBoost ("flat"). Any floating dtype is accepted (converted to
float32); another dtype or shape raises fluxkit.ShapeError naming the expected and the actual shape. Loading a
neural network loads libtorch (once per process); XGBoost its library. Training runs through fluxkit.train()
(configuration-driven, with a per-epoch callback).
"""
from __future__ import annotations

import numpy as np

from ._common import _core, threads_arg

__all__ = ["load_model", "Model"]


class Model:
    """A trained model artifact (a directory written by ``fluxkit train`` or ``fluxkit import-weights``)."""

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

    def __repr__(self):
        return f"<fluxkit.Model {self.type} ({self.layout}, input {self.input_shape}) from {self.artifact}>"


def load_model(artifact) -> Model:
    """Loads a model artifact directory; fluxkit.FileError naming the file for a missing or bad artifact."""
    return Model(artifact)
