#!/usr/bin/python3
"""fluxkit reads packed netCDF input as netCDF4-python unpacks it (scale_factor, add_offset, _Unsigned,
valid_range, _FillValue), and rejects packing the conventions do not define.

Usage: /usr/bin/python3 tests/python/test_packed_netcdf.py <fluxkit binary> <work dir>

Writes a small synthetic experiment (`fluxkit synth ocean`), then a copy whose drivers, target and cell widths
are packed by netCDF4-python (its automatic packing on write: shorts with float or double scale_factor and
add_offset, unsigned bytes through _Unsigned, an unsigned short, an int; one target value outside valid_range),
runs `fluxkit prepare` on both and checks the training store built from the packed copy against the values
netCDF4-python unpacks: exactly the conventions' double-precision unpacking rounded to the attributes' type,
within float rounding of netCDF4-python's own, within half a packing step of the unpacked original, and without
the cell whose target is out of range. Needs Debian's python3-netcdf4 and python3-numpy.
"""
import glob
import os
import shutil
import subprocess
import sys
import unittest

import netCDF4
import numpy as np

FLUXKIT = None
WORK = None
YEARS = (2001, 2002)  # training target years; the files 2000-2002 are written
OUT_OF_RANGE = (3, 2)  # (month index in 2002, index of the ocean cell) whose packed target is out of range

# variable -> (packed dtype, attribute dtype, _FillValue, extra attributes)
PACKING = {
    'SST': ('i2', np.float32, np.int16(-32767), {}),
    'SAL': ('i2', np.float64, np.int16(-32767), {}),
    'ice_frac': ('i1', np.float32, np.int8(-1), {'_Unsigned': 'true'}),
    'mixed_layer_depth': ('u2', np.float32, np.uint16(65535), {'valid_min': np.uint16(0)}),
    'heat_flux_down': ('i2', np.float32, np.int16(-32767), {}),
    'co2flux_pre': ('i2', np.float32, np.int16(-32767),
                    {'valid_range': np.array([-31000, 31000], dtype=np.int16)}),
    'e1t': ('i4', np.float64, None, {}),
}


def run(*args, check=True):
    proc = subprocess.run([FLUXKIT, *args], cwd=WORK, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f'fluxkit {" ".join(args)} failed ({proc.returncode}):\n{proc.stderr}')
    return proc


def scale_and_offset(name, data, dtype, att_type):
    lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
    if name == 'ice_frac':  # 0..1 onto the unsigned bytes 0..250
        return att_type(1.0 / 250.0), att_type(0.0)
    if name == 'mixed_layer_depth':  # unsigned: 0..60000
        return att_type(hi / 60000.0), att_type(0.0)
    if dtype == 'i4':
        return att_type(0.001), att_type(0.0)
    return att_type((hi - lo) / 60000.0), att_type((hi + lo) / 2.0)


def write_packed_copy(src_path, dst_path, poke=False, mixed_types=False):
    """A copy of src_path in which the PACKING variables are packed by netCDF4-python on write."""
    with netCDF4.Dataset(src_path) as src, netCDF4.Dataset(dst_path, 'w', format='NETCDF4') as dst:
        dst.setncatts({k: src.getncattr(k) for k in src.ncattrs()})
        for name, dim in src.dimensions.items():
            dst.createDimension(name, None if dim.isunlimited() else len(dim))
        for name, var in src.variables.items():
            var.set_auto_maskandscale(False)
            data = var[:]
            attrs = {k: var.getncattr(k) for k in var.ncattrs() if k not in ('_FillValue', 'missing_value')}
            if name not in PACKING:
                fill = var.getncattr('_FillValue') if '_FillValue' in var.ncattrs() else None
                out = dst.createVariable(name, var.dtype, var.dimensions, fill_value=fill)
                if 'missing_value' in var.ncattrs():
                    attrs['missing_value'] = var.getncattr('missing_value')
                out.setncatts(attrs)
                out.set_auto_maskandscale(False)
                out[:] = data
                continue
            dtype, att_type, fill, extra = PACKING[name]
            out = dst.createVariable(name, dtype, var.dimensions, fill_value=fill)
            out.setncatts(attrs)
            scale, offset = scale_and_offset(name, data, dtype, att_type)
            out.scale_factor = scale
            out.add_offset = np.float64(offset) if mixed_types and name == 'SST' else offset
            for key, value in extra.items():
                out.setncattr(key, value)
            out[:] = np.ma.masked_invalid(np.asarray(data, dtype=np.float64))  # netCDF4-python packs
            if poke and name == 'co2flux_pre':
                t, c = OUT_OF_RANGE
                y, x = ocean_cells(src)[c]
                out.set_auto_maskandscale(False)
                out[t, y, x] = np.int16(32500)  # above valid_range: missing


