#!/usr/bin/python3
"""Files written by `fluxkit synth ocean` open in xarray with CF decoding, and hold the documented truth.

Usage: test_synth_xarray.py <fluxkit binary> <work dir>
"""
import os
import shutil
import subprocess
import sys
import unittest

import numpy as np
import xarray as xr

FLUXKIT, WORK = sys.argv[1], sys.argv[2]
PATTERN = "ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.{tag}_{year}.nc"


def synth(out, *extra):
    subprocess.run([FLUXKIT, "synth", "ocean", "--output-dir", out, "--resolution", "5", "--start-year", "2000",
                    "--end-year", "2001", "--threads", "2", "--verbosity", "warn", *extra], check=True)


class SynthOceanXarray(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(WORK)
        cls.regular = os.path.join(WORK, "regular")
        cls.orca = os.path.join(WORK, "orca")
        synth(cls.regular)
        synth(cls.orca, "--grid", "orca", "--experiments", "experiment_1", "--calendar", "noleap")

    def open(self, root, exp, tag, year):
        return xr.open_dataset(os.path.join(root, exp, PATTERN.format(tag=tag, year=year)))

    def test_cf_decoding(self):
        ds = self.open(self.regular, "experiment_1", "hind", 2001)
        self.assertEqual(ds.attrs["Conventions"], "CF-1.8")
        self.assertEqual(list(ds.time_counter.dt.month.values), list(range(1, 13)))
        self.assertTrue(all(ds.time_counter.dt.year.values == 2001))
        self.assertEqual(ds.SST.attrs["standard_name"], "sea_surface_temperature")
        self.assertEqual(ds.SST.attrs["cell_measures"], "area: area")
        self.assertEqual(ds.co2flux_pre.attrs["units"], "mol m-2 yr-1")
        self.assertIn("nav_lat", ds.SST.coords)
        # Land is NaN after decoding, ocean is finite.
        ocean = ds.tmask.values == 1
        self.assertTrue(np.isnan(ds.SST.values[:, ~ocean]).all())
        self.assertTrue(np.isfinite(ds.SST.values[:, ocean]).all())
        # Cells tile the sphere.
        self.assertAlmostEqual(float(ds.area.sum()) / (4 * np.pi * 6371000.0 ** 2), 1.0, places=3)
        ds.close()

    def test_noleap_orca_file(self):
        ds = self.open(self.orca, "experiment_1", "hind", 2000)
        self.assertEqual(ds.time_counter.attrs.get("calendar", ds.time_counter.encoding.get("calendar")), "noleap")
        self.assertEqual(ds.sizes["x"], 72 + 2)
        self.assertEqual(ds.sizes["y"], 36 + 1)
        land = ds.tmask.values == 0
        # Target land is 1e20 on disk, masked by xarray through missing_value; drivers hold plain 0 on land.
        self.assertTrue(np.isnan(ds.co2flux_pre.values[:, land]).all())
        self.assertTrue((ds.SST.values[:, land] == 0).all())
        # The duplicated halo columns.
        np.testing.assert_array_equal(ds.SST.values[:, :, 0], ds.SST.values[:, :, 72])
        ds.close()

    def test_ground_truth_and_noise(self):
        prev = self.open(self.regular, "experiment_5", "wind", 2000)
        cur = self.open(self.regular, "experiment_5", "wind", 2001)
        both = xr.concat([prev, cur], dim="time_counter")
        d = {v: both[v].values for v in ["SST", "SAL", "ice_frac", "mixed_layer_depth", "heat_flux_down",
                                         "stress_X", "stress_Y", "co2flux_pre"]}
        t = slice(12, 24)
        k = 0.25 + 6.0 * np.hypot(d["stress_X"][t], d["stress_Y"][t])
        truth = (1 - d["ice_frac"][t]) * (k * (0.12 * (18 - d["SST"][t]) + 0.15 * (d["SAL"][t] - 35))
                                         - 0.004 * d["heat_flux_down"][11:23]
                                         - 0.006 * np.maximum(0, d["mixed_layer_depth"][10:22]
                                                              - d["mixed_layer_depth"][9:21]))
        resid = (d["co2flux_pre"][t] - truth)[np.isfinite(truth)]
        noise = float(cur.attrs["fluxkit_target_noise_std"])
        self.assertGreater(resid.size, 10000)
        self.assertAlmostEqual(float(resid.mean()), 0.0, delta=0.02)
        self.assertAlmostEqual(float(resid.std()), noise, delta=0.05 * noise)
        prev.close()
        cur.close()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
