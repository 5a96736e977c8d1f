#!/usr/bin/python3
"""Convert the Python pipeline's pickles into files fluxkit reads: the yearly DataFrame pickles into netCDF, and
a pickled XGBRegressor into XGBoost's JSON (or UBJ) model format.

The Python seed pipeline read one pandas pickle per model year,
`ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}_df.pkl`, in long format: one row per grid cell and
month, as written by `xarray.Dataset.to_dataframe()`, with the columns nav_lat, nav_lon, time_counter,
time_centered, x, y, tmask, e1t, e2t, the ten drivers and co2flux_pre. fluxkit reads NEMO-style netCDF instead
(docs/synthetic-ocean.md). This tool turns each pickle into one such file.

Usage:

    /usr/bin/python3 python/fluxkit/convert_pickles.py IN_GLOB_OR_FILES... --output-dir OUT [--pattern '{stem}.nc']
    /usr/bin/python3 python/fluxkit/convert_pickles.py --xgboost MODEL.pkl... [--output-dir OUT] [--format json|ubj]

    # every yearly pickle of an experiment, into the names fluxkit expects (..._hind_2009.nc)
    /usr/bin/python3 python/fluxkit/convert_pickles.py 'pickles/experiment_1/*_df.pkl' \\
        --output-dir data/experiment_1

Inputs are files, directories (every `*.pkl` in them) or glob patterns (quote them to let this tool expand them).
The output name is `--pattern` with these fields replaced:
    {stem}   the input file name without `.pkl` and without a trailing `_df` (default pattern `{stem}.nc`, so
             `..._hind_2009_df.pkl` becomes `..._hind_2009.nc`, the name fluxkit looks for);
    {name}   the input file name without `.pkl`;
    {year}   the year of the first time stamp in the pickle.
The pattern may contain sub-directories, which are created.

What is written (CF-1.8, netCDF-4):
  - dimensions (time_counter, y, x): y and x from the integer `y`/`x` columns (grid indices, from 0, so the grid is
    max(y)+1 by max(x)+1), time_counter from the distinct `time_counter` stamps, sorted;
  - time_counter (and time_centered when present) as float64 "seconds since 1900-01-01 00:00:00", calendar
    standard (datetime64 stamps; cftime stamps keep their own calendar);
  - nav_lat, nav_lon (y, x) in their stored precision; cells missing from the pickle get NaN, except that on a
    regular grid (latitude constant along rows, longitude along columns) they are filled from their row/column
    (whole rows or columns without any cell, such as Antarctic land, only when the axis is uniformly spaced);
  - tmask (y, x) int8 from the `tmask` column, or, without that column, 1 where the pickle has any row; cells
    missing from the pickle are 0;
  - e1t, e2t, area (y, x) float64 when present and constant in time;
  - every other numeric column as float32 (time_counter, y, x), NaN where the pickle has no row or a NaN, with
    NaN declared as `_FillValue`; units and standard names for the known columns;
  - global attributes Conventions = "CF-1.8", history (time, this tool, the source pickle), source_pickle.

The index of the pickle may be a MultiIndex holding (time_counter, y, x) in any order (as `to_dataframe()` leaves
it) or a plain RangeIndex with those as columns (after `reset_index()`). A pickle made from a file that has
time bounds holds every (time, y, x) row once per bound (an `axis_nbounds` level or column); those copies are
collapsed and the `*_bounds` columns dropped.

Every output is written to a hidden temporary file in the output directory and renamed into place, so an
interrupted run never leaves a file that looks complete.

Errors exit with code 2 and a message naming the file and the problem: a missing x/y/time_counter/nav_lat/nav_lon
column, duplicate (time_counter, y, x) rows, a pickle that does not hold a DataFrame, an unreadable file. Every
input is tried; the exit code is 2 if any failed, 0 otherwise.

--xgboost: the pipeline's train_xgboost.py saved its model with pickle.dump(XGBRegressor), which only Python
with a compatible xgboost can read. Each pickle (an XGBRegressor, any xgboost.sklearn model, or a Booster) is
loaded and its booster written with Booster.save_model as `<name>.json` (or `.ubj` with --format ubj) in
--output-dir, by default next to the pickle; `fluxkit import-weights --type xgboost --weights <name>.json`
imports it (docs/models.md). The booster predicts as the regressor's predict() did (all trees; no early
stopping was used). Loading a pickle runs code from it: convert only files you trust (your own models). Needs the
xgboost Python package (Debian: python3-xgboost).
"""