def ocean_cells(ds):
    mask = ds['tmask'][:]
    return [tuple(int(i) for i in yx) for yx in np.argwhere(np.asarray(mask) == 1)]


def exact_unpacked(var):
    """The conventions' unpacking: raw values in double, packed * scale_factor + add_offset in double,
    rounded to the attributes' type; _FillValue and values outside the valid range are NaN."""
    var.set_auto_maskandscale(False)
    raw = np.asarray(var[:]).astype(np.float64)
    atts = var.ncattrs()
    missing = np.zeros(raw.shape, dtype=bool)
    if '_FillValue' in atts:
        missing |= raw == float(var.getncattr('_FillValue'))
    if var.getncattr('_Unsigned') == 'true' if '_Unsigned' in atts else False:
        raw = np.where(raw < 0, raw + 2.0 ** (8 * var.dtype.itemsize), raw)
    if 'valid_range' in atts:
        lo, hi = (float(v) for v in var.getncattr('valid_range'))
        missing |= (raw < lo) | (raw > hi)
    if 'valid_min' in atts:
        missing |= raw < float(var.getncattr('valid_min'))
    scale = var.getncattr('scale_factor')
    offset = var.getncattr('add_offset')
    value = raw * np.float64(scale) + np.float64(offset)
    value = value.astype(np.asarray(scale).dtype).astype(np.float64)
    value[missing] = np.nan
    var.set_auto_maskandscale(True)
    return value


def read_store(path):
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        return {
            'features': ds.getncattr('features').split(','),
            'inputs': np.asarray(ds['inputs'][:]),
            'target': np.asarray(ds['target'][:]),
            'y': np.asarray(ds['y'][:]).astype(int),
            'x': np.asarray(ds['x'][:]).astype(int),
            'area': np.asarray(ds['area'][:]),
        }


class PackedInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(WORK)
        run('synth', 'ocean', '--output-dir', 'plain', '--resolution', '10', '--start-year', '2000',
            '--end-year', str(YEARS[1]), '--experiments', 'experiment_5', '--verbosity', 'warn')
        for src in glob.glob(os.path.join(WORK, 'plain', '**', '*.nc'), recursive=True):
            rel = os.path.relpath(src, os.path.join(WORK, 'plain'))
            dst = os.path.join(WORK, 'packed', rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            write_packed_copy(src, dst, poke=src.endswith(f'_{YEARS[1]}.nc'))
        prep = ['prepare', '--splits', 'train', '--train-years', f'{YEARS[0]},{YEARS[1]}', '--train-fraction',
                '1', '--verbosity', 'warn']
        run(*prep, '--root', 'plain', '--output-dir', 'out_plain')
        run(*prep, '--root', 'packed', '--output-dir', 'out_packed')
        cls.plain = read_store(os.path.join(WORK, 'out_plain', 'train.nc'))
        cls.packed = read_store(os.path.join(WORK, 'out_packed', 'train.nc'))
        cls.files = [glob.glob(os.path.join(WORK, 'packed', '**', f'*_{y}.nc'), recursive=True)[0]
                     for y in range(YEARS[0], YEARS[1] + 1)]

    def test_the_copy_is_really_packed(self):
        with netCDF4.Dataset(self.files[0]) as ds:
            self.assertEqual(ds['SST'].dtype, np.int16)
            self.assertEqual(ds['ice_frac'].dtype, np.int8)
            self.assertEqual(ds['ice_frac'].getncattr('_Unsigned'), 'true')
            self.assertEqual(ds['mixed_layer_depth'].dtype, np.uint16)
            self.assertEqual(np.asarray(ds['SAL'].scale_factor).dtype, np.float64)
            ds['ice_frac'].set_auto_maskandscale(False)
            self.assertTrue((np.asarray(ds['ice_frac'][:]) < 0).any(), 'some bytes above 127 as unsigned')

    def test_values_are_the_unpacked_values(self):
        p = self.packed
        cells = list(zip(p['y'], p['x']))
        for f, name in enumerate(p['features']):
            if name not in PACKING:
                continue
            for k, path in enumerate(self.files):
                with netCDF4.Dataset(path) as ds:
                    python = np.ma.filled(ds[name][:].astype(np.float64), np.nan)  # netCDF4's unpacking
                    exact = exact_unpacked(ds[name])
                for c, (y, x) in enumerate(cells):
                    got = p['inputs'][c, 12 * k:12 * (k + 1), f]
                    want = exact[:, y, x].astype(np.float32)
                    np.testing.assert_array_equal(got, want, err_msg=f'{name} year {k} cell {(y, x)}')
                    np.testing.assert_allclose(got, python[:, y, x], rtol=1e-6, atol=1e-6 * np.nanmax(
                        np.abs(python)), err_msg=f'{name} vs netCDF4-python')
        for k, path in enumerate(self.files):
            with netCDF4.Dataset(path) as ds:
                exact = exact_unpacked(ds['co2flux_pre'])
            for c, (y, x) in enumerate(cells):
                np.testing.assert_array_equal(p['target'][c, 12 * k:12 * (k + 1)],
                                              exact[:, y, x].astype(np.float32))

    def test_packed_values_are_within_half_a_step_of_the_original(self):
        p, q = self.packed, self.plain
        index = {yx: c for c, yx in enumerate(zip(q['y'], q['x']))}
        rows = [index[yx] for yx in zip(p['y'], p['x'])]
        steps = {n: 0.0 for n in PACKING}  # the packing step differs between the yearly files
        for path in self.files:
            with netCDF4.Dataset(path) as ds:
                for n in PACKING:
                    steps[n] = max(steps[n], float(ds[n].scale_factor))
        for f, name in enumerate(p['features']):
            if name in PACKING:
                diff = np.abs(p['inputs'][:, :, f] - q['inputs'][rows, :, f])
                # Half a step, plus the float32 rounding of the original and of the unpacked values.
                ulp = float(np.spacing(np.float32(np.max(np.abs(q['inputs'][rows, :, f])))))
                self.assertLessEqual(float(diff.max()), 0.5 * steps[name] * (1 + 1e-3) + 4 * ulp, name)
                self.assertGreater(float(diff.max()), 0.0, f'{name} was not packed')
            else:
                np.testing.assert_array_equal(p['inputs'][:, :, f], q['inputs'][rows, :, f], name)
        # Cell areas from the packed int e1t (double scale_factor 0.001 m).
        self.assertLessEqual(float(np.max(np.abs(p['area'] / q['area'][rows] - 1))), 1e-8)

    def test_a_value_outside_valid_range_drops_its_cell(self):
        with netCDF4.Dataset(self.files[-1]) as ds:
            y, x = ocean_cells(ds)[OUT_OF_RANGE[1]]
            self.assertIs(ds['co2flux_pre'][OUT_OF_RANGE[0], y, x], np.ma.masked)
        packed = set(zip(self.packed['y'], self.packed['x']))
        plain = set(zip(self.plain['y'], self.plain['x']))
        self.assertEqual(plain - packed, {(y, x)})

    def test_unsupported_packing_is_an_error_naming_file_and_variable(self):
        bad = os.path.join(WORK, 'bad')
        shutil.copytree(os.path.join(WORK, 'packed'), bad)
        path = glob.glob(os.path.join(bad, '**', f'*_{YEARS[0]}.nc'), recursive=True)[0]
        os.remove(path)
        plain = glob.glob(os.path.join(WORK, 'plain', '**', f'*_{YEARS[0]}.nc'), recursive=True)[0]
        write_packed_copy(plain, path, mixed_types=True)  # SST: float scale_factor, double add_offset
        proc = run('prepare', '--splits', 'train', '--train-years', f'{YEARS[0]},{YEARS[1]}', '--root', 'bad',
                   '--output-dir', 'out_bad', check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(os.path.relpath(path, WORK), proc.stderr)
        self.assertIn("variable 'SST'", proc.stderr)
        self.assertIn('unsupported packing: scale_factor is float but add_offset is double', proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(WORK, 'out_bad', 'train.nc')))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    FLUXKIT = os.path.abspath(sys.argv[1])
    WORK = os.path.abspath(sys.argv[2])
    unittest.main(argv=sys.argv[:1], verbosity=2)
