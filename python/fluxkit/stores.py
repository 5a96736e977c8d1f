"""Sample stores (docs/sample-store.md) as numpy arrays.

    store = fluxkit.SampleStore("data/samples/train.nc")
    x, y = store.windows()                       # sequence layout: x [B, W, F], y [B], normalised float32
    x, y = store.windows(layout="flat")          # flat layout: x [B, W * F_dynamic + F_static] (44 columns)
    x, y = store.windows(ids=[0, 5, 9], normalised=False)   # physical units
    series = store.inputs                        # [cells, months, F] normalised, a zero-copy read-only view

A window i belongs to cell i // windows_per_cell, target month target_start + i % windows_per_cell (the
library's order; ``window_index()`` gives both per window). Arrays returned by ``inputs``, ``target`` and
``sequence_view()`` share the store's memory (read-only) and stay valid after ``close()``; everything else is a
fresh array. A closed store raises fluxkit.Error.
"""
from __future__ import annotations

import numpy as np

from ._common import _core

__all__ = ["SampleStore"]


class SampleStore:
    """A sample store loaded into memory and normalised with its statistics (as training sees it).

    SampleStore(path, cell_begin=0, cell_end=None) loads the cells [cell_begin, cell_end) of the file.
    """

    def __init__(self, path, cell_begin: int = 0, cell_end: int | None = None):
        end = np.iinfo(np.uint64).max if cell_end is None else int(cell_end)
        self._s = _core.SampleStore(str(path), int(cell_begin), end)

    # ---- geometry and metadata
    path = property(lambda self: self._s.path, doc="The store's file.")
    header = property(lambda self: self._s.header,
                      doc="split, experiment, region, years, features, is_static, window, lead, months, ...")
    cells = property(lambda self: self._s.cells, doc="Cells loaded.")
    months = property(lambda self: self._s.months, doc="Length of each cell's monthly series.")
    window = property(lambda self: self._s.window, doc="Months per window (W).")
    n_windows = property(lambda self: self._s.windows, doc="Windows loaded (cells x windows_per_cell).")
    windows_per_cell = property(lambda self: self._s.windows_per_cell)
    flat_width = property(lambda self: self._s.flat_width, doc="Columns of the flat layout.")
    closed = property(lambda self: self._s.closed)

    @property
    def features(self) -> list[str]:
        return self._s.header["features"]

    @property
    def stats(self) -> dict:
        """Normalisation statistics: feature_mean, feature_std (per feature), target_mean, target_std."""
        return self._s.stats

    def close(self) -> None:
        """Frees the store (views already handed out stay valid)."""
        self._s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self.closed:
            return "<fluxkit.SampleStore (closed)>"
        h = self.header
        return (f"<fluxkit.SampleStore {h['split']} {h['experiment']} {h['region']} {h['first_year']}-"
                f"{h['last_year']}: {self.cells} cells, {self.n_windows} windows of {self.window} x "
                f"{len(self.features)} features>")

    # ---- arrays
    @property
    def inputs(self) -> np.ndarray:
        """Normalised inputs [cells, months, F], float32: a read-only view of the store's memory."""
        return self._s.inputs()

    @property
    def target(self) -> np.ndarray:
        """Normalised target [cells, months], float32: a read-only view of the store's memory."""
        return self._s.target()

    def coords(self) -> dict:
        """Cell coordinates: lat, lon (degrees), y, x (grid indices), area (m2; NaN when unknown)."""
        return self._s.coords()

    def window_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(cell, target month index) of every window, in window order."""
        return self._s.window_index()

    def sequence_view(self) -> np.ndarray:
        """Every window in the sequence layout without copying: a read-only strided view
        [cells, windows_per_cell, W, F] of ``inputs`` (window i is [i // wpc, i % wpc])."""
        h = self.header
        x = self.inputs
        start = h["target_start"] - h["lead"] - (self.window - 1)
        wpc = self.windows_per_cell
        c, t, f = x.shape
        s0, s1, s2 = x.strides
        base = x[:, start:, :] if c > 0 else x
        return np.lib.stride_tricks.as_strided(base, shape=(c, wpc, self.window, f), strides=(s0, s1, s1, s2),
                                               writeable=False)

    def windows(self, ids=None, layout: str = "sequence", normalised: bool = True):
        """(x, y) of the windows ``ids`` (all when None; a 1-D integer array), float32.

        layout "sequence": x [B, W, F]; "flat": x [B, W * F_dynamic + F_static] (the dynamic features of the W
        months in time order, then the static features once). normalised=False returns physical units
        (x * std + mean per feature, y * target_std + target_mean).
        """
        x, y = self._s.gather(None if ids is None else np.asarray(ids), layout)
        if normalised:
            return x, y
        st = self.stats
        mean = st["feature_mean"]
        std = st["feature_std"]
        if layout == "flat":
            mean, std = self._flat_columns(mean), self._flat_columns(std)
        x = (x * std + mean).astype(np.float32)
        y = (y * st["target_std"] + st["target_mean"]).astype(np.float32)
        return x, y

    def _flat_columns(self, per_feature: np.ndarray) -> np.ndarray:
        is_static = np.asarray(self.header["is_static"], dtype=bool)
        per_feature = np.asarray(per_feature)
        return np.concatenate([np.tile(per_feature[~is_static], self.window), per_feature[is_static]])

    def flat_column_names(self) -> list[str]:
        """Names of the flat layout's columns: '<feature>[t-k]' for the dynamic ones, then the static ones."""
        is_static = self.header["is_static"]
        names = []
        for w in range(self.window):
            lag = self.window - 1 - w
            names += [f"{f}[t-{lag}]" if lag else f"{f}[t]" for f, s in zip(self.features, is_static) if not s]
        names += [f for f, s in zip(self.features, is_static) if s]
        return names

    def denormalise_target(self, z):
        """Normalised target values to physical units."""
        st = self.stats
        return np.asarray(z) * st["target_std"] + st["target_mean"]
