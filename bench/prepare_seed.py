#!/usr/bin/python3
"""A faithful re-implementation of the seed pipeline's sample preparation, to measure it.

The seed (shared/specs/reconstruction.md §3.1-§3.9, scripts data_preprocessing_training_validation_sets.py and
data_preprocessing_test_sets.py) builds its training, validation and test sets with pandas: per-year pickle
loading, a tmask filter, a spatial subsample of the unique (nav_lat, nav_lon) table, a merge, sorts, cyclic
position encoding, z-normalisation and then a Python loop over every 4-month window of every cell
(`groupby(['nav_lat','nav_lon'])` + `group.iloc[...]`), collecting `Sample(features, target, meta)` namedtuples
that are pickled. This script does exactly that, with the same pandas operations in the same order, so its
run time and memory are those of the seed; it only replaces the seed's hard-coded paths by options and fixes
its wrong file tag (experiment_1 test sets read the `hind` files, spec §8.1).

What it does (spec section in brackets):
  per year file: keep tmask == 1; drop tmask, y, x, time_centered, e1t, e2t; unique coordinate table in first-
  appearance order, coord_id = row number; df_coords.sample(frac, random_state=42); inner merge on
  (nav_lat, nav_lon); sort by (coord_id, time_counter) [3.1]; test sets: region filter after subsampling [3.2];
  concatenate (training: years appended one by one, as the seed did), sort by (nav_lat, nav_lon, time_counter);
  lat_rad, lon_rad, sin/cos [3.3]; 14 features [3.4]; training statistics mean/std (ddof 1) over all rows,
  features and co2flux_pre, saved as training_stats.pkl; (x - mean) / std [3.5]; windows of 4 rows per cell,
  target = co2flux_pre of the last row [3.6]; training years concatenated, validation years separately with the
  training statistics [3.7]; test: load year-1 and year, keep windows whose target is in `year` [3.8]; a pickled
  list of Sample namedtuples (pickled as __main__.Sample, like the seed) [3.9].

Inputs are seed-style yearly pickles, e.g. made from a synthetic experiment with bench/make_seed_pickles.py:
`--pickles/{experiment}/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}_df.pkl` (tag hind for
experiment_1, wind for experiment_5; see --file-pattern).

Usage:

    /usr/bin/python3 bench/prepare_seed.py --pickles DIR --out DIR \\
        --train-years 1958 1988 --val-years 1989 2008 --test-years 2009 2018 \\
        --train-experiment experiment_5 --test-experiment experiment_1 --frac 0.01 \\
        [--regions global[,North_Atlantic,Southern_Ocean]] [--test-frac 1] [--stages train,test] \\
        [--summary FILE]

Outputs under --out: training_set/training_set.pkl, training_set/training_stats.pkl, validation_set/
validation_set.pkl, test_sets/{experiment}/{region}/{region}_test_{year}_{experiment}.pkl (the seed's
`test_sest` typo is not kept). `--stages test` alone reads the statistics from --out/training_set/.

It prints the wall time of each stage (training+validation, then each test year and region) with its parts
(load, prepare = concat/sort/encode/normalise, windows = the per-window Python loop, save) and the peak RSS of the
process (resource.getrusage), and writes those numbers and the sample counts per split to --summary (JSON).

Note: cells are keyed by the float pair (nav_lat, nav_lon) as in the seed; on an ORCA grid with its duplicated
halo columns and north-fold row this reproduces the seed's merging of duplicate cells (spec §2.3). Use a regular
grid to measure.
"""

import argparse
import json
import os
import pickle
import platform
import resource
import sys
import tempfile
import time
from collections import namedtuple

import numpy as np
import pandas as pd

Sample = namedtuple("Sample", ["features", "target", "meta"])

FEATURES = ["SST", "SAL", "ice_frac", "mixed_layer_depth", "heat_flux_down", "water_flux_up", "stress_X",
            "stress_Y", "currents_X", "currents_Y", "sin_lat", "cos_lat", "sin_lon", "cos_lon"]
