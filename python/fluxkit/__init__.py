"""fluxkit in Python: the C++ library in-process (``fluxkit._core``, pybind11) and the Python layer.

    import fluxkit
    store = fluxkit.SampleStore("data/samples/train.nc")
    x, y = store.windows(layout="flat")            # numpy [B, 44] and [B]
    model = fluxkit.load_model("models/mlp")
    y_hat = model.predict(x)

The API (docs/python.md):
  configuration and stages  Config, prepare, train, reconstruct, evaluate, explain (fluxkit.pipeline)
  hyper-parameter tuning    tune (Optuna studies, docs/tuning.md)              (fluxkit.tuning)
  sample stores             SampleStore                                        (fluxkit.stores)
  models                    load_model, Model (predict, attention, explain), explainers (fluxkit.models)
  transport                 TransportOperator (a scipy LinearOperator)         (fluxkit.transport)
  files as xarray/pandas    open_cache, open_caches, evaluation_tables         (fluxkit.results)
  errors                    Error > FileError, ConfigError, ShapeError (also a ValueError)
The figures, the report and the pickle converter
(fluxkit.figures, fluxkit.report, fluxkit.convert_pickles) are pure Python and work without the extension module.

The extension module is built by ``make build`` into build/python/fluxkit, next to links to these files: set
``PYTHONPATH=<repository>/build/python`` and use Debian's /usr/bin/python3. Importing fluxkit loads only
libfluxkit; libtorch and XGBoost are loaded the first time a model of theirs is used. Log lines of the library go
to the Python logger ``fluxkit``.
"""

import importlib

__all__ = [
    "Error", "FileError", "ConfigError", "ShapeError",
    "Config", "prepare", "train", "reconstruct", "evaluate", "explain",
    "SampleStore", "load_model", "Model", "explainers",
    "TransportOperator", "open_cache", "open_caches", "evaluation_tables", "open_explanations",
    "explanation_importance", "set_log_level", "tune",
]

# Where each public name lives; resolved on first use, so that `import fluxkit` stays cheap and the pure-Python
# parts (figures, report) work where the extension module is not built.
_NAMES = {
    "Error": "fluxkit._core", "FileError": "fluxkit._core", "ConfigError": "fluxkit._core",
    "ShapeError": "fluxkit._core", "set_log_level": "fluxkit._core",
    "Config": "fluxkit.pipeline", "prepare": "fluxkit.pipeline", "train": "fluxkit.pipeline",
    "reconstruct": "fluxkit.pipeline", "evaluate": "fluxkit.pipeline", "explain": "fluxkit.pipeline",
    "SampleStore": "fluxkit.stores",
    "load_model": "fluxkit.models", "Model": "fluxkit.models", "explainers": "fluxkit.models",
    "TransportOperator": "fluxkit.transport",
    "open_cache": "fluxkit.results", "open_caches": "fluxkit.results", "evaluation_tables": "fluxkit.results",
    "open_explanations": "fluxkit.results", "explanation_importance": "fluxkit.results",
    "tune": "fluxkit.tuning",
}


def __getattr__(name):
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'fluxkit' has no attribute '{name}'")
    try:
        value = getattr(importlib.import_module(module), name)
    except ImportError as e:
        if module == "fluxkit._core" or "_core" in str(e):
            raise ImportError(
                f"fluxkit.{name} needs the extension module fluxkit._core, which was not found: build it "
                "(make build) and set PYTHONPATH=<repository>/build/python (docs/python.md)") from e
        raise
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
