#!/usr/bin/python3
"""Writes the training_stats.pkl cases read by tests/models/test_statistics_file.cpp.

Run with Debian's python3-pandas: /usr/bin/python3 tests/models/data/make_stats_pickles.py
The statistics dict as the Python pipeline's data_preprocessing_training_validation_sets.py builds it (pandas
mean/std over a table with NaN values, the std with ddof = 1), pickled the ways it may have been saved:
pickle.dump at protocols 2, 4 (the default) and 5, and pandas.to_pickle (protocol 5). "stats.expected" holds
the values, one "name mean std" line per feature and "target mean std", as 17-digit reprs.
Also "stats_13_features.pkl" (SST dropped) and "stats_float_target.pkl" (Python floats for the target).
"""

import os
import pickle

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["SST", "SAL", "ice_frac", "mixed_layer_depth", "heat_flux_down", "water_flux_up", "stress_X",
            "stress_Y", "currents_X", "currents_Y", "sin_lat", "cos_lat", "sin_lon", "cos_lon"]

rng = np.random.default_rng(11)
df = pd.DataFrame(rng.normal(size=(50, 15)) * np.arange(1, 16) + np.arange(15), columns=FEATURES + ["co2flux_pre"])
df.iloc[3, 0] = np.nan  # the pipeline's pandas statistics skip NaN values
df.iloc[7, 14] = np.nan

stats = {
    "feature_mean": df[FEATURES].mean(),
    "feature_std": df[FEATURES].std(),
    "target_mean": df["co2flux_pre"].mean(),
    "target_std": df["co2flux_pre"].std(),
}
assert isinstance(stats["target_mean"], np.float64)
for protocol in (2, 4, 5):
    with open(os.path.join(HERE, f"stats_protocol{protocol}.pkl"), "wb") as f:
        pickle.dump(stats, f, protocol=protocol)
pd.to_pickle(stats, os.path.join(HERE, "stats_to_pickle.pkl"))
with open(os.path.join(HERE, "stats.expected"), "w") as f:
    for name in FEATURES:
        f.write(f"{name} {stats['feature_mean'][name]!r} {stats['feature_std'][name]!r}\n")
    f.write(f"target {float(stats['target_mean'])!r} {float(stats['target_std'])!r}\n")

fewer = dict(stats, feature_mean=stats["feature_mean"].drop("SST"), feature_std=stats["feature_std"].drop("SST"))
with open(os.path.join(HERE, "stats_13_features.pkl"), "wb") as f:
    pickle.dump(fewer, f)
plain = dict(stats, target_mean=float(stats["target_mean"]), target_std=1.25)
with open(os.path.join(HERE, "stats_float_target.pkl"), "wb") as f:
    pickle.dump(plain, f)
