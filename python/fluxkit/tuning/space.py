"""Search spaces of the four models: the thesis' defaults, the [tune.space.<model>] overrides, and sampling.

A parameter of a space is one of
  a fixed value         dropout = 0.0                 (not sampled; written to best.toml as it is)
  a list of choices     batch_size = [32, 64, 128]    (categorical; the same as {choices = [...]})
  a range               learning_rate = {low = 1e-5, high = 1e-2, log = true}
                        n_estimators = {low = 100, high = 1000, step = 100}
A range of two integers (and an integer step) samples integers, otherwise floats. Names are the keys of the
model's [model.<type>] section (docs/config.md) plus, for the MLP, `n_layers` and `hidden_dim` (one width drawn per
layer, as the thesis' hidden_dim_{i}), which together make `hidden_dims`. The LSTM's `dropout` applies only
when more than one layer is drawn (0 otherwise), as in the thesis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DROPOUTS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
BATCH_SIZES = [32, 64, 128]

# The thesis' search spaces (optuna_pipeline.py), in fluxkit's key names. Its LSTM and attention-LSTM spaces
# differ in the lower bound of weight_decay (1e-6 and 1e-5); XGBoost's `lambda`/`alpha` are reg_lambda/reg_alpha.
DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "mlp": {
        "n_layers": {"low": 1, "high": 4},
        "hidden_dim": {"low": 32, "high": 256},
        "dropout": DROPOUTS,
        "learning_rate": {"low": 1e-5, "high": 1e-2, "log": True},
        "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
        "batch_size": BATCH_SIZES,
    },
    "lstm": {
        "hidden_dim": [32, 64, 128, 256],
        "num_layers": {"low": 1, "high": 3},
        "dropout": DROPOUTS,
        "batch_size": BATCH_SIZES,
        "learning_rate": {"low": 1e-5, "high": 1e-2, "log": True},
        "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
    },
    "attention_lstm": {
        "hidden_dim": [32, 64, 128, 256],
        "dropout": DROPOUTS,
        "learning_rate": {"low": 1e-5, "high": 1e-2, "log": True},
        "weight_decay": {"low": 1e-5, "high": 1e-2, "log": True},
        "batch_size": BATCH_SIZES,
    },
    "xgboost": {
        "booster": ["gbtree", "dart"],
        "n_estimators": {"low": 100, "high": 1000, "step": 100},
        "max_depth": {"low": 3, "high": 15},
        "learning_rate": {"low": 1e-3, "high": 0.3, "log": True},
        "subsample": {"low": 0.5, "high": 1.0},
        "colsample_bytree": {"low": 0.5, "high": 1.0},
        "gamma": {"low": 0.0, "high": 10.0},
        "reg_lambda": {"low": 1e-8, "high": 10.0, "log": True},
        "reg_alpha": {"low": 1e-8, "high": 10.0, "log": True},
        "min_child_weight": {"low": 1, "high": 20},
    },
}

# Names that are not keys of [model.<type>] but build one.
DERIVED = {"mlp": {"n_layers": "hidden_dims", "hidden_dim": "hidden_dims"}}
# Keys a trial sets itself (from [tune] max_epochs and patience), so a space may not.
TRIAL_KEYS = {"max_epochs", "patience"}


class SpaceError(ValueError):
    """A search space that cannot be used; the message names the config key."""


@dataclass(frozen=True)
class Param:
    """One parameter: kind "fixed" (value), "categorical" (choices) or "int"/"float" (low, high, step, log)."""
    name: str
    kind: str
    value: Any = None
    choices: tuple = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"{self.value!r} (fixed)"
        if self.kind == "categorical":
            return "{" + ", ".join(repr(c) for c in self.choices) + "}"
        extra = (" log" if self.log else "") + (f" step {self.step:g}" if self.step else "")
        return f"{self.kind} [{self.low:g}, {self.high:g}]{extra}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_param(model: str, name: str, spec: Any) -> Param:
    key = f"tune.space.{model}.{name}"
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        return Param(name, "fixed", value=spec)
    unknown = set(spec) - {"low", "high", "step", "log", "choices"}
    if unknown:
        raise SpaceError(f"{key}: unknown field(s) {', '.join(sorted(unknown))} (a range is "
                         "{low, high, step, log}, a categorical {choices = [...]})")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise SpaceError(f"{key}: `choices` cannot be combined with low/high/step/log")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{key}: `choices` must be a non-empty list")
        return Param(name, "categorical", choices=tuple(choices))
    if "low" not in spec or "high" not in spec:
        raise SpaceError(f"{key}: a range needs both `low` and `high`")
    low, high, step, log = spec["low"], spec["high"], spec.get("step"), bool(spec.get("log", False))
    for field, v in (("low", low), ("high", high), ("step", step)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise SpaceError(f"{key}: `{field}` must be a finite number, got {v!r}")
    if not low < high:
        raise SpaceError(f"{key}: empty range: low {low!r} must be smaller than high {high!r}")
    if log and low <= 0:
        raise SpaceError(f"{key}: a log range must lie above 0, but low is {low!r}")
    if step is not None:
        if step <= 0:
            raise SpaceError(f"{key}: `step` must be positive, got {step!r}")
        if log:
            raise SpaceError(f"{key}: `step` and `log` cannot be combined (Optuna samples either)")
    kind = "int" if _is_int(low) and _is_int(high) and (step is None or _is_int(step)) else "float"
    return Param(name, kind, low=low, high=high, step=step, log=log)


def model_space(model: str, overrides: dict | None, section_keys: set[str]) -> dict[str, Param]:
    """The default space of `model` with `overrides` ([tune.space.<model>]) laid over it, checked: every name
    must be a key of [model.<model>] (`section_keys`) or a derived name, and every range non-empty."""
    if model not in DEFAULT_SPACES:
        raise SpaceError(f"tune.models: no search space for model '{model}' (models: "
                         f"{', '.join(DEFAULT_SPACES)})")
    known = (section_keys | set(DERIVED.get(model, {}))) - TRIAL_KEYS
    hidden = set(DERIVED.get(model, {}).values())  # built from the derived names
    spec = dict(DEFAULT_SPACES[model])
    for name, value in (overrides or {}).items():
        if name in TRIAL_KEYS:
            raise SpaceError(f"tune.space.{model}.{name}: set by every trial from [tune] {name}; "
                             f"change tune.{name} instead")
        if name not in known or name in hidden:
            raise SpaceError(f"tune.space.{model}.{name}: unknown parameter (parameters of {model}: "
                             f"{', '.join(sorted(known - hidden))})")
        spec[name] = value
    return {name: parse_param(model, name, value) for name, value in spec.items()}


def suggest(trial, p: Param, name: str | None = None):
    name = name or p.name
    if p.kind == "fixed":
        return p.value
    if p.kind == "categorical":
        return trial.suggest_categorical(name, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(name, float(p.low), float(p.high), step=p.step, log=p.log)


def sample(trial, model: str, space: dict[str, Param]) -> dict[str, Any]:
    """The [model.<model>] values of one trial (Optuna parameter names as in the thesis: hidden_dim_{i})."""
    values: dict[str, Any] = {}
    if model == "mlp":
        n = int(suggest(trial, space["n_layers"]))
        values["hidden_dims"] = [int(suggest(trial, space["hidden_dim"], f"hidden_dim_{i}")) for i in range(n)]
    for name, p in space.items():
        if name in DERIVED.get(model, {}):
            continue
        if model == "lstm" and name == "dropout" and int(values.get("num_layers", 2)) <= 1:
            values["dropout"] = 0.0  # the thesis: inter-layer dropout only with stacked layers
            continue
        values[name] = suggest(trial, p)
    return values


def values_of_params(model: str, params: dict[str, Any], space: dict[str, Param]) -> dict[str, Any]:
    """[model.<model>] values from a finished trial's Optuna parameters (plus the space's fixed values)."""
    values: dict[str, Any] = {}
    if model == "mlp":
        n = int(params.get("n_layers", space["n_layers"].value or 0))
        values["hidden_dims"] = [int(params.get(f"hidden_dim_{i}", space["hidden_dim"].value)) for i in range(n)]
    for name, p in space.items():
        if name in DERIVED.get(model, {}):
            continue
        if name in params:
            values[name] = params[name]
        elif p.kind == "fixed":
            values[name] = p.value
        elif model == "lstm" and name == "dropout":
            values[name] = 0.0
    return values
