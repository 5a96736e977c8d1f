#!/usr/bin/python3
"""Compare the thesis code's pickled test samples with a fluxkit test store.

    /usr/bin/python3 bench/compare_samples.py SAMPLES.pkl STORE.nc

The pickle is the thesis' list of `Sample(features, target, meta)` (features: the normalised (W, 14) window,
target: the normalised target, meta: nav_lat, nav_lon, time_counter). The store's windows are normalised with
its own statistics (the same training_stats.pkl when prepared with `[prepare] statistics`). Samples are matched
by (latitude, longitude, target month). Prints one line: the number of samples, then "same samples" or what
differs, and the largest absolute differences of the features and targets.
"""
import pickle
import sys
from collections import namedtuple

import netCDF4
import numpy as np

# The pickles name their records __main__.Sample.
Sample = namedtuple("Sample", ["features", "target", "meta"])


def main():
    with open(sys.argv[1], "rb") as f:
        samples = pickle.load(f)
    seed = {}
    for s in samples:
        t = s.meta["time_counter"]
        seed[(round(float(s.meta["nav_lat"]), 3), round(float(s.meta["nav_lon"]), 3), t.year, t.month)] = s

    with netCDF4.Dataset(sys.argv[2]) as ds:
        ds.set_auto_mask(False)
        x = (np.asarray(ds["inputs"][:], np.float64) - ds["feature_mean"][:]) / ds["feature_std"][:]
        y = (np.asarray(ds["target"][:], np.float64) - float(ds["target_mean"][...])) / float(ds["target_std"][...])
        lat, lon = ds["lat"][:], ds["lon"][:]
        w, lead, start = int(ds.window), int(ds.lead), int(ds.target_start)
        y0, m0 = map(int, ds.first_month.split("-"))
    ours = {}
    for c in range(y.shape[0]):
        for t in range(start, y.shape[1]):
            months = m0 - 1 + t
            key = (round(float(lat[c]), 3), round(float(lon[c]), 3), y0 + months // 12, months % 12 + 1)
            ours[key] = (x[c, t - lead - w + 1:t - lead + 1, :], y[c, t])

    only_seed, only_ours = seed.keys() - ours.keys(), ours.keys() - seed.keys()
    common = seed.keys() & ours.keys()
    dx = max((np.abs(np.asarray(seed[k].features, np.float64) - ours[k][0]).max() for k in common), default=0.0)
    dy = max((abs(float(seed[k].target) - ours[k][1]) for k in common), default=0.0)
    what = "same samples" if not only_seed and not only_ours else \
        f"{len(only_seed)} only in the thesis' set, {len(only_ours)} only in fluxkit's"
    print(f"{len(samples)} {what}; max |diff| features {dx:.1e}, targets {dy:.1e}")


if __name__ == "__main__":
    main()