import argparse
import datetime as _dt
import glob
import os
import pickle
import sys
import tempfile

import numpy as np
import pandas as pd

REQUIRED = ("x", "y", "time_counter", "nav_lat", "nav_lon")
STATIC = ("e1t", "e2t", "area")  # (y, x) metrics when constant in time
BOUND_DIMS = ("axis_nbounds", "nbnds", "nbnd", "bnds", "nb2")
TIME_UNITS = "seconds since 1900-01-01 00:00:00"
EPOCH = np.datetime64("1900-01-01T00:00:00", "ns")

# Attributes of the known columns (docs/synthetic-ocean.md).
ATTRS = {
    "nav_lat": {"standard_name": "latitude", "long_name": "Latitude", "units": "degrees_north"},
    "nav_lon": {"standard_name": "longitude", "long_name": "Longitude", "units": "degrees_east"},
    "tmask": {"long_name": "surface land-sea mask", "flag_meanings": "land ocean", "units": "1"},
    "e1t": {"long_name": "cell width along x at T points", "units": "m"},
    "e2t": {"long_name": "cell width along y at T points", "units": "m"},
    "area": {"standard_name": "cell_area", "long_name": "cell area (e1t * e2t)", "units": "m2"},
    "SST": {"standard_name": "sea_surface_temperature", "long_name": "sea surface temperature", "units": "degC"},
    "SAL": {"standard_name": "sea_surface_salinity", "long_name": "sea surface salinity", "units": "1e-3"},
    "ice_frac": {"standard_name": "sea_ice_area_fraction", "long_name": "sea-ice area fraction", "units": "1"},
    "mixed_layer_depth": {"standard_name": "ocean_mixed_layer_thickness", "long_name": "mixed-layer depth",
                          "units": "m"},
    "heat_flux_down": {"standard_name": "surface_downward_heat_flux_in_sea_water",
                       "long_name": "net downward surface heat flux", "units": "W m-2"},
    "water_flux_up": {"long_name": "net upward fresh-water flux (evaporation - precipitation - runoff)",
                      "units": "kg m-2 s-1"},
    "stress_X": {"standard_name": "surface_downward_x_stress",
                 "long_name": "surface wind stress along the grid x axis", "units": "N m-2"},
    "stress_Y": {"standard_name": "surface_downward_y_stress",
                 "long_name": "surface wind stress along the grid y axis", "units": "N m-2"},
    "currents_X": {"long_name": "surface current along the grid x axis", "units": "m s-1"},
    "currents_Y": {"long_name": "surface current along the grid y axis", "units": "m s-1"},
    "co2flux_pre": {"standard_name": "surface_downward_mole_flux_of_carbon_dioxide",
                    "long_name": "air-sea CO2 flux of the preformed (natural) carbon tracer",
                    "units": "mol m-2 yr-1"},
}


class ConvertError(Exception):
    """A problem with one input file; the message names the problem, the caller adds the file."""


# ---------------------------------------------------------------------------------------------------------------
# Reading and normalising the table


def load_frame(path):
    try:
        obj = pd.read_pickle(path)
    except FileNotFoundError:
        raise ConvertError("no such file")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            ModuleNotFoundError, OSError) as e:
        raise ConvertError(f"cannot read the pickle ({type(e).__name__}: {e})")
    if not isinstance(obj, pd.DataFrame):
        raise ConvertError(f"the pickle holds a {type(obj).__module__}.{type(obj).__name__}, not a pandas "
                           "DataFrame")
    return obj


def flatten_index(df):
    """Move named index levels into columns (a level that is also a column is dropped, the column wins)."""
    names = [n for n in df.index.names if n is not None]
    if not names:
        return df.reset_index(drop=True)
    dup = [n for n in names if n in df.columns]
    if dup:
        df = df.reset_index(level=dup, drop=True)
    if any(n is not None for n in df.index.names):
        df = df.reset_index()
    return df.reset_index(drop=True)


