#!/usr/bin/python3
"""python/fluxkit/convert_pickles.py turns seed-style DataFrame pickles back into the netCDF fluxkit wrote.

A tiny synthetic experiment (10 degrees, 2000-2001, experiment_1; regular and ORCA grids) is turned into pickles
the way the seed pipeline's inputs were made (`xarray.open_dataset(f).to_dataframe()`), converted back with the
command-line tool, and compared with the original files: every driver and the target, coordinates, tmask, metrics
and decoded time. Then the error cases (exit code 2, message naming the file and the problem).

Usage: test_convert_pickles.py <fluxkit binary> <work dir>
"""
import glob
import os
import pickle
import shutil
import subprocess
import sys
import unittest

import numpy as np
import pandas as pd
import xarray as xr

FLUXKIT, WORK = sys.argv[1], sys.argv[2]
TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "fluxkit",
                    "convert_pickles.py")
PATTERN = "ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.hind_{year}"
YEARS = (2000, 2001)
FIELDS = ["SST", "SAL", "ice_frac", "mixed_layer_depth", "heat_flux_down", "water_flux_up", "stress_X",
          "stress_Y", "currents_X", "currents_Y", "co2flux_pre"]
BOUNDS = ["time_counter_bounds", "time_centered_bounds"]


def synth(out, *extra):
    subprocess.run([FLUXKIT, "synth", "ocean", "--output-dir", out, "--resolution", "10", "--start-year",
                    str(YEARS[0]), "--end-year", str(YEARS[1]), "--experiments", "experiment_1", "--threads", "2",
                    "--verbosity", "warn", *extra], check=True)


def original(grid, year):
    return os.path.join(WORK, "synth", grid, "experiment_1", PATTERN.format(year=year) + ".nc")


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True)


