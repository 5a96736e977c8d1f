#!/usr/bin/python3
"""python/lumia/lagrange_mp.py, called exactly as LUMIA v2020's obsoperator calls its transport script,
gives what `fluxkit transport` gives when run directly.

Usage: /usr/bin/python3 tests/transport/test_lumia_shim.py <fluxkit binary> <work dir>

Generates a small case with `fluxkit synth footprints`, then runs the shim the way LUMIA does (same
interpreter, same argument order, from path.run, checkfile in a fresh temporary directory there) and
`fluxkit transport` on copies of the same inputs: forward obsdb and adjoint flux file must be identical.
Also: a failing run leaves no check file and passes fluxkit's exit status on; no fluxkit at all -> exit 2.
Needs Debian's python3-pandas and python3-netcdf4.
"""
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

import netCDF4
import numpy as np
import pandas as pd

FLUXKIT, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
HERE = os.path.dirname(os.path.abspath(__file__))
SHIM = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'python', 'lumia', 'lagrange_mp.py')
CASE = os.path.join(WORK, 'case')
RUN = os.path.join(CASE, 'run')       # path.run of the case's rc file


def read_obs(path):
    """The observations of an obsdb archive, as LUMIA's obsdb reads them."""
    with tarfile.open(path, 'r:gz') as tar:
        return pd.read_csv(tar.extractfile('observations.csv'), index_col=0, parse_dates=['time'],
                           float_precision='round_trip')


def read_fields(path):
    """{category: (emis, times_start, times_end)} of a LUMIA flux file."""
    with netCDF4.Dataset(path) as ds:
        return {name: tuple(np.array(g[v][:]) for v in ('emis', 'times_start', 'times_end'))
                for name, g in ds.groups.items()}


