"""The Lagrangian transport operator (docs/transport.md) as a ``scipy.sparse.linalg.LinearOperator``.

    H = fluxkit.TransportOperator("transport.rc", "observations.tar.gz", packed="operator.fkop")
    y = H.matvec(x)          # forward: fluxes -> concentrations at the observations (ppm)
    g = H.rmatvec(dy)        # adjoint: departures -> flux sensitivities
    x_hat = scipy.sparse.linalg.lsqr(H, y_obs)[0]

Layout of the flat flux vector x (float64, umol m-2 s-1): the rc's optimized categories
(emissions.<cat>.optimize, rc order) x its adjoint time axis (time.start .. time.end by emissions.*.interval)
x its grid (region.*), row-major: x[((c * nt + t) * nlat + i) * nlon + j]. ``H.to_fields(x)`` is the view
[category, time, lat, lon], ``H.from_fields(f)`` the inverse, ``H.to_dataset(x)`` an xarray Dataset and
``H.vector_from_flux_file(path)`` reads a LUMIA flux file onto the vector.

The observation vector y has one value per row of the obsdb's observations table (its order). forward gives
y[r] = the sum over the categories of the row's foreground; rows the transport skips (no footprint path or time,
no footprint in their file, a footprint slice outside the rc's period unless truncate=True) are 0 and the
adjoint ignores them, so H and H^T are exact transposes (``transported`` marks the rows with a footprint).

Footprints are read once: from the packed operator (packed=...), else from the operator cache (packed on first
use under cache_dir, or <path.run>/fluxkit-operators when the rc has path.run), else from the footprint files at
every call (use_cache=False without path.run). The products run in C++ without the GIL, on ``threads`` threads
(every core by default); their results do not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._common import _core, threads_arg

__all__ = ["TransportOperator"]


class TransportOperator(LinearOperator):
    """H: fluxes (flat vector, see the module's documentation) -> observations; H^T the adjoint."""

    def __init__(self, rc, db, *, packed=None, cache_dir=None, use_cache: bool = True, footprint_format: str = "",
                 truncate: bool = False, check_grid: bool = True, threads: int | None = None):
        self._t = _core.Transport(str(rc), str(db), str(packed or ""), str(cache_dir or ""), use_cache,
                                  footprint_format, truncate, check_grid, threads_arg(threads))
        super().__init__(dtype=np.float64, shape=(self._t.rows, self._t.columns))

    # ---- the products
    def forward(self, x, out=None) -> np.ndarray:
        """y = H x. x: shape (columns,) of floats; out: an optional contiguous float64 array of rows values."""
        return self._t.forward(x, out)

    def adjoint(self, y) -> np.ndarray:
        """x = H^T y. y: shape (rows,) of floats (NaN only on rows that are not transported)."""
        return self._t.adjoint(y)

    def _matvec(self, x):
        return self._t.forward(x, None)

    def _rmatvec(self, y):
        return self._t.adjoint(y)

    def _adjoint(self):
        return _Adjoint(self)

    # ---- layout
    categories = property(lambda self: self._t.categories, doc="The optimized categories (rc order).")
    lats = property(lambda self: np.asarray(self._t.lats), doc="Cell centres (degrees north).")
    lons = property(lambda self: np.asarray(self._t.lons), doc="Cell centres (degrees east).")
    region = property(lambda self: self._t.region)
    source = property(lambda self: self._t.source, doc="Where the footprints come from.")
    transported = property(lambda self: self._t.transported,
                           doc="Per observation row: True when it has a footprint path and a time.")
    kernel_seconds = property(lambda self: self._t.kernel_seconds,
                              doc="Seconds spent in the C++ forward/adjoint so far (wall time, GIL released).")
    calls = property(lambda self: self._t.calls, doc="forward/adjoint calls so far.")

    @property
    def times(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of each time step, numpy datetime64[s] (UTC)."""
        return (self._t.times_start.astype("datetime64[s]"), self._t.times_end.astype("datetime64[s]"))

    @property
    def fields_shape(self) -> tuple[int, int, int, int]:
        """(categories, time steps, lats, lons)."""
        return (len(self.categories), len(self._t.times_start), len(self._t.lats), len(self._t.lons))

    def to_fields(self, x) -> np.ndarray:
        """The flat vector as [category, time, lat, lon] (a view when x is contiguous)."""
        x = np.asarray(x)
        if x.shape != (self.shape[1],):
            raise _core.ShapeError(f"to_fields: expected shape ({self.shape[1]},), got {x.shape}")
        return x.reshape(self.fields_shape)

    def from_fields(self, fields) -> np.ndarray:
        """[category, time, lat, lon] (or [time, lat, lon] for one category) to the flat vector."""
        f = np.asarray(fields, dtype=np.float64)
        expected = self.fields_shape
        if f.shape == expected[1:] and expected[0] == 1:
            f = f[None]
        if f.shape != expected:
            raise _core.ShapeError(f"from_fields: expected shape {expected}, got {f.shape}")
        return np.ascontiguousarray(f).reshape(-1)

    def to_dataset(self, x, name: str = "emis"):
        """The flat vector as an xarray Dataset: one variable <name>_<category> [time, lat, lon] per category,
        with time (step start), time_end, lat and lon coordinates."""
        import xarray as xr

        f = self.to_fields(np.asarray(x, dtype=np.float64))
        start, end = self.times
        ds = xr.Dataset(coords={"time": start, "lat": self.lats, "lon": self.lons})
        ds["time_end"] = ("time", end)
        for c, cat in enumerate(self.categories):
            ds[f"{name}_{cat}"] = (("time", "lat", "lon"), f[c], {"units": "umol m-2 s-1", "category": cat})
        return ds

    def vector_from_flux_file(self, path) -> np.ndarray:
        """The optimized categories of a LUMIA flux file (e.g. the forward's --emis) as the flat vector. The file
        must hold each category on this operator's time axis and grid: fluxkit.ShapeError otherwise."""
        f = _core.read_flux_file(str(path))
        parts = []
        for cat in self.categories:
            if cat not in f:
                raise _core.FileError(f"{path}: no group '{cat}' (categories in the file: {', '.join(f)})")
            g = f[cat]
            if g["emis"].shape != self.fields_shape[1:]:
                raise _core.ShapeError(f"{path}: category '{cat}': emis has shape {g['emis'].shape}, the operator "
                                       f"expects {self.fields_shape[1:]} (time, lat, lon)")
            if not (np.array_equal(g["times_start"], self._t.times_start)
                    and np.array_equal(g["times_end"], self._t.times_end)):
                raise _core.ShapeError(f"{path}: category '{cat}': its time axis is not the rc's")
            parts.append(g["emis"].reshape(-1))
        return np.concatenate(parts)

    def observations(self):
        """The obsdb's observations table (as read) as a pandas DataFrame of strings, one row per y value."""
        import pandas as pd

        t = self._t.observations()
        return pd.DataFrame(t["rows"], columns=t["columns"],
                            index=pd.Index(t["index"], name=t["index_name"] or None))

    def __repr__(self):
        n, m = self.shape
        c, t, i, j = self.fields_shape
        return (f"<fluxkit.TransportOperator {n} observations x {m} fluxes ({c} categories x {t} steps x {i} x {j}); "
                f"{self.source}>")


class _Adjoint(LinearOperator):
    def __init__(self, op: TransportOperator):
        self._op = op
        super().__init__(dtype=np.float64, shape=(op.shape[1], op.shape[0]))

    def _matvec(self, y):
        return self._op._t.adjoint(y)

    def _rmatvec(self, x):
        return self._op._t.forward(x, None)

    def _adjoint(self):
        return self._op
