#!/usr/bin/python3
"""Python's tarfile and pandas read the obsdb archives fluxkit writes, as LUMIA's obsdb.load_tar does.

Usage: /usr/bin/python3 tests/transport/test_obsdb_python.py <work dir> <test binary | archive>

With a test binary (the transport gtest executable), runs its ObsDbExport test, which reads the pandas-written
tests/transport/data/obsdb_python.tar.gz, adds forward-run columns (foreground, biosphere, model) and writes
<work dir>/fluxkit_obsdb.tar.gz with SOURCE_DATE_EPOCH=1600000000. With an archive, checks that archive.
Needs Debian's python3-pandas (1.5).
"""
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import unittest

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGINAL = os.path.join(HERE, 'data', 'obsdb_python.tar.gz')
MEMBERS = ['observations.csv', 'sites.csv', 'files.csv']
NEW_COLUMNS = ['foreground', 'biosphere', 'model']
EPOCH = 1600000000
ARCHIVE = None
PRODUCED_BY_TEST = False


def members(path):
    with tarfile.open(path, 'r:gz') as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}


def load_tar_like_lumia(path):
    """lumia.obsdb.load_tar (v2020): read_csv of each member with index_col=0 (observations with dates)."""
    with tarfile.open(path, 'r:gz') as tar:
        obs = pd.read_csv(tar.extractfile('observations.csv'), index_col=0, parse_dates=['time'],
                          infer_datetime_format='%Y%m%d%H%M%S', float_precision='round_trip')
        sites = pd.read_csv(tar.extractfile('sites.csv'), index_col=0, float_precision='round_trip')
        files = pd.read_csv(tar.extractfile('files.csv'), index_col=0)
    return obs, sites, files


class ObsDbFromFluxkit(unittest.TestCase):
    def test_tar_members(self):
        with tarfile.open(ARCHIVE, 'r:gz') as tar:
            infos = tar.getmembers()
        self.assertEqual([m.name for m in infos], MEMBERS)
        for m in infos:
            self.assertTrue(m.isreg(), m.name)
            self.assertEqual(m.mode, 0o644, m.name)
            if PRODUCED_BY_TEST:
                self.assertEqual(m.mtime, EPOCH, m.name)
        if PRODUCED_BY_TEST:
            with open(ARCHIVE, 'rb') as f:
                header = f.read(10)
            self.assertEqual(header[:3], b'\x1f\x8b\x08')
            self.assertEqual(int.from_bytes(header[4:8], 'little'), EPOCH)
        with gzip.open(ARCHIVE) as f:
            self.assertEqual(len(f.read()) % 10240, 0)

    @unittest.skipUnless(shutil.which('tar'), 'GNU tar not installed')
    def test_gnu_tar_lists_it(self):
        out = subprocess.run(['tar', 'tzf', ARCHIVE], check=True, capture_output=True, text=True).stdout
        self.assertEqual(out.split(), MEMBERS)

    def test_pandas_reads_it_like_lumia(self):
        obs, sites, files = load_tar_like_lumia(ARCHIVE)
        ref_obs, ref_sites, ref_files = load_tar_like_lumia(ORIGINAL)
        self.assertTrue(pd.api.types.is_datetime64_any_dtype(obs['time']))
        pd.testing.assert_frame_equal(sites, ref_sites)
        pd.testing.assert_frame_equal(files, ref_files)
        if PRODUCED_BY_TEST:
            self.assertEqual(list(obs.columns), list(ref_obs.columns) + NEW_COLUMNS)
            pd.testing.assert_frame_equal(obs[ref_obs.columns], ref_obs)
            expected = [0.1 * r - 1.0 for r in range(len(obs))]
            fg = obs['foreground'].to_numpy()
            bio = obs['biosphere'].to_numpy()
            self.assertEqual(fg[3], 0.0)
            self.assertTrue(np.isnan(bio[3]))
            self.assertTrue(pd.isna(obs['model'].iloc[3]))
            for r in range(len(obs)):
                if r == 3:
                    continue
                self.assertEqual(fg[r], expected[r])  # bit-exact with the round-trip parser
                self.assertEqual(bio[r], expected[r])
                self.assertEqual(obs['model'].iloc[r], "{'biosphere': %r}" % expected[r])

    def test_untouched_text_is_pandas_text(self):
        # pandas writes back the exact bytes fluxkit wrote (= the bytes pandas wrote originally).
        ours, ref = members(ARCHIVE), members(ORIGINAL)
        self.assertEqual(ours['sites.csv'], ref['sites.csv'])
        self.assertEqual(ours['files.csv'], ref['files.csv'])
        obs = pd.read_csv(io.BytesIO(ours['observations.csv']), index_col=0, float_precision='round_trip',
                          keep_default_na=True, parse_dates=['time'])
        again = obs.to_csv(date_format='%Y%m%d%H%M%S').encode('utf8')
        self.assertEqual(again, ours['observations.csv'])
        if PRODUCED_BY_TEST:
            ref_text = obs.drop(columns=NEW_COLUMNS).to_csv(date_format='%Y%m%d%H%M%S').encode('utf8')
            self.assertEqual(ref_text, ref['observations.csv'])


def main():
    global ARCHIVE, PRODUCED_BY_TEST
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    work, target = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    if target.endswith('.tar.gz') or target.endswith('.tgz'):
        ARCHIVE = target
    else:
        ARCHIVE = os.path.join(work, 'fluxkit_obsdb.tar.gz')
        if os.path.exists(ARCHIVE):
            os.remove(ARCHIVE)
        env = dict(os.environ, FLUXKIT_OBSDB_EXPORT=ARCHIVE, SOURCE_DATE_EPOCH=str(EPOCH))
        subprocess.run([target, '--gtest_filter=ObsDbExport.*'], check=True, env=env, stdout=subprocess.DEVNULL)
        if not os.path.exists(ARCHIVE):
            print(f'{target} did not write {ARCHIVE}', file=sys.stderr)
            return 1
        PRODUCED_BY_TEST = True
    result = unittest.main(argv=[sys.argv[0], '-v'], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