def env_with(**changes):
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def lumia_call(args, env=None):
    """What lumia/obsoperator.py does: Popen([python, exec, ...], close_fds=True) in path.run, then wait."""
    proc = subprocess.Popen([sys.executable, SHIM] + args, close_fds=True, cwd=RUN,
                            env=env_with(FLUXKIT=FLUXKIT) if env is None else env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def fluxkit_direct(args):
    subprocess.run([FLUXKIT, 'transport'] + args, check=True, cwd=WORK,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class LumiaShim(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(WORK)
        subprocess.run([FLUXKIT, 'synth', 'footprints', '--output-dir', CASE, '--observations', '24',
                        '--days', '1', '--resolution', '2', '--min-back-days', '1', '--max-back-days', '2',
                        '--particles', '100', '--categories', 'biosphere,fossil,ocean',
                        '--optimize', 'biosphere,fossil', '--threads', '2', '--verbosity', 'warn'], check=True)
        cls.rc = os.path.join(CASE, 'transport.rc')
        cls.db = os.path.join(CASE, 'observations.tar.gz')
        cls.fluxes = os.path.join(CASE, 'fluxes.nc')

    def test_forward_as_lumia_calls_it(self):
        # obsoperator.runForward: model inputs written into path.run, checkfile in a fresh directory there.
        step = 'apri'
        rcf = os.path.join(RUN, 'forward.%s.rc' % step)
        dbf = os.path.join(RUN, 'observations.%s.tar.gz' % step)
        emf = os.path.join(RUN, 'modelData.%s.nc' % step)
        shutil.copy(self.rc, rcf)
        shutil.copy(self.db, dbf)
        shutil.copy(self.fluxes, emf)
        checkf = os.path.join(tempfile.mkdtemp(dir=RUN), 'forward.ok')
        status, _, err = lumia_call(['--rc', rcf, '--forward', '--db', dbf, '--emis', emf, '--checkfile', checkf])
        self.assertEqual(status, 0, err)
        self.assertTrue(os.path.exists(checkf))

        direct = os.path.join(WORK, 'direct_forward.tar.gz')
        shutil.copy(self.db, direct)
        fluxkit_direct(['--forward', '--rc', self.rc, '--db', direct, '--emis', self.fluxes])

        got, want = read_obs(dbf), read_obs(direct)
        for column in ['foreground', 'totals', 'model', 'id', 'biosphere', 'fossil', 'ocean']:
            self.assertIn(column, got.columns)
        self.assertTrue((got['foreground'] > 0).all())
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        # The columns the obsdb came with are untouched; foreground is the forward model of the fluxes.
        before = read_obs(self.db)
        pd.testing.assert_frame_equal(got[before.columns], before, check_exact=True)
        np.testing.assert_allclose(got['foreground'], before['truth'] - before['background'], rtol=1e-12)

    def test_adjoint_as_lumia_calls_it(self):
        # obsoperator.runAdjoint: departures.tar.gz (column dy), adjoint.rc, adjoint.nc, all in path.run.
        dpf = os.path.join(RUN, 'departures.tar.gz')
        rcadj = os.path.join(RUN, 'adjoint.rc')
        adjf = os.path.join(RUN, 'adjoint.nc')
        shutil.copy(self.db, dpf)
        shutil.copy(self.rc, rcadj)
        checkf = os.path.join(tempfile.mkdtemp(dir=RUN), 'adjoint.ok')
        status, _, err = lumia_call(['--adjoint', '--db', dpf, '--rc', rcadj, '--emis', adjf, '--checkfile', checkf])
        self.assertEqual(status, 0, err)
        self.assertTrue(os.path.exists(checkf))
        self.assertTrue(os.path.exists(adjf))

        direct = os.path.join(WORK, 'direct_adjoint.nc')
        fluxkit_direct(['--adjoint', '--rc', self.rc, '--db', self.db, '--emis', direct])
        got, want = read_fields(adjf), read_fields(direct)
        self.assertEqual(sorted(got), ['biosphere', 'fossil'])   # the optimized categories
        self.assertEqual(sorted(want), sorted(got))
        for cat in got:
            for a, b in zip(got[cat], want[cat]):
                np.testing.assert_array_equal(a, b)
            self.assertGreater(np.abs(got[cat][0]).max(), 0)
        # The departures file is not modified by an adjoint run.
        pd.testing.assert_frame_equal(read_obs(dpf), read_obs(self.db), check_exact=True)

    def test_failure_leaves_no_checkfile(self):
        checkf = os.path.join(tempfile.mkdtemp(dir=RUN), 'forward.ok')
        missing = os.path.join(RUN, 'no_such_db.tar.gz')
        args = ['--rc', self.rc, '--forward', '--db', missing, '--emis', self.fluxes, '--checkfile', checkf]
        status, _, err = lumia_call(args)
        self.assertNotEqual(status, 0)
        self.assertFalse(os.path.exists(checkf))
        self.assertIn('no_such_db', err)
        direct = subprocess.run([FLUXKIT, 'transport'] + args, cwd=RUN, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.assertEqual(status, direct.returncode)      # fluxkit's own status, passed on
        self.assertFalse(os.path.exists(checkf))

    def test_output_passes_through(self):
        status, out, _ = lumia_call(['--help'])
        self.assertEqual(status, 0)
        direct = subprocess.run([FLUXKIT, 'transport', '--help'], stdout=subprocess.PIPE, check=True)
        self.assertEqual(out, direct.stdout.decode())

    def test_fluxkit_on_path(self):
        bindir = os.path.join(WORK, 'bin')
        os.makedirs(bindir, exist_ok=True)
        link = os.path.join(bindir, 'fluxkit')
        if not os.path.lexists(link):
            os.symlink(FLUXKIT, link)
        status, out, _ = lumia_call(['--help'], env=env_with(FLUXKIT=None, PATH=bindir))
        self.assertEqual(status, 0)
        direct = subprocess.run([FLUXKIT, 'transport', '--help'], stdout=subprocess.PIPE, check=True)
        self.assertEqual(out, direct.stdout.decode())

    def test_imports_only_what_the_interpreter_has_loaded(self):
        # LUMIA starts the shim twice per iteration: it must not import modules of its own (shutil alone pulls in
        # re, bz2 and lzma, more time than the rest of the script)
        probe = ('import sys; before = set(sys.modules); sys.path.insert(0, sys.argv[1]); import lagrange_mp; '
                 'print(" ".join(sorted(set(sys.modules) - before - {"lagrange_mp"})))')
        out = subprocess.run([sys.executable, '-c', probe, os.path.dirname(SHIM)], stdout=subprocess.PIPE,
                             check=True).stdout.decode().split()
        self.assertEqual(out, [])

    def test_no_fluxkit(self):
        empty = os.path.join(WORK, 'empty_bin')
        os.makedirs(empty, exist_ok=True)
        checkf = os.path.join(tempfile.mkdtemp(dir=RUN), 'forward.ok')
        args = ['--rc', self.rc, '--forward', '--db', self.db, '--emis', self.fluxes, '--checkfile', checkf]
        status, _, err = lumia_call(args, env=env_with(FLUXKIT=None, PATH=empty))
        self.assertEqual(status, 2)
        self.assertIn('FLUXKIT', err)
        self.assertFalse(os.path.exists(checkf))
        # FLUXKIT naming something that is not an executable is an error too, not a fall-back to PATH.
        status, _, err = lumia_call(args, env=env_with(FLUXKIT=os.path.join(empty, 'fluxkit'), PATH=empty))
        self.assertEqual(status, 2)
        self.assertIn('FLUXKIT=', err)
        self.assertFalse(os.path.exists(checkf))


if __name__ == '__main__':
    unittest.main(argv=sys.argv[:1], verbosity=2)
