"""The pipeline configuration as the Python layer sees it, and where a run's files are.

fluxkit's C++ program owns the configuration: `fluxkit figures`/`fluxkit report` validate the TOML file, apply
`--set` and flags, and hand Python the *effective* configuration (every key, with its default). Run on its own
(`python3 -m fluxkit.figures --config pipeline.toml`), Python reads the file itself and fills the keys it needs
from DEFAULTS below, which mirror the C++ declarations (a test compares them with `fluxkit config show`).

Paths in the configuration are relative to the current directory, as for fluxkit.
"""
from __future__ import annotations

import copy
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# The defaults of the keys the Python layer reads (= the C++ declarations; tests/python checks they agree).
DEFAULTS: dict[str, dict] = {
    "run": {"threads": 0, "seed": 42, "verbosity": "info"},
    "data": {
        "root": "data/synth/ocean",
        "file_pattern": "{experiment}/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}.nc",
        "experiment_tags": ["experiment_1=hind", "experiment_5=wind"],
        "target": "co2flux_pre",
    },
    "prepare": {"output_dir": "data/samples", "custom_regions": []},
    "train": {"models": ["mlp", "lstm", "attention_lstm", "xgboost"], "output_dir": "models"},
    "reconstruct": {
        "models": ["mlp", "lstm", "attention_lstm", "xgboost"],
        "experiments": ["experiment_1"],
        "regions": ["global", "north_atlantic", "southern_ocean"],
        "years": [2009, 2018],
        "output_dir": "reconstruction",
    },
    "evaluate": {
        "caches_dir": "reconstruction",
        "models": ["mlp", "lstm", "attention_lstm", "xgboost"],
        "experiments": ["experiment_1"],
        "regions": ["global", "north_atlantic", "southern_ocean"],
        "years": [2009, 2018],
        "output_dir": "evaluation",
        "custom_regions": [],
    },
    "explore": {
        "experiments": ["experiment_1", "experiment_5"],
        "regions": ["north_atlantic", "southern_ocean"],
        "years": [1958, 2018],
        "months": [1, 7],
        "output_dir": "exploration",
    },
    "figures": {
        "output_dir": "figures",
        "months": [1, 7],
        "map_year": 0,
        "formats": ["png"],
        "dpi": 150,
        "families": [],
        "scatter_bins": 150,
    },
    "report": {"output_dir": "report", "title": "fluxkit run report"},
    "ocean_transport": {"output_dir": "ocean_transport", "model": "mlp", "experiment": "experiment_1"},
    "explain": {"output_dir": "explanations"},
    "tune": {"output_dir": "tuning", "models": ["mlp", "lstm", "attention_lstm", "xgboost"]},
}

# Built-in regions: config name -> (directory name in file paths, display name), as the C++ regions.
BUILTIN_REGIONS = {
    "global": ("global", "Global"),
    "north_atlantic": ("North_Atlantic", "North Atlantic"),
    "southern_ocean": ("Southern_Ocean", "Southern Ocean"),
    "arctic": ("Arctic", "Arctic Ocean"),
    "equatorial_pacific": ("EQ_Pacific", "Equatorial Pacific"),
}

# Experiment labels (the seed called them "Simulation 1", the hindcast, and "Simulation 2", the wind experiment).
EXPERIMENT_LABELS = {"experiment_1": "experiment_1 (hindcast)", "experiment_5": "experiment_5 (wind)"}


class ConfigError(Exception):
    """A configuration the Python layer cannot use (unreadable file, wrong type)."""


@dataclass
class RegionInfo:
    name: str  # config name: north_atlantic
    dir_name: str  # North_Atlantic
    display: str  # North Atlantic


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@dataclass
class RunConfig:
    """The effective configuration (file values over DEFAULTS) plus where it came from."""

    values: dict
    source: str  # the file the user gave (for messages and the report)
    text: str  # the TOML text shown in the report
    effective: bool = False  # True when the text is fluxkit's effective configuration

    def section(self, name: str) -> dict:
        node = self.values
        for part in name.split("."):
            node = node.get(part, {})
        return node

    def get(self, dotted: str):
        section, key = dotted.rsplit(".", 1)
        sec = self.section(section)
        if key not in sec:
            raise ConfigError(f"{self.source}: no key {dotted}")
        return sec[key]

    # ---- regions -----------------------------------------------------------------------------------------
    def region(self, name: str) -> RegionInfo:
        if name in BUILTIN_REGIONS:
            d, disp = BUILTIN_REGIONS[name]
            return RegionInfo(name, d, disp)
        for spec in list(self.section("evaluate").get("custom_regions", [])) + list(
            self.section("prepare").get("custom_regions", [])
        ):
            custom = spec.split(":", 1)[0].strip()
            if custom == name:
                return RegionInfo(name, name, name.replace("_", " "))
        # Unknown: treat as a custom region whose directory is its name (fluxkit would have refused it earlier).
        return RegionInfo(name, name, name.replace("_", " "))

    def experiment_label(self, experiment: str) -> str:
        return EXPERIMENT_LABELS.get(experiment, experiment)


