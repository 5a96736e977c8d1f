"""What every figure family shares: the palette, labels and units, the record of what was drawn or skipped,
saving, and reading fluxkit's files (caches, tables) with clear messages when they are missing.

Figure functions take a `Run` (the configuration and its files) and return a list of `Figure`s (a matplotlib
figure plus what it shows) or raise `Missing` naming what is absent; the driver saves them and records
skipped items. Nothing here downloads anything.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from ..runconfig import RunConfig, RunFiles, slug  # noqa: E402

# ---- style ---------------------------------------------------------------------------------------------------

# Okabe & Ito's colour-blind-safe palette. Simulation is always black; each model keeps its colour everywhere.
SIMULATION_COLOR = "#000000"
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442", "#999999"]
KNOWN_MODEL_COLORS = {"mlp": "#E69F00", "lstm": "#56B4E9", "attention_lstm": "#009E73", "xgboost": "#D55E00"}
MODEL_LABELS = {"mlp": "MLP", "lstm": "LSTM", "attention_lstm": "Attention-LSTM", "xgboost": "XGBoost"}
MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December"]
MONTH_ABBR = [m[:3] for m in MONTH_NAMES]

# Colour maps (all perceptually ordered and readable with the common colour-vision deficiencies).
FLUX_CMAP = "RdBu_r"  # flux, diverging around zero (positive = into the ocean)
DIFF_CMAP = "BrBG"  # reconstructed - simulated, as the seed, centred on zero
RMSE_CMAP = "viridis"
DENSITY_CMAP = "viridis"

plt.rcParams.update({
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": False,
})


def model_color(model: str, models: list[str]) -> str:
    """The colour of a model: fixed for the four built-in types, else by position among the models, skipping
    the colours the built-in types use when they are present."""
    if model in KNOWN_MODEL_COLORS:
        return KNOWN_MODEL_COLORS[model]
    taken = {KNOWN_MODEL_COLORS[m] for m in models if m in KNOWN_MODEL_COLORS}
    free = [c for c in OKABE_ITO if c not in taken]
    others = [m for m in models if m not in KNOWN_MODEL_COLORS]
    i = others.index(model) if model in others else len(others)
    return free[i % len(free)]


def model_label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def units_tex(units: str) -> str:
    """'mol m-2 yr-1' -> 'mol m$^{-2}$ yr$^{-1}$' (exponents raised, the rest unchanged)."""
    if not units:
        return "unknown units"
    return re.sub(r"(?<=[A-Za-z])(-?\d+)\b", lambda m: "$^{" + m.group(1) + "}$", units)


def flux_label(target: str, units: str, prefix: str = "") -> str:
    name = "CO$_2$ flux" if target == "co2flux_pre" else target.replace("_", " ")
    return f"{prefix}{name} ({units_tex(units)})".strip()


def period_label(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


# ---- records ---------------------------------------------------------------------------------------------------


class Missing(Exception):
    """An input a figure needs is absent or unusable; the message names it (and what to run)."""


@dataclass
class Figure:
    """One figure: its name (file stem), family, what it shows, and the matplotlib figure."""

    name: str
    family: str
    title: str
    fig: object
    caption: str = ""
    region: str = ""
    experiment: str = ""
    models: list = field(default_factory=list)
    files: list = field(default_factory=list)  # filled when saved


@dataclass
class Skipped:
    family: str
    what: str
    reason: str


@dataclass
class Outcome:
    figures: list = field(default_factory=list)
    skipped: list = field(default_factory=list)


def save(fig: Figure, out_dir: Path, formats: list[str], dpi: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        final = out_dir / f"{fig.name}.{fmt}"
        tmp = out_dir / f".{fig.name}.{os.getpid()}.tmp.{fmt}"
        # PNG metadata without a date keeps reruns byte-identical.
        meta = {"Software": "fluxkit (matplotlib)"} if fmt == "png" else None
        if fmt == "pdf":
            meta = {"Creator": "fluxkit (matplotlib)", "CreationDate": None}
        if fmt == "svg":
            meta = {"Creator": "fluxkit (matplotlib)", "Date": None}
        fig.fig.savefig(tmp, dpi=dpi, format=fmt, metadata=meta)
        os.replace(tmp, final)
        paths.append(final)
    plt.close(fig.fig)
    fig.files = [str(p) for p in paths]
    return paths


# ---- reading fluxkit's files -------------------------------------------------------------------------------------


class Run:
    """A configuration's run: its files, the evaluated selection, and cached reads of the tables."""

    def __init__(self, cfg: RunConfig, files: RunFiles | None = None):
        self.cfg = cfg
        self.files = files or RunFiles(cfg)
        self._tables: dict[str, pd.DataFrame] = {}
        self._units: str | None = None

    # selection
    @property
    def models(self):
        return self.files.models

    @property
    def experiments(self):
        return self.files.experiments

    @property
    def regions(self):
        return self.files.regions

    @property
    def years(self):
        return self.files.years

    def color(self, model):
        return model_color(model, self.models)

    def region_display(self, region):
        return self.cfg.region(region).display

    def experiment_label(self, experiment):
        return self.cfg.experiment_label(experiment)

    @property
    def target(self) -> str:
        return self.cfg.get("data.target")

    # tables
    def table(self, name: str, required_columns: tuple = ()) -> pd.DataFrame:
        """An evaluation table; Missing names the file and the command that writes it."""
        if name not in self._tables:
            path = self.files.table(name)
            if not path.exists():
                raise Missing(f"evaluation table {path} does not exist (run `fluxkit evaluate --config "
                              f"{self.cfg.source}`)")
            try:
                df = pd.read_csv(path, keep_default_na=True)
            except Exception as e:  # noqa: BLE001 - any parse problem is reported with the file name
                raise Missing(f"evaluation table {path} cannot be read: {e}") from e
            missing = [c for c in required_columns if c not in df.columns]
            if missing:
                raise Missing(f"evaluation table {path} lacks the columns {', '.join(missing)}")
            self._tables[name] = df
        return self._tables[name]

    def rows(self, name: str, required_columns: tuple = (), **where) -> pd.DataFrame:
        """The rows of a table for one selection; Missing when there are none (tables of another config)."""
        df = self.table(name, required_columns + tuple(where))
        sel = np.ones(len(df), dtype=bool)
        for k, v in where.items():
            sel &= df[k].astype(str).to_numpy() == str(v)
        out = df[sel]
        if out.empty:
            what = ", ".join(f"{k}={v}" for k, v in where.items())
            raise Missing(f"{self.files.table(name)} has no rows for {what}: the evaluation tables come from "
                          f"another configuration (run `fluxkit evaluate --config {self.cfg.source}`)")
        return out

    def units(self) -> str:
        """The target's units, from the evaluation field files or the caches (first found)."""
        if self._units is None:
            self._units = ""
            for m in self.models:
                for e in self.experiments:
                    for r in self.regions:
                        p = self.files.error_field(m, e, r)
                        if p.exists():
                            with xr.open_dataset(p) as ds:
                                u = ds["simulated_mean"].attrs.get("units", "")
                            if u:
                                self._units = u
                                return u
            first, last = self.years
            for m in self.models:
                for e in self.experiments:
                    for r in self.regions:
                        for y in range(last, first - 1, -1):
                            p = self.files.cache(m, e, r, y)
                            if p.exists():
                                with xr.open_dataset(p) as ds:
                                    self._units = ds[self.target].attrs.get("units", "")
                                return self._units
        return self._units

    def open_cache(self, model: str, experiment: str, region: str, year: int) -> xr.Dataset:
        p = self.files.cache(model, experiment, region, year)
        if not p.exists():
            raise Missing(f"reconstruction cache {p} does not exist (model {model}, {experiment}, region "
                          f"{region}, {year}; run `fluxkit reconstruct --config {self.cfg.source}`)")
        ds = xr.open_dataset(p)
        for v in (self.target, f"reconstructed_{self.target}", "nav_lat", "nav_lon"):
            if v not in ds:
                ds.close()
                raise Missing(f"reconstruction cache {p} has no variable {v}")
        return ds

    def open_field(self, model: str, experiment: str, region: str) -> xr.Dataset:
        p = self.files.error_field(model, experiment, region)
        if not p.exists():
            raise Missing(f"error field {p} does not exist (run `fluxkit evaluate --config "
                          f"{self.cfg.source}`)")
        return xr.open_dataset(p)


def bottom_legend(fig, handles, labels=None, ncol=6):
    """A figure-wide legend in a strip reserved below the panels (constrained layout keeps out of it)."""
    labels = labels if labels is not None else [h.get_label() for h in handles]
    rows = -(-len(handles) // max(ncol, 1))
    strip = min(0.3, (0.22 * rows + 0.12) / fig.get_figheight())
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, strip, 1, 1 - strip))
    return fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, frameon=False,
                      fontsize=8)


def figure_name(*parts: str) -> str:
    return slug("_".join(p for p in parts if p))