DROP = ["tmask", "y", "x", "time_centered", "e1t", "e2t"]
WINDOW = 4
TAGS = {"experiment_1": "hind", "experiment_5": "wind"}
DEFAULT_PATTERN = "{experiment}/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}_df.pkl"
REGIONS = ("global", "North_Atlantic", "Southern_Ocean")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


class Timer:
    def __init__(self):
        self.parts = {}

    def add(self, name, t0):
        self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - t0
        return time.perf_counter()


# ---------------------------------------------------------------------------------------------------------------
# §3.1 per-year loading


def load_year(path, frac):
    df = pd.read_pickle(path)
    df = df[df["tmask"] == 1]
    df = df.drop(columns=DROP)
    df_coords = df[["nav_lat", "nav_lon"]].drop_duplicates().reset_index(drop=True)
    df_coords["coord_id"] = df_coords.index
    df_coords_sampled = df_coords.sample(frac=frac, random_state=42)
    df = df.merge(df_coords_sampled, on=["nav_lat", "nav_lon"], how="inner")
    df = df.sort_values(by=["coord_id", "time_counter"])
    return df


# §3.2 regions (the seed's get_zoned_df, only the two regions it writes)
def select_region(df, region):
    if region == "global":
        return df
    if region == "North_Atlantic":
        z = df.loc[(df["nav_lon"] >= -75.0) & (df["nav_lon"] <= 0.0)]
        z = z.loc[(z["nav_lat"] >= 10) & (z["nav_lat"] <= 70)].copy()
        z["zone"] = "NORTH_ATLANTIC"
        return z
    if region == "Southern_Ocean":
        z = df.loc[df["nav_lat"] <= -45].copy()
        z["zone"] = "SOUTHERN_OCEAN"
        return z
    raise ValueError(region)


# §3.3 cyclic encoding
def encode(ts):
    ts["lat_rad"] = np.deg2rad(ts["nav_lat"])
    ts["lon_rad"] = np.deg2rad(ts["nav_lon"])
    ts["sin_lat"] = np.sin(ts["lat_rad"])
    ts["cos_lat"] = np.cos(ts["lat_rad"])
    ts["sin_lon"] = np.sin(ts["lon_rad"])
    ts["cos_lon"] = np.cos(ts["lon_rad"])
    return ts