def load(path: str | os.PathLike, overrides: list[str] | None = None, source: str | None = None) -> RunConfig:
    """Reads a pipeline TOML file (or fluxkit's effective configuration) and applies `section.key=value`
    overrides (values in TOML syntax; anything else is a string, as fluxkit's --set). `source` is the name
    messages use (fluxkit passes the user's file when `path` is its effective configuration)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the configuration {p}: {e.strerror}") from e
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from e
    effective = text.startswith("# fluxkit effective configuration")
    merged = _merge(DEFAULTS, values)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected section.key=value")
        key, raw = item.split("=", 1)
        if "." not in key:
            raise ConfigError(f"--set {item}: expected section.key=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        section, k = key.rsplit(".", 1)
        node = merged
        for part in section.split("."):
            node = node.setdefault(part, {})
        node[k] = value
    _check_types(merged, str(p))
    return RunConfig(values=merged, source=source or str(p), text=text, effective=effective)


def _check_types(values: dict, source: str) -> None:
    for section, keys in DEFAULTS.items():
        sec = values.get(section, {})
        for key, default in keys.items():
            v = sec.get(key)
            ok = (
                isinstance(v, bool) if isinstance(default, bool)
                else isinstance(v, int) and not isinstance(v, bool) if isinstance(default, int)
                else isinstance(v, str) if isinstance(default, str)
                else isinstance(v, list)
            )
            if not ok:
                raise ConfigError(f"{source}: {section}.{key} has the wrong type ({type(v).__name__})")


# ---- where a run's files are --------------------------------------------------------------------------------


@dataclass
class RunFiles:
    """Paths of the files fluxkit wrote for a configuration (nothing is opened here)."""

    cfg: RunConfig
    cwd: Path = field(default_factory=Path.cwd)

    def _p(self, s: str) -> Path:
        return (self.cwd / s) if not os.path.isabs(s) else Path(s)

    # evaluation
    @property
    def evaluation_dir(self) -> Path:
        return self._p(self.cfg.get("evaluate.output_dir"))

    def table(self, name: str) -> Path:
        return self.evaluation_dir / name

    def error_field(self, model: str, experiment: str, region: str) -> Path:
        return self.evaluation_dir / "fields" / f"{model}_{experiment}_{region}_errors.nc"

    # caches
    @property
    def caches_dir(self) -> Path:
        return self._p(self.cfg.get("evaluate.caches_dir"))

    def cache(self, model: str, experiment: str, region: str, year: int) -> Path:
        d = self.cfg.region(region).dir_name
        return self.caches_dir / experiment / d / f"{model}_{d}_reconstruction_{year}_{experiment}.nc"

    # training
    @property
    def models_dir(self) -> Path:
        return self._p(self.cfg.get("train.output_dir"))

    def artifact_dir(self, model: str) -> Path:
        """The artifact a cache's model name comes from: a [reconstruct] models entry that is a path with this
        directory name, else <[train] output_dir>/<model>."""
        for entry in self.cfg.get("reconstruct.models"):
            if ("/" in entry or os.sep in entry) and Path(entry).name == model:
                return self._p(entry)
        return self.models_dir / model

    def member_dir(self, model: str) -> Path:
        """The artifact directory of a model; for an ensemble ([train] ensemble > 1: ensemble.toml and
        member_<k>/, no model.toml) its member 0, whose seed is the model's."""
        d = self.artifact_dir(model)
        if not (d / "model.toml").exists() and (d / "ensemble.toml").exists():
            return d / "member_0"
        return d

    def model_toml(self, model: str) -> Path:
        return self.member_dir(model) / "model.toml"

    def losses(self, model: str) -> Path:
        return self.member_dir(model) / "losses.csv"

    @property
    def validation_mse(self) -> Path:
        return self.models_dir / "validation_mse.csv"

    # samples
    @property
    def samples_dir(self) -> Path:
        return self._p(self.cfg.get("prepare.output_dir"))

    # exploration, figures, report
    @property
    def exploration_dir(self) -> Path:
        return self._p(self.cfg.get("explore.output_dir"))

    @property
    def ocean_transport_dir(self) -> Path:
        return self._p(self.cfg.get("ocean_transport.output_dir"))

    @property
    def tuning_dir(self) -> Path:
        return self._p(self.cfg.get("tune.output_dir"))

    @property
    def figures_dir(self) -> Path:
        return self._p(self.cfg.get("figures.output_dir"))

    @property
    def report_dir(self) -> Path:
        return self._p(self.cfg.get("report.output_dir"))

    # what was evaluated
    @property
    def models(self) -> list[str]:
        return list(self.cfg.get("evaluate.models"))

    @property
    def experiments(self) -> list[str]:
        return list(self.cfg.get("evaluate.experiments"))

    @property
    def regions(self) -> list[str]:
        return list(self.cfg.get("evaluate.regions"))

    @property
    def years(self) -> tuple[int, int]:
        y = self.cfg.get("evaluate.years")
        return int(y[0]), int(y[-1])


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")