def write_pickle(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


def make_pickles(kind, make_frame):
    """One pickle per (grid, year) made by make_frame(dataset); returns {grid: directory}."""
    dirs = {}
    for grid in ("regular", "orca"):
        d = os.path.join(WORK, "pkl", kind, grid)
        for year in YEARS:
            with xr.open_dataset(original(grid, year)) as ds:
                df = make_frame(ds)
            os.makedirs(d, exist_ok=True)
            df.to_pickle(os.path.join(d, PATTERN.format(year=year) + "_df.pkl"))
        dirs[grid] = d
    return dirs


class ConvertPickles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(WORK)
        synth(os.path.join(WORK, "synth", "regular"))
        synth(os.path.join(WORK, "synth", "orca"), "--grid", "orca")
        # Exactly the seed recipe: every variable, index moved to columns.
        cls.raw = make_pickles("raw", lambda ds: ds.to_dataframe().reset_index())

    # -- helpers ---------------------------------------------------------------------------------------------------

    def convert(self, in_dir, kind, grid, *extra):
        out = os.path.join(WORK, "nc", kind, grid)
        r = run_tool(os.path.join(in_dir, "*_df.pkl"), "--output-dir", out, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def assert_same(self, grid, out_dir, year, metrics=("e1t", "e2t", "area"), time_centered=True):
        conv_path = os.path.join(out_dir, PATTERN.format(year=year) + ".nc")
        self.assertEqual(glob.glob(os.path.join(out_dir, ".*")), [], "temporary files left behind")
        with xr.open_dataset(original(grid, year)) as orig, xr.open_dataset(conv_path) as conv:
            self.assertEqual(dict(conv.sizes), {"time_counter": 12, "y": orig.sizes["y"], "x": orig.sizes["x"]})
            # Time decodes to the same stamps; the on-disk encoding is CF seconds since 1900, standard calendar.
            np.testing.assert_array_equal(conv.time_counter.values, orig.time_counter.values)
            self.assertEqual(conv.time_counter.encoding["units"], "seconds since 1900-01-01 00:00:00")
            self.assertEqual(conv.time_counter.encoding["calendar"], "standard")
            if time_centered:
                np.testing.assert_array_equal(conv.time_centered.values, orig.time_centered.values)
            for c in ("nav_lat", "nav_lon"):
                self.assertEqual(conv[c].dims, ("y", "x"))
                np.testing.assert_array_equal(conv[c].values, orig[c].values, err_msg=c)
            self.assertEqual(conv.tmask.dims, ("y", "x"))
            np.testing.assert_array_equal(conv.tmask.values, orig.tmask.values)
            for c in metrics:
                self.assertEqual(conv[c].dims, ("y", "x"))
                np.testing.assert_array_equal(conv[c].values, orig[c].values, err_msg=c)
            ocean = orig.tmask.values == 1
            for v in FIELDS:
                a, b = conv[v], orig[v]
                self.assertEqual(a.dims, ("time_counter", "y", "x"))
                self.assertEqual(a.dtype, np.float32, v)
                self.assertTrue(np.isnan(a.encoding["_FillValue"]), v)
                self.assertEqual(a.attrs["units"], b.attrs["units"], v)
                if grid == "regular":
                    # Land is NaN in both; assert_array_equal treats NaN == NaN.
                    np.testing.assert_array_equal(a.values, b.values, err_msg=v)
                    self.assertTrue(np.isnan(a.values[:, ~ocean]).all(), v)
                else:
                    # ORCA drivers hold 0 on land with no fill attribute: only tmask tells it is land.
                    np.testing.assert_array_equal(a.values[:, ocean], b.values[:, ocean], err_msg=v)
                    self.assertTrue(np.isfinite(a.values[:, ocean]).all(), v)
            self.assertTrue(np.isnan(conv.co2flux_pre.values[:, ~ocean]).all())
            self.assertEqual(conv.attrs["Conventions"], "CF-1.8")
            self.assertIn(PATTERN.format(year=year) + "_df.pkl", conv.attrs["history"])

    # -- round trips -----------------------------------------------------------------------------------------------

    def test_roundtrip_seed_recipe(self):
        # to_dataframe of a file with time bounds repeats every row per bound (axis_nbounds); the tool collapses it.
        with open(os.path.join(self.raw["regular"], PATTERN.format(year=2000) + "_df.pkl"), "rb") as f:
            df = pickle.load(f)
        self.assertIsInstance(df.index, pd.RangeIndex)
        self.assertIn("axis_nbounds", df.columns)
        for grid in ("regular", "orca"):
            out = self.convert(self.raw[grid], "raw", grid)
            for year in YEARS:
                self.assert_same(grid, out, year)

    def test_roundtrip_spec_columns(self):
        # Exactly the columns of spec §2.2 (no bounds, no area), RangeIndex.
        dirs = make_pickles("spec", lambda ds: ds.drop_vars(BOUNDS + ["area"]).to_dataframe().reset_index())
        with open(os.path.join(dirs["orca"], PATTERN.format(year=2001) + "_df.pkl"), "rb") as f:
            cols = set(pickle.load(f).columns)
        self.assertEqual(cols, {"nav_lat", "nav_lon", "time_counter", "time_centered", "x", "y", "tmask", "e1t",
                                "e2t", *FIELDS})
        for grid in ("regular", "orca"):
            out = self.convert(dirs[grid], "spec", grid)
            for year in YEARS:
                self.assert_same(grid, out, year, metrics=("e1t", "e2t"))
                with xr.open_dataset(os.path.join(out, PATTERN.format(year=year) + ".nc")) as ds:
                    self.assertNotIn("area", ds)

    def test_roundtrip_multiindex(self):
        # The index left by to_dataframe(), reordered to (time_counter, y, x) and shuffled.
        def frame(ds):
            df = ds.drop_vars(BOUNDS).to_dataframe().reorder_levels(["time_counter", "y", "x"])
            return df.sample(frac=1.0, random_state=1)
        dirs = make_pickles("multi", frame)
        for grid in ("regular", "orca"):
            out = self.convert(dirs[grid], "multi", grid)
            for year in YEARS:
                self.assert_same(grid, out, year)

    def test_roundtrip_multiindex_with_bounds_level(self):
        dirs = make_pickles("multibnds", lambda ds: ds.to_dataframe())
        out = self.convert(dirs["regular"], "multibnds", "regular")
        self.assert_same("regular", out, 2001)

    def test_absent_cells(self):
        # Ocean rows only, tmask column gone: absent cells are land (tmask 0, NaN), coordinates filled on a
        # regular grid, and the ocean values are unchanged.
        def frame(ds):
            df = ds.drop_vars(BOUNDS).to_dataframe().reset_index()
            return df[df.tmask == 1].drop(columns=["tmask"]).reset_index(drop=True)
        dirs = make_pickles("ocean_only", frame)
        out = self.convert(dirs["regular"], "ocean_only", "regular")
        self.assert_same("regular", out, 2000, metrics=())
        # ORCA: missing cells keep NaN coordinates unless the grid is regular; ocean values still round-trip.
        out = self.convert(dirs["orca"], "ocean_only", "orca")
        conv_path = os.path.join(out, PATTERN.format(year=2001) + ".nc")
        with xr.open_dataset(original("orca", 2001)) as orig, xr.open_dataset(conv_path) as conv:
            ocean = orig.tmask.values == 1
            np.testing.assert_array_equal(conv.tmask.values, orig.tmask.values)
            for v in FIELDS:
                np.testing.assert_array_equal(conv[v].values[:, ocean], orig[v].values[:, ocean], err_msg=v)
                self.assertTrue(np.isnan(conv[v].values[:, ~ocean]).all(), v)
            np.testing.assert_array_equal(conv.nav_lat.values[ocean], orig.nav_lat.values[ocean])

    def test_pattern(self):
        out = os.path.join(WORK, "nc", "pattern")
        src = os.path.join(self.raw["regular"], PATTERN.format(year=2001) + "_df.pkl")
        r = run_tool(src, "--output-dir", out, "--pattern", "{year}/{name}.nc", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertTrue(os.path.isfile(os.path.join(out, "2001", PATTERN.format(year=2001) + "_df.nc")))

    # -- errors ----------------------------------------------------------------------------------------------------

    def assert_error(self, obj, problem, name):
        d = os.path.join(WORK, "bad")
        path = write_pickle(obj, os.path.join(d, name))
        out = os.path.join(WORK, "nc", "bad_" + name)
        r = run_tool(path, "--output-dir", out)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(path, r.stderr)
        self.assertIn(problem, r.stderr)
        self.assertEqual(glob.glob(os.path.join(out, "*")) + glob.glob(os.path.join(out, ".*")), [])
        return r.stderr

    def spec_frame(self):
        with xr.open_dataset(original("regular", 2000)) as ds:
            return ds.drop_vars(BOUNDS).to_dataframe().reset_index()

    def test_error_missing_columns(self):
        df = self.spec_frame()
        for c in ("x", "y", "time_counter", "nav_lat", "nav_lon"):
            msg = self.assert_error(df.drop(columns=[c]), "missing column " + c, f"no_{c}_df.pkl")
            self.assertEqual(msg.count("error"), 1)

    def test_error_duplicates(self):
        df = self.spec_frame()
        self.assert_error(pd.concat([df, df.iloc[[5]]], ignore_index=True), "duplicate (time_counter, y, x)",
                          "dup_df.pkl")

    def test_error_not_a_dataframe(self):
        self.assert_error([1, 2, 3], "not a pandas DataFrame", "list_df.pkl")
        self.assert_error(self.spec_frame()["SST"], "not a pandas DataFrame", "series_df.pkl")

    def test_error_unreadable_and_missing(self):
        bad = os.path.join(WORK, "bad", "garbage_df.pkl")
        os.makedirs(os.path.dirname(bad), exist_ok=True)
        with open(bad, "wb") as f:
            f.write(b"not a pickle at all")
        r = run_tool(bad, "--output-dir", os.path.join(WORK, "nc", "garbage"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(bad, r.stderr)
        self.assertIn("cannot read the pickle", r.stderr)
        r = run_tool(os.path.join(WORK, "bad", "absent_df.pkl"), "--output-dir", os.path.join(WORK, "nc", "x"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such file", r.stderr)
        r = run_tool(os.path.join(WORK, "bad", "nothing*.pkl"), "--output-dir", os.path.join(WORK, "nc", "x"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("matches no file", r.stderr)

    def test_error_does_not_stop_other_files(self):
        good = os.path.join(self.raw["regular"], PATTERN.format(year=2000) + "_df.pkl")
        bad = write_pickle({"a": 1}, os.path.join(WORK, "bad", "dict_df.pkl"))
        out = os.path.join(WORK, "nc", "mixed")
        r = run_tool(bad, good, "--output-dir", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn(bad, r.stderr)
        self.assertEqual(os.listdir(out), [PATTERN.format(year=2000) + ".nc"])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