def _public_mode(path):
    """mkstemp creates 0600 files; give the output the usual mode (0666 minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def dump_atomic(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f)
        _public_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------------------------
# §3.7 training and validation


def preprocess_training(paths, frac, stats, out_file, stats_file, timer):
    """Training when stats is None (computes and saves the statistics), validation otherwise."""
    t = time.perf_counter()
    time_series = pd.DataFrame()
    for p in paths:
        df = load_year(p, frac)
        time_series = pd.concat([time_series, df])  # appended year by year, as the seed does
    t = timer.add("load", t)

    time_series = time_series.sort_values(by=["nav_lat", "nav_lon", "time_counter"])
    time_series = encode(time_series)
    if stats is None:
        feature_mean = time_series[FEATURES].mean()
        feature_std = time_series[FEATURES].std()
    else:
        feature_mean, feature_std = stats["feature_mean"], stats["feature_std"]
    time_series[FEATURES] = (time_series[FEATURES] - feature_mean) / feature_std
    if stats is None:
        target_mean = time_series["co2flux_pre"].mean()
        target_std = time_series["co2flux_pre"].std()
        stats = {"feature_mean": feature_mean, "feature_std": feature_std, "target_mean": target_mean,
                 "target_std": target_std}
        dump_atomic(stats, stats_file)
    time_series["co2flux_pre"] = (time_series["co2flux_pre"] - stats["target_mean"]) / stats["target_std"]
    t = timer.add("prepare", t)

    # §3.6 windows: groupby sorts the (lat, lon) keys; every window of 4 consecutive rows of a cell.
    all_samples = []
    grouped = time_series.groupby(["nav_lat", "nav_lon"])
    for (lat, lon), group in grouped:
        group = group.reset_index(drop=True)
        for i in range(WINDOW - 1, len(group)):
            window = group.iloc[i - WINDOW + 1:i + 1]
            X = window[FEATURES].values
            y = window.iloc[-1]["co2flux_pre"]
            sample_info = {"nav_lat": lat, "nav_lon": lon, "time_counter": window.iloc[-1]["time_counter"]}
            all_samples.append(Sample(X, y, sample_info))
    t = timer.add("windows", t)

    dump_atomic(all_samples, out_file)
    timer.add("save", t)
    return all_samples, stats


# §3.8 test sets
def preprocess_test_year(year, paths, frac, region, stats, out_file, timer):
    t = time.perf_counter()
    dfs = []
    for p in paths:  # year - 1, year
        df = load_year(p, frac)
        dfs.append(select_region(df, region))
    t = timer.add("load", t)

    ts = pd.concat(dfs)
    ts = ts.sort_values(by=["nav_lat", "nav_lon", "time_counter"])
    ts = encode(ts)
    ts[FEATURES] = (ts[FEATURES] - stats["feature_mean"]) / stats["feature_std"]
    ts["co2flux_pre"] = (ts["co2flux_pre"] - stats["target_mean"]) / stats["target_std"]
    t = timer.add("prepare", t)

    samples = []
    grouped = ts.groupby(["nav_lat", "nav_lon"])
    for (lat, lon), group in grouped:
        group = group.reset_index(drop=True)
        for i in range(WINDOW - 1, len(group)):
            row = group.iloc[i]
            if row["time_counter"].year != year:
                continue
            window = group.iloc[i - WINDOW + 1:i + 1]
            X = window[FEATURES].values
            y = row["co2flux_pre"]
            meta = {"nav_lat": lat, "nav_lon": lon, "time_counter": row["time_counter"]}
            samples.append(Sample(X, y, meta))
    t = timer.add("windows", t)

    dump_atomic(samples, out_file)
    timer.add("save", t)
    return samples


# ---------------------------------------------------------------------------------------------------------------


def year_path(args, experiment, year):
    tag = TAGS.get(experiment)
    if tag is None and "{tag}" in args.file_pattern:
        raise SystemExit(f"prepare_seed: error: no file tag known for {experiment!r} (known: {TAGS})")
    p = os.path.join(args.pickles, args.file_pattern.format(experiment=experiment, tag=tag, year=year))
    if not os.path.isfile(p):
        raise SystemExit(f"prepare_seed: error: missing input {p}")
    return p


def describe(samples):
    if not samples:
        return {}
    s = samples[0]
    return {"features_shape": list(np.shape(s.features)), "features_dtype": str(np.asarray(s.features).dtype),
            "target_type": type(s.target).__name__, "meta_time_type": type(s.meta["time_counter"]).__name__}


def main(argv=None):
    ap = argparse.ArgumentParser(description="the seed pipeline's sample preparation, timed")
    ap.add_argument("--pickles", required=True, help="root of the seed-style yearly pickles")
    ap.add_argument("--out", required=True, help="output directory of the sample pickles")
    ap.add_argument("--train-years", type=int, nargs=2, default=[1958, 1988], metavar=("FIRST", "LAST"))
    ap.add_argument("--val-years", type=int, nargs=2, default=[1989, 2008], metavar=("FIRST", "LAST"))
    ap.add_argument("--test-years", type=int, nargs=2, default=[2009, 2018], metavar=("FIRST", "LAST"))
    ap.add_argument("--train-experiment", default="experiment_5")
    ap.add_argument("--test-experiment", default="experiment_1")
    ap.add_argument("--frac", type=float, default=0.01, help="cell fraction of training/validation (seed: 0.01)")
    ap.add_argument("--test-frac", type=float, default=1.0, help="cell fraction of the test sets (seed: 1)")
    ap.add_argument("--regions", default="global", help=f"comma-separated test regions out of {REGIONS}")
    ap.add_argument("--stages", default="train,test", help="comma-separated: train (training+validation), test")
    ap.add_argument("--file-pattern", default=DEFAULT_PATTERN,
                    help="input name under --pickles with {experiment}, {tag}, {year} (default: %(default)s)")
    ap.add_argument("--summary", help="write a JSON summary here")
    args = ap.parse_args(argv)

    stages = [s for s in args.stages.split(",") if s]
    regions = [r for r in args.regions.split(",") if r]
    for r in regions:
        if r not in REGIONS:
            ap.error(f"unknown region {r!r} (known: {', '.join(REGIONS)})")
    for s in stages:
        if s not in ("train", "test"):
            ap.error(f"unknown stage {s!r} (known: train, test)")

    train_dir = os.path.join(args.out, "training_set")
    stats_file = os.path.join(train_dir, "training_stats.pkl")
    summary = {"args": vars(args), "python": platform.python_version(), "pandas": pd.__version__,
               "numpy": np.__version__, "stages": [], "counts": {}}
    t_all = time.perf_counter()

    def report(name, seconds, timer, counts):
        rss = peak_rss_mb()
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in timer.parts.items())
        print(f"[{name}] {seconds:.1f} s ({parts}); samples {counts}; peak RSS {rss:.0f} MB", flush=True)
        summary["stages"].append({"name": name, "seconds": round(seconds, 3),
                                  "parts": {k: round(v, 3) for k, v in timer.parts.items()},
                                  "samples": counts, "peak_rss_mb": round(rss, 1)})

    stats = None
    if "train" in stages:
        # Resolve every input first, so that a missing file fails before the long work.
        tr = [year_path(args, args.train_experiment, y) for y in range(args.train_years[0], args.train_years[1] + 1)]
        va = [year_path(args, args.train_experiment, y) for y in range(args.val_years[0], args.val_years[1] + 1)]
        timer = Timer()
        t0 = time.perf_counter()
        train, stats = preprocess_training(tr, args.frac, None, os.path.join(train_dir, "training_set.pkl"),
                                           stats_file, timer)
        val, _ = preprocess_training(va, args.frac, stats, os.path.join(args.out, "validation_set",
                                                                       "validation_set.pkl"), None, timer)
        counts = {"training": len(train), "validation": len(val)}
        summary["counts"].update(counts)
        summary["sample_layout"] = describe(train)
        report("training+validation", time.perf_counter() - t0, timer, counts)
        del train, val

    if "test" in stages:
        if stats is None:
            if not os.path.isfile(stats_file):
                raise SystemExit(f"prepare_seed: error: {stats_file} missing; run the train stage first")
            with open(stats_file, "rb") as f:
                stats = pickle.load(f)
        exp = args.test_experiment
        years = list(range(args.test_years[0], args.test_years[1] + 1))
        inputs = {y: [year_path(args, exp, y - 1), year_path(args, exp, y)] for y in years}
        summary["counts"]["test"] = {}
        for region in regions:
            for year in years:
                timer = Timer()
                t0 = time.perf_counter()
                out = os.path.join(args.out, "test_sets", exp, region, f"{region}_test_{year}_{exp}.pkl")
                samples = preprocess_test_year(year, inputs[year], args.test_frac, region, stats, out, timer)
                summary["counts"]["test"].setdefault(region, {})[str(year)] = len(samples)
                summary.setdefault("sample_layout", describe(samples))
                report(f"test {exp} {region} {year}", time.perf_counter() - t0, timer, len(samples))
                del samples

    summary["total_seconds"] = round(time.perf_counter() - t_all, 3)
    summary["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(f"total {summary['total_seconds']:.1f} s, peak RSS {summary['peak_rss_mb']:.0f} MB", flush=True)
    if args.summary:
        d = os.path.dirname(os.path.abspath(args.summary))
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(args.summary) + ".", suffix=".tmp", dir=d)
        with os.fdopen(fd, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        _public_mode(tmp)
        os.replace(tmp, args.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
