#!/usr/bin/python3
"""Regenerates the obsdb archives the C++ tests read (tests must not run Python themselves).

Run once with Debian's python3 (pandas 1.5): /usr/bin/python3 tests/transport/data/make_obsdb.py
Writes, next to this script:
- obsdb_python.tar.gz: exactly as LUMIA v2020's obsdb.save_tar (pandas to_csv into a temporary directory,
  tarfile 'w:gz', tar.add of observations.csv, sites.csv, files.csv); observations with extra columns,
  quoted strings, NaN, datetimes and floats of every magnitude;
- obsdb_python.<member>: the three members of obsdb_python.tar.gz as extracted (pandas' exact CSV text);
- obsdb_no_files.tar.gz: the same without files.csv (as LUMIA's later save_tar writes it);
- obsdb_gnu.tar.gz: GNU format, members named ./x, a directory entry, a member with a >100 character name
  (GNU 'L' record) and members in another order;
- obsdb_pax.tar.gz: pax format with a global header, a pax 'x' header on observations.csv (non-ASCII uname)
  and a long non-ASCII member name.
"""
import math
import os
import random
import shutil
import sys
import tarfile
import tempfile

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))


def make_db():
    rng = random.Random(20240611)
    n = 40
    times = pd.date_range('2018-01-11 03:00', periods=n, freq='3H')
    sites = ['nor', 'htm', 'nor', 'smr'] * (n // 4)
    floats = [0.1 + 0.2, 1e16, 1e15, 9999999999999998.0, 1e-4, 9.9e-5, 1e-5, -0.0, 0.0, 5e-324,
              1.7976931348623157e308, 2.2250738585072014e-308, 123456789.0, -1.5, 1.0 / 3.0, math.inf,
              -math.inf, math.nan, 4.35, 1e22]
    while len(floats) < n:
        floats.append(rng.choice([-1, 1]) * 10 ** rng.uniform(-30, 30))
    footprints = [f'/data/footprints/{s}.100m.2018-01.h5' for s in sites]
    footprints[3] = math.nan
    obs = pd.DataFrame({
        'time': times,
        'site': sites,
        'lat': [58.25 if s == 'nor' else 56.1 for s in sites],
        'lon': [17.5 if s == 'nor' else 13.42 for s in sites],
        'alt': [45.0] * n,
        'height': [100.0] * n,
        'obs': [410 + rng.gauss(0, 3) for _ in range(n)],
        'err': [rng.uniform(0.5, 2.0) for _ in range(n)],
        'background': [405 + rng.gauss(0, 1) for _ in range(n)],
        'footprint': footprints,
        'dy': [rng.gauss(0, 1) for _ in range(n)],
        'tricky': floats,
        'count': list(range(n)),
        'flag': [i % 3 == 0 for i in range(n)],
        'note': ['plain', 'a, b', 'say "hi"', 'two\nlines', ' padded ', '', 'semi;colon', "{'biosphere': 1.5}",
                 'é ü', 'x'] * (n // 10),
    })
    obs.loc[5, 'obs'] = math.nan
    obs.loc[7, 'note'] = math.nan
    site_table = pd.DataFrame({
        'code': ['htm', 'nor', 'smr'],
        'name': ['Hyltemossa', 'Norunda', 'Hyytiälä, SMEAR II'],
        'lat': [56.1, 60.0864, 61.8474],
        'lon': [13.42, 17.4794, 24.2947],
        'alt': [115.0, 46.0, 181.0],
        'height': [150.0, 100.0, 125.0],
        'mobile': [False, False, math.nan],
    }, index=['htm', 'nor', 'smr'])
    files = pd.DataFrame(columns=['filename'])
    return obs, site_table, files


def save_tar(obs, site_table, files, filename, with_files=True):
    """LUMIA v2020 obsdb.save_tar."""
    filename = os.path.abspath(filename)
    dirname, base = os.path.split(filename)
    tmpdir = tempfile.mkdtemp(dir=dirname)
    curdir = os.getcwd()
    os.chdir(tmpdir)
    try:
        with tarfile.open(base, 'w:gz') as tar:
            obs.to_csv('observations.csv', date_format='%Y%m%d%H%M%S', encoding='utf8')
            site_table.to_csv('sites.csv', encoding='utf-8')
            if with_files:
                files.to_csv('files.csv')
            tar.add('observations.csv')
            tar.add('sites.csv')
            if with_files:
                tar.add('files.csv')
    finally:
        os.chdir(curdir)
    os.rename(os.path.join(tmpdir, base), filename)
    shutil.rmtree(tmpdir)


def csv_texts(obs, site_table, files):
    return {
        'observations.csv': obs.to_csv(date_format='%Y%m%d%H%M%S').encode('utf8'),
        'sites.csv': site_table.to_csv().encode('utf8'),
        'files.csv': files.to_csv().encode('utf8'),
    }


def add_bytes(tar, name, data, **attrs):
    import io
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1600000000
    info.mode = 0o644
    for k, v in attrs.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data))


def main():
    obs, site_table, files = make_db()
    save_tar(obs, site_table, files, os.path.join(HERE, 'obsdb_python.tar.gz'))
    save_tar(obs, site_table, files, os.path.join(HERE, 'obsdb_no_files.tar.gz'), with_files=False)
    with tarfile.open(os.path.join(HERE, 'obsdb_python.tar.gz'), 'r:gz') as tar:
        for member in ['observations.csv', 'sites.csv', 'files.csv']:
            with open(os.path.join(HERE, 'obsdb_python.' + member), 'wb') as f:
                f.write(tar.extractfile(member).read())
    texts = csv_texts(obs, site_table, files)
    assert texts['observations.csv'] == open(os.path.join(HERE, 'obsdb_python.observations.csv'), 'rb').read()

    with tarfile.open(os.path.join(HERE, 'obsdb_gnu.tar.gz'), 'w:gz', format=tarfile.GNU_FORMAT) as tar:
        d = tarfile.TarInfo('./')
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        d.mtime = 1600000000
        tar.addfile(d)
        add_bytes(tar, './files.csv', texts['files.csv'])
        add_bytes(tar, './' + 'long_' * 30 + 'name.csv', b'not,an,obsdb,member\n')
        add_bytes(tar, './sites.csv', texts['sites.csv'])
        add_bytes(tar, './observations.csv', texts['observations.csv'])

    with tarfile.open(os.path.join(HERE, 'obsdb_pax.tar.gz'), 'w:gz', format=tarfile.PAX_FORMAT,
                      pax_headers={'comment': 'fluxkit test archive'}) as tar:
        add_bytes(tar, 'observations.csv', texts['observations.csv'], uname='ünïcode')
        add_bytes(tar, 'sites.csv', texts['sites.csv'])
        add_bytes(tar, 'ünïcode_' + 'x' * 120 + '.csv', b'a,b\n1,2\n')
        add_bytes(tar, 'files.csv', texts['files.csv'])

    for name in ['obsdb_python.tar.gz', 'obsdb_no_files.tar.gz', 'obsdb_gnu.tar.gz', 'obsdb_pax.tar.gz']:
        with tarfile.open(os.path.join(HERE, name), 'r:gz') as tar:
            print(name, [(m.name, m.type, m.size) for m in tar.getmembers()])
    return 0


if __name__ == '__main__':
    sys.exit(main())
