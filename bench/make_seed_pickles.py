#!/usr/bin/python3
"""Turn a synthetic fluxkit experiment into the yearly DataFrame pickles the Python seed pipeline read.

The thesis code reads one pandas pickle per model year,
`{experiment}/ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}_df.pkl`, in long format (one row per
cell and month), made with `xarray.Dataset.to_dataframe()`. This script makes those pickles from the netCDF files
of `fluxkit synth ocean`, so that bench/compare_prepare.sh and compare_explore.sh can run the thesis' own scripts.

Usage:

    build/fluxkit synth ocean --output-dir /tmp/synth --resolution 1 --start-year 1958 --end-year 2018
    /usr/bin/python3 bench/make_seed_pickles.py --input /tmp/synth --output /tmp/seed_pickles \\
        [--experiments experiment_1,experiment_5] [--years 2008 2018] [--keep-area] [--native-dtypes]

Every `*.nc` file under `--input/{experiment}/` becomes `--output/{experiment}/{same name}_df.pkl` (written to a
temporary name and renamed). Each pickle is `xarray.open_dataset(f).drop_vars(...).to_dataframe().reset_index()`:
a RangeIndex with the columns y, x, time_counter, nav_lat, nav_lon, time_centered, tmask, e1t, e2t, the ten
drivers and co2flux_pre, i.e. the thesis data columns, with datetime64 times.

Floating-point columns are stored as float64 (the files hold float32 coordinates and fields), so that the seed's
operations produce what the thesis code produced: float64 (4, 14) feature windows and float64 targets. Applied to
float32 columns the same pandas code yields float32 windows; --native-dtypes keeps the file's dtypes.

Dropped before the conversion:
  - the time-bounds variables (time_counter_bounds, time_centered_bounds): they carry a second dimension
    (axis_nbounds), and to_dataframe() would repeat every (time, y, x) row once per bound, which breaks the
    seed's 4-row windows;
  - `area` (not among the seed's columns; keep it with --keep-area, it is then carried along unused).
"""

import argparse
import glob
import os
import sys
import tempfile
import time

import xarray as xr

BOUNDS = ("time_counter_bounds", "time_centered_bounds")


def to_seed_frame(path, keep_area=False, native_dtypes=False):
    with xr.open_dataset(path) as ds:
        drop = [v for v in ds.variables if v in BOUNDS or (v == "area" and not keep_area)]
        # Any other variable with a non-grid dimension would multiply the rows the same way.
        ds = ds.drop_vars(drop)
        extra = [v for v in ds.variables if set(ds[v].dims) - {"time_counter", "y", "x"}]
        if extra:
            raise SystemExit(f"make_seed_pickles: error: {path}: variables with dimensions other than "
                             f"(time_counter, y, x): {', '.join(extra)}")
        df = ds.to_dataframe().reset_index()
    if not native_dtypes:
        floats = [c for c in df.columns if df[c].dtype.kind == "f" and df[c].dtype != "float64"]
        df[floats] = df[floats].astype("float64")
    return df


def _public_mode(path):
    """mkstemp creates 0600 files; give the output the usual mode (0666 minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def write_atomic(df, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dst) + ".", suffix=".tmp", dir=os.path.dirname(dst))
    os.close(fd)
    try:
        df.to_pickle(tmp)
        _public_mode(tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None):
    ap = argparse.ArgumentParser(description="synthetic fluxkit netCDF experiment -> seed-style *_df.pkl pickles")
    ap.add_argument("--input", required=True, help="output directory of `fluxkit synth ocean`")
    ap.add_argument("--output", required=True, help="directory of the pickles ({experiment}/..._df.pkl)")
    ap.add_argument("--experiments", default="", help="comma-separated experiments (default: all under --input)")
    ap.add_argument("--years", type=int, nargs=2, metavar=("FIRST", "LAST"), help="only these years (inclusive)")
    ap.add_argument("--keep-area", action="store_true", help="keep the `area` column")
    ap.add_argument("--native-dtypes", action="store_true", help="keep float32 columns as float32")
    args = ap.parse_args(argv)

    exps = [e for e in args.experiments.split(",") if e] or sorted(
        d for d in os.listdir(args.input) if os.path.isdir(os.path.join(args.input, d)))
    n = 0
    for exp in exps:
        files = sorted(glob.glob(os.path.join(args.input, exp, "*.nc")))
        if not files:
            print(f"make_seed_pickles: error: no *.nc file in {os.path.join(args.input, exp)}", file=sys.stderr)
            return 2
        for f in files:
            stem = os.path.basename(f)[:-3]
            if args.years:
                try:
                    year = int(stem.rsplit("_", 1)[1])
                except (IndexError, ValueError):
                    year = None
                if year is None or not args.years[0] <= year <= args.years[1]:
                    continue
            t0 = time.perf_counter()
            df = to_seed_frame(f, args.keep_area, args.native_dtypes)
            dst = os.path.join(args.output, exp, stem + "_df.pkl")
            write_atomic(df, dst)
            n += 1
            print(f"{dst}: {len(df)} rows, {df.shape[1]} columns, {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"{n} pickles written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