def collapse_bounds(df):
    """Rows repeated once per time bound (to_dataframe of a file with *_bounds variables): keep the first."""
    notes = []
    for dim in BOUND_DIMS:
        if dim not in df.columns:
            continue
        first = df[dim].min()
        df = df[df[dim] == first]
        df = df.drop(columns=[dim])
        notes.append(dim)
    bcols = [c for c in df.columns if isinstance(c, str) and (c.endswith("_bounds") or c.endswith("_bnds"))]
    if notes:
        df = df.drop(columns=bcols)
    return df, notes


def time_values(col):
    """Time stamps -> (float64 seconds since 1900-01-01, calendar); ConvertError when not time stamps."""
    if np.issubdtype(col.dtype, np.datetime64):
        if getattr(col.dt, "tz", None) is not None:
            col = col.dt.tz_convert("UTC").dt.tz_localize(None)
        v = col.to_numpy(dtype="datetime64[ns]")
        if np.isnat(v).any():
            raise ConvertError(f"column {col.name!r} has missing (NaT) time stamps")
        return (v - EPOCH) / np.timedelta64(1, "s"), "standard"
    if col.dtype == object and len(col) and hasattr(col.iloc[0], "calendar"):
        import cftime
        cal = col.iloc[0].calendar or "standard"
        return np.asarray(cftime.date2num(list(col), TIME_UNITS, calendar=cal), dtype=np.float64), cal
    raise ConvertError(f"column {col.name!r} holds {col.dtype}, not time stamps (datetime64 or cftime)")


def integer_index(df, name):
    col = df[name]
    v = col.to_numpy()
    if not np.issubdtype(v.dtype, np.number):
        raise ConvertError(f"column {name!r} holds {col.dtype}, not integer grid indices")
    if np.issubdtype(v.dtype, np.floating):
        if not np.isfinite(v).all() or (v != np.round(v)).any():
            raise ConvertError(f"column {name!r} holds non-integer grid indices")
    v = v.astype(np.int64)
    if len(v) and v.min() < 0:
        raise ConvertError(f"column {name!r} holds negative grid indices")
    return v


