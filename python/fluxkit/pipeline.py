"""The pipeline configuration and its stages, in-process: the same library calls as ``fluxkit prepare``,
``train``, ``reconstruct`` and ``evaluate``, so the same configuration and seed give the same files as the
command line (bit for bit, provenance attributes aside: they name the Python call).

    cfg = fluxkit.Config("configs/demo.toml")
    cfg.set("train.models", ["mlp"])
    fluxkit.prepare(cfg)
    fluxkit.train(cfg, callback=lambda r: r["validation_loss"] < 10)   # False stops the model's training
    fluxkit.reconstruct(cfg)
    fluxkit.evaluate(cfg)

Explanations: ``fluxkit.explain(cfg)``; tuning: ``fluxkit.tune(cfg)`` (fluxkit.tuning).
"""
from __future__ import annotations

import json
import tomllib
from typing import Any, Callable

from ._common import _core, command_line

__all__ = ["Config", "prepare", "train", "reconstruct", "evaluate", "explain"]


def _toml_value(value: Any) -> str:
    """A Python value as TOML text (bool, int, float, str and lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot set a configuration key to a {type(value).__name__} ({value!r})")


class Config:
    """A pipeline configuration (the TOML file of ``fluxkit --config``), with overrides.

    ``Config()`` is every key at its default; ``Config(path)`` reads a file; ``Config([base, tuned])`` reads
    several, a later file overriding the keys it sets (as ``--config base --config tuned``);
    ``Config.from_string(text)`` a string.
    Keys are checked when a stage runs, or by ``check()``: an unknown section or key, or a value of the wrong
    type, raises ``fluxkit.ConfigError`` with the message the command line prints.
    """

    def __init__(self, path=None, *, _doc=None):
        if _doc is None:
            paths = [path] if path is None or not isinstance(path, (list, tuple)) else list(path)
            _doc = _core.Config(None if paths[0] is None else str(paths[0]))
            for p in paths[1:]:
                _doc.merge_file(str(p))
        self._doc = _doc

    @classmethod
    def from_string(cls, text: str, source: str = "<string>") -> "Config":
        return cls(_doc=_core.Config.from_string(text, source))

    def set(self, key: str, value: Any) -> "Config":
        """Overrides ``section.key`` (as ``--set section.key=value``); returns self. Values: bool, int, float,
        str, lists of them."""
        self._doc.set_value(key, _toml_value(value))
        return self

    def copy(self) -> "Config":
        return Config(_doc=self._doc.copy())

    def check(self) -> None:
        """Checks every section; ConfigError naming the key."""
        self._doc.check()

    def effective_toml(self) -> str:
        """The effective configuration as TOML text (what ``fluxkit config show`` prints)."""
        return self._doc.effective_toml()

    def effective(self) -> dict:
        """The effective configuration, every key with its default filled in (as ``fluxkit config show``)."""
        return tomllib.loads(self._doc.effective_toml())

    def get(self, key: str) -> Any:
        """The effective value of ``section.key`` (sections may be dotted: ``model.mlp.hidden``)."""
        node: Any = self.effective()
        section, _, name = key.rpartition(".")
        for part in section.split(".") if section else []:
            node = node[part]
        return node[name]

    @property
    def source(self) -> str:
        return self._doc.source

    def __repr__(self):
        return f"fluxkit.Config({self.source!r})"


def _config(cfg) -> "Config":
    if isinstance(cfg, Config):
        return cfg
    return Config(cfg)


def prepare(config) -> list[dict]:
    """``fluxkit prepare``: the sample stores of [prepare] and [data]; one dict per store written."""
    return _core.run_prepare(_config(config)._doc, command_line("prepare"))


def train(config, *, callback: Callable[[dict], Any] | None = None, resume: bool = False) -> list[dict]:
    """``fluxkit train``: every model of [train]; writes the artifacts and validation_mse.csv as the command line.

    callback(record) is called after every epoch (XGBoost: boosting round) of every model with a dict
    ``{"model", "member", "members", "epoch", "train_loss", "validation_loss", "seconds"}``; returning False stops
    that model's training (its stop reason is then "callback" and the best weights so far are kept); None or
    True continues. An exception raised in the callback ends the training and comes back from train().
    Returns one dict per model (member): validation_mse, best_epoch, epochs, stop_reason, artifact, ...
    """
    return _core.run_train(_config(config)._doc, command_line("train"), resume, callback)


def reconstruct(config, *, force: bool = False) -> list[dict]:
    """``fluxkit reconstruct``: one cache per (model, experiment, region, year) of [reconstruct]."""
    return _core.run_reconstruct(_config(config)._doc, command_line("reconstruct"), force)


def evaluate(config) -> dict:
    """``fluxkit evaluate``: the tables and fields of [evaluate]; returns the output directory, the files
    written and the summary table the command line prints."""
    return _core.run_evaluate(_config(config)._doc, command_line("evaluate"))


def explain(config) -> dict:
    """``fluxkit explain``: the explanations of [explain] (KernelSHAP, TreeSHAP, TimeSHAP, attention; see
    docs/explain.md). Returns the output directory, the files and samples written or reused, and the driver
    ranking per (model, method). Read the results with :func:`fluxkit.open_explanations` and
    :func:`fluxkit.explanation_importance`."""
    return _core.run_explain(_config(config)._doc, command_line("explain"))
