"""Reconstruction caches and evaluation outputs as xarray Datasets and pandas DataFrames: thin helpers over the
files (CF netCDF and CSV) that ``fluxkit reconstruct`` and ``fluxkit evaluate`` write (docs/reconstruction.md,
docs/evaluation.md).

    ds = fluxkit.open_cache("reconstruction/experiment_1/global/mlp_global_reconstruction_2018_experiment_1.nc")
    caches = fluxkit.open_caches("reconstruction", model="mlp")     # {(model, experiment, region, year): Dataset}
    tables = fluxkit.evaluation_tables("evaluation")               # {"metrics": DataFrame, ...}
"""
from __future__ import annotations

import re
from pathlib import Path

__all__ = ["open_cache", "open_caches", "evaluation_tables", "open_explanations", "explanation_importance"]

_CACHE = re.compile(r"^(?P<model>.+)_(?P<region>[^_]+)_reconstruction_(?P<year>\d{4})_(?P<experiment>.+)\.nc$")


def open_cache(path, **kwargs):
    """One reconstruction cache as an xarray Dataset (loaded into memory; the file is closed)."""
    import xarray as xr

    with xr.open_dataset(path, **kwargs) as ds:
        return ds.load()


def _caches(directory):
    for p in sorted(Path(directory).rglob("*_reconstruction_*.nc")):
        m = _CACHE.match(p.name)
        if m:
            yield (m["model"], m["experiment"], m["region"], int(m["year"])), p


def open_caches(directory, model=None, experiment=None, region=None, year=None) -> dict:
    """Every cache under ``directory`` ([reconstruct] output_dir) matching the filters, as
    {(model, experiment, region, year): Dataset}. Region names containing '_' are not split from the model:
    filter on the model name."""
    out = {}
    for key, p in _caches(directory):
        if any(v is not None and v != k for v, k in zip((model, experiment, region, year), key)):
            continue
        out[key] = open_cache(p)
    return out


def evaluation_tables(directory) -> dict:
    """Every CSV table of an evaluation directory ([evaluate] output_dir) as a pandas DataFrame, keyed by the file
    name without .csv (e.g. "metrics", "ensemble_calibration")."""
    import pandas as pd

    return {p.stem: pd.read_csv(p) for p in sorted(Path(directory).glob("*.csv"))}


def open_explanations(directory, model=None, method=None) -> dict:
    """The per-sample explanation files of an [explain] output_dir as xarray Datasets (phi, base value, f(x),
    inputs, ...; docs/explain.md), keyed by (model, file name without .nc), e.g.
    ("mlp", "kernel_shap_experiment_1_north_atlantic_2018_07"); `model` and `method` filter."""
    import xarray as xr

    out = {}
    for p in sorted(Path(directory).glob("*/*.nc")):
        if model is not None and p.parent.name != model:
            continue
        if method is not None and _explanation_method(p.stem) != method:
            continue
        out[(p.parent.name, p.stem)] = xr.open_dataset(p)
    return out


_METHODS_LONGEST_FIRST = ("tree_shap_interventional", "kernel_shap", "tree_shap", "timeshap", "attention")


def _explanation_method(stem):
    return next((m for m in _METHODS_LONGEST_FIRST if stem.startswith(m + "_")), None)


def explanation_importance(directory):
    """importance.csv of an [explain] output_dir (mean |phi| per model, method, region, month, driver and lag,
    with bootstrap intervals) as a pandas DataFrame."""
    import pandas as pd

    path = Path(directory) / "importance.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no importance table (run fluxkit explain first)")
    return pd.read_csv(path)