def per_cell(values, cell, ncell, name, fill):
    """Values of a (y, x) quantity from its rows; ConvertError if a cell holds different values."""
    out = np.full(ncell, fill, dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    out[cell] = values
    # Every row must agree with the value kept for its cell (NaN == NaN).
    kept = out[cell]
    same = (kept == values) | (np.isnan(kept) & np.isnan(values)) if values.dtype.kind == "f" else kept == values
    if not np.all(same):
        raise ConvertError(f"column {name!r} varies in time within a cell; it should be a (y, x) field")
    return out


def fill_regular(coord, present, ny, nx, along_rows):
    """Fill missing coordinates on a regular grid (lat constant along rows, lon along columns).

    Returns (coordinates, True) when filled, (unchanged, False) when the grid is not regular. Rows/columns with
    no cell at all are filled only when the known ones are uniformly spaced."""
    c = coord.reshape(ny, nx).copy()
    p = present.reshape(ny, nx)
    if p.all():
        return coord, True
    axis_vals = np.full(ny if along_rows else nx, np.nan)
    view = c if along_rows else c.T
    pv = p if along_rows else p.T
    for i in range(view.shape[0]):
        vals = view[i][pv[i]]
        if vals.size == 0:
            continue
        if np.nanmax(np.abs(vals - vals[0])) > 1e-5:
            return coord, False
        axis_vals[i] = vals[0]
    known = ~np.isnan(axis_vals)
    if not known.all():
        # Whole rows/columns without any row (e.g. Antarctic land): fill them only on a uniform axis.
        idx = np.flatnonzero(known)
        if idx.size < 2:
            return coord, False
        slope, icept = np.polyfit(idx, axis_vals[idx], 1)
        if np.max(np.abs(slope * idx + icept - axis_vals[idx])) > 1e-4:
            return coord, False
        miss = np.flatnonzero(~known)
        axis_vals[miss] = slope * miss + icept
    for i in range(view.shape[0]):
        view[i][~pv[i]] = axis_vals[i]
    return c.reshape(-1), True


# ---------------------------------------------------------------------------------------------------------------
# Conversion of one file


def convert(src, dst_dir, pattern, log=print):
    df = load_frame(src)
    df = flatten_index(df)
    df, bound_dims = collapse_bounds(df)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ConvertError("missing column" + ("s " if len(missing) > 1 else " ") + ", ".join(missing)
                           + f" (columns: {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise ConvertError("the DataFrame has no rows")

    yi = integer_index(df, "y")
    xi = integer_index(df, "x")
    tsec, calendar = time_values(df["time_counter"])
    times = np.unique(tsec)
    ti = np.searchsorted(times, tsec)
    ny, nx, nt = int(yi.max()) + 1, int(xi.max()) + 1, len(times)
    ncell = ny * nx
    cell = yi * nx + xi
    flat = ti.astype(np.int64) * ncell + cell
    dup = pd.Series(flat).duplicated(keep=False).to_numpy()
    if dup.any():
        k = int(np.argmax(dup))
        stamp = df["time_counter"].iloc[k]
        raise ConvertError(f"{int(dup.sum())} duplicate (time_counter, y, x) rows, e.g. time_counter={stamp}, "
                           f"y={yi[k]}, x={xi[k]}")
    present = np.zeros(ncell, dtype=bool)
    present[cell] = True

    lat = per_cell(df["nav_lat"].to_numpy(), cell, ncell, "nav_lat", np.nan)
    lon = per_cell(df["nav_lon"].to_numpy(), cell, ncell, "nav_lon", np.nan)
    if not present.all():
        lat2, ok_lat = fill_regular(lat, present, ny, nx, along_rows=True)
        lon2, ok_lon = fill_regular(lon, present, ny, nx, along_rows=False)
        if ok_lat and ok_lon:
            lat, lon = lat2, lon2
        else:
            log(f"convert_pickles: note: {src}: {int((~present).sum())} cells have no rows and the grid is not "
                "regular; their nav_lat/nav_lon are NaN")

    if "tmask" in df.columns:
        tm = per_cell(df["tmask"].to_numpy().astype(np.float64), cell, ncell, "tmask", 0.0)
        tmask = np.where(np.isnan(tm), 0, tm).astype(np.int8)
    else:
        tmask = present.astype(np.int8)

    # time_centered: one stamp per time_counter.
    centered = None
    if "time_centered" in df.columns:
        csec, ccal = time_values(df["time_centered"])
        centered = np.full(nt, np.nan)
        centered[ti] = csec
        if not np.array_equal(centered[ti], csec):
            raise ConvertError("column 'time_centered' differs between rows of the same time_counter")

    skip = set(REQUIRED) | {"tmask", "time_centered"}
    static, fields, ignored = {}, {}, []
    for c in df.columns:
        if c in skip:
            continue
        col = df[c]
        if not (np.issubdtype(col.dtype, np.number) or col.dtype == bool):
            ignored.append(str(c))
            continue
        v = col.to_numpy()
        if c in STATIC:
            try:
                static[c] = per_cell(v.astype(np.float64), cell, ncell, c, np.nan)
                continue
            except ConvertError:
                pass  # varies in time: written as a field below
        a = np.full(nt * ncell, np.nan, dtype=np.float32)
        a[flat] = v.astype(np.float32)
        fields[c] = a.reshape(nt, ny, nx)
    if ignored:
        log(f"convert_pickles: note: {src}: non-numeric columns not written: {', '.join(ignored)}")

    base = os.path.basename(src)
    name = base[:-4] if base.endswith(".pkl") else os.path.splitext(base)[0]
    stem = name[:-3] if name.endswith("_df") else name
    if calendar == "standard":
        year = pd.Timestamp(EPOCH + np.timedelta64(int(times[0]), "s")).year
    else:
        import cftime
        year = cftime.num2date(times[0], TIME_UNITS, calendar=calendar).year
    try:
        rel = pattern.format(stem=stem, name=name, year=year)
    except (KeyError, IndexError, ValueError) as e:
        raise ConvertError(f"bad --pattern {pattern!r}: {e}")
    dst = os.path.join(dst_dir, rel)
    write_netcdf(dst, src, ny, nx, times, calendar, centered, lat, lon, tmask, static, fields, bound_dims)
    return dst, (nt, ny, nx), sorted(fields)


def history_stamp():
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    t = _dt.datetime.fromtimestamp(int(sde), _dt.timezone.utc) if sde else _dt.datetime.now(_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _public_mode(path):
    """mkstemp creates 0600 files; give the output the usual mode (0666 minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def write_netcdf(dst, src, ny, nx, times, calendar, centered, lat, lon, tmask, static, fields, bound_dims):
    import netCDF4

    out_dir = os.path.dirname(os.path.abspath(dst))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dst) + ".", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            nc.createDimension("time_counter", len(times))
            nc.createDimension("y", ny)
            nc.createDimension("x", nx)
            tv = nc.createVariable("time_counter", "f8", ("time_counter",))
            tv.setncatts({"standard_name": "time", "long_name": "Time axis", "units": TIME_UNITS,
                          "calendar": calendar, "axis": "T"})
            tv[:] = times
            if centered is not None:
                cv = nc.createVariable("time_centered", "f8", ("time_counter",))
                cv.setncatts({"standard_name": "time", "long_name": "Time axis (centred)", "units": TIME_UNITS,
                              "calendar": calendar})
                cv[:] = centered
            for name, v in (("nav_lat", lat), ("nav_lon", lon)):
                var = nc.createVariable(name, v.dtype, ("y", "x"), zlib=True, complevel=1,
                                        fill_value=v.dtype.type(np.nan))
                var.setncatts(ATTRS[name])
                var[:] = v.reshape(ny, nx)
            var = nc.createVariable("tmask", "i1", ("y", "x"), zlib=True, complevel=1)
            var.setncatts({**ATTRS["tmask"], "flag_values": np.array([0, 1], dtype=np.int8),
                           "coordinates": "nav_lat nav_lon"})
            var[:] = tmask.reshape(ny, nx)
            for name, v in static.items():
                var = nc.createVariable(name, "f8", ("y", "x"), zlib=True, complevel=1, fill_value=np.nan)
                var.setncatts({**ATTRS.get(name, {}), "coordinates": "nav_lat nav_lon"})
                var[:] = v.reshape(ny, nx)
            coords = ("time_centered " if centered is not None else "") + "nav_lat nav_lon"
            for name, a in fields.items():
                var = nc.createVariable(str(name), "f4", ("time_counter", "y", "x"), zlib=True, complevel=1,
                                        chunksizes=(1, ny, nx), fill_value=np.float32(np.nan))
                var.setncatts({**ATTRS.get(name, {}), "coordinates": coords})
                if "area" in static:
                    var.cell_measures = "area: area"
                var[:] = a
            stamp = history_stamp()
            nc.Conventions = "CF-1.8"
            nc.title = "converted from a seed-pipeline DataFrame pickle"
            nc.source_pickle = os.path.abspath(src)
            note = f" (rows repeated per {', '.join(bound_dims)} collapsed)" if bound_dims else ""
            nc.history = f"{stamp} convert_pickles.py: converted from {os.path.abspath(src)}{note}"
        _public_mode(tmp)
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------------------------------------------------
# A pickled XGBRegressor


def convert_xgboost(src, dst_dir, fmt="json"):
    """Writes the booster of a pickled XGBoost model as <dst_dir>/<name>.<fmt>; returns (dst, columns, rounds)."""
    try:
        import xgboost
    except ImportError:
        raise ConvertError("reading a pickled XGBoost model needs the xgboost Python package "
                           "(Debian: apt-get install python3-xgboost)")
    try:
        with open(src, "rb") as f:
            obj = pickle.load(f)
    except FileNotFoundError:
        raise ConvertError("no such file")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            ModuleNotFoundError, OSError, xgboost.core.XGBoostError) as e:
        raise ConvertError(f"cannot read the pickle ({type(e).__name__}: {e})")
    if isinstance(obj, xgboost.Booster):
        booster = obj
    elif hasattr(obj, "get_booster"):
        try:
            booster = obj.get_booster()
        except Exception as e:  # NotFittedError and friends
            raise ConvertError(f"the pickled {type(obj).__name__} has no trained booster ({e})")
    else:
        raise ConvertError(f"the pickle holds a {type(obj).__module__}.{type(obj).__name__}, not an XGBoost "
                           "model (XGBRegressor or Booster)")
    base = os.path.basename(src)
    name = base[:-4] if base.endswith(".pkl") else os.path.splitext(base)[0]
    out_dir = os.path.abspath(dst_dir or os.path.dirname(os.path.abspath(src)))
    os.makedirs(out_dir, exist_ok=True)
    dst = os.path.join(out_dir, f"{name}.{fmt}")
    # save_model picks the format from the file name: the temporary file keeps the extension.
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp." + fmt, dir=out_dir)
    os.close(fd)
    try:
        booster.save_model(tmp)
        _public_mode(tmp)
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return dst, booster.num_features(), booster.num_boosted_rounds()


# ---------------------------------------------------------------------------------------------------------------
# Command line


def expand(inputs):
    files, errors = [], []
    for arg in inputs:
        if os.path.isdir(arg):
            found = sorted(glob.glob(os.path.join(arg, "*.pkl")))
            if not found:
                errors.append((arg, "directory holds no *.pkl file"))
            files += found
        elif glob.has_magic(arg) and not os.path.exists(arg):
            found = sorted(glob.glob(arg))
            if not found:
                errors.append((arg, "pattern matches no file"))
            files += found
        else:
            files.append(arg)
    return files, errors


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="convert_pickles.py",
        description="Convert the Python pipeline's yearly DataFrame pickles (*_df.pkl) into fluxkit's NEMO-like "
                    "netCDF, or (--xgboost) its pickled XGBRegressor into an XGBoost JSON/UBJ model.",
        epilog="Pattern fields: {stem} (file name without .pkl and a trailing _df), {name} (without .pkl), "
               "{year} (year of the first time stamp). Errors exit with code 2.")
    ap.add_argument("inputs", nargs="+", metavar="IN_GLOB_OR_FILES", help="pickle files, directories or globs")
    ap.add_argument("--xgboost", action="store_true",
                    help="the inputs are pickled XGBoost models (XGBRegressor): write each as <name>.json")
    ap.add_argument("--format", choices=("json", "ubj"), default="json",
                    help="--xgboost: the model format written (default: %(default)s)")
    ap.add_argument("--output-dir", help="directory of the output files (created if needed); required for "
                                         "DataFrame pickles, next to each input by default with --xgboost")
    ap.add_argument("--pattern", default="{stem}.nc", help="output name relative to --output-dir "
                                                           "(default: %(default)s)")
    ap.add_argument("--quiet", action="store_true", help="print only errors")
    args = ap.parse_args(argv)

    if not args.xgboost and not args.output_dir:
        ap.error("--output-dir is required (except with --xgboost)")
    files, errors = expand(args.inputs)
    for path, msg in errors:
        print(f"convert_pickles: error: {path}: {msg}", file=sys.stderr)
    failed = len(errors)
    log = (lambda *a, **k: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    if args.xgboost:
        for src in files:
            try:
                dst, columns, rounds = convert_xgboost(src, args.output_dir, args.format)
            except ConvertError as e:
                print(f"convert_pickles: error: {src}: {e}", file=sys.stderr)
                failed += 1
                continue
            if not args.quiet:
                print(f"{src} -> {dst}  ({columns} input columns, {rounds} boosting rounds)")
        return 2 if failed else 0
    for src in files:
        try:
            dst, shape, names = convert(src, args.output_dir, args.pattern, log=log)
        except ConvertError as e:
            print(f"convert_pickles: error: {src}: {e}", file=sys.stderr)
            failed += 1
            continue
        except MemoryError:
            print(f"convert_pickles: error: {src}: out of memory", file=sys.stderr)
            failed += 1
            continue
        if not args.quiet:
            print(f"{src} -> {dst}  (time_counter, y, x) = {shape}, {len(names)} fields")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
