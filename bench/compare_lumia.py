#!/usr/bin/python3
"""Helper of bench/compare_lumia.sh: dependency check, output comparison and the results table.

  compare_lumia.py deps LUMIA_DIR                  LUMIA v2020's Python modules importable? (else the apt-get line)
  compare_lumia.py forward INPUT_DB REF_DB DB LABEL   forward obsdb of a fluxkit run against LUMIA's (REF_DB)
  compare_lumia.py adjoint REF_NC NC LABEL         adjoint flux file of a fluxkit run against LUMIA's (REF_NC)
  compare_lumia.py table RESULTS CASE_LOG CASE_DIR ADJOINT_NC   the table of times and peak memory

`forward` and `adjoint` exit 1 when the outputs disagree beyond the tolerance (TOLERANCE, default 1e-6).
"""
import ast
import importlib
import os
import sys
import tarfile

TOLERANCE = float(os.environ.get("TOLERANCE", "1e-6"))

# The modules `import lumia` (v2020) pulls in, and the Debian packages that hold them.
MODULES = [("numpy", "python3-numpy"), ("pandas", "python3-pandas"), ("h5py", "python3-h5py"),
           ("netCDF4", "python3-netcdf4"), ("xarray", "python3-xarray"), ("tqdm", "python3-tqdm"),
           ("cartopy", "python3-cartopy"), ("shapely", "python3-shapely"), ("matplotlib", "python3-matplotlib"),
           ("dateutil", "python3-dateutil")]


def deps(lumia_dir):
    missing = []
    for module, package in MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        print("compare_lumia: LUMIA v2020 needs Python modules that %s cannot import; install them with\n"
              "  apt-get install %s" % (sys.executable, " ".join(missing)), file=sys.stderr)
        return 1
    sys.path.insert(0, lumia_dir)
    os.environ.setdefault("INTERACTIVE", "F")
    try:
        importlib.import_module("lumia")
    except Exception as err:  # noqa: BLE001 - any failure of LUMIA's import is reported as is
        print("compare_lumia: `import lumia` from %s fails: %r" % (lumia_dir, err), file=sys.stderr)
        return 1
    import numpy
    import pandas
    print("python %s, numpy %s, pandas %s (LUMIA v2020 expects numpy < 2 and pandas < 2)"
          % (sys.version.split()[0], numpy.__version__, pandas.__version__))
    return 0


def read_obs(path):
    import pandas as pd
    with tarfile.open(path, "r:gz") as tar:
        return pd.read_csv(tar.extractfile("observations.csv"), index_col=0, float_precision="round_trip")


def relative(a, b):
    """max |a - b| / |b| over the rows, |b| floored at 1e-9 of the column's largest |b|."""
    import numpy as np
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(b), 1e-9 * np.nanmax(np.abs(b)) if np.isfinite(b).any() else 1.0)
    d = np.abs(a - b) / scale
    return float(np.nanmax(d)) if np.isfinite(d).any() else 0.0


def forward(input_db, ref_db, db, label):
    import numpy as np
    before, ref, got = read_obs(input_db), read_obs(ref_db), read_obs(db)
    ok = True
    problems = []
    if list(ref.index) != list(got.index):
        problems.append("different rows")
    new = [c for c in ref.columns if c not in before.columns]
    missing = [c for c in ref.columns if c not in got.columns]
    if missing:
        problems.append("columns missing: %s" % ", ".join(missing))
    report = []
    for c in new:
        if c in missing or problems:
            continue
        if c == "model":
            # repr of {category: value} per row: same keys, values within the tolerance.
            worst = 0.0
            for x, y in zip(ref[c], got[c]):
                if isinstance(x, str) != isinstance(y, str):
                    problems.append("model: computed in one run only")
                    break
                if not isinstance(x, str):
                    continue
                dx, dy = ast.literal_eval(x), ast.literal_eval(y)
                if sorted(dx) != sorted(dy):
                    problems.append("model: categories %s vs %s" % (sorted(dx), sorted(dy)))
                    break
                worst = max([worst] + [relative([dy[k]], [dx[k]]) for k in dx])
            report.append((c, worst))
            continue
        a, b = got[c].to_numpy(dtype=float), ref[c].to_numpy(dtype=float)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            problems.append("%s: NaN (skipped observations) in different rows" % c)
            continue
        report.append((c, relative(a, b)))
    # Every column the db came with is carried through by both.
    for c in before.columns:
        if c not in got.columns:
            problems.append("input column %s dropped" % c)
        elif got[c].dtype.kind == "f" and ref[c].dtype.kind == "f":
            if relative(got[c], ref[c]) > 1e-12:
                problems.append("input column %s changed" % c)
        elif not (got[c].astype(str) == ref[c].astype(str)).all():
            problems.append("input column %s changed" % c)
    worst = max([r for _, r in report] + [0.0])
    ok = worst <= TOLERANCE
    print("  forward %-15s max relative difference to LUMIA: %s%s" % (
        label, ", ".join("%s %.1e" % (c, r) for c, r in report),
        "" if ok else "   <-- above %g" % TOLERANCE))
    for p in problems:
        print("  forward %-15s %s" % (label, p))
    return 0 if ok and not problems else 1


def adjoint(ref_nc, nc, label):
    import netCDF4
    import numpy as np
    ok = True
    with netCDF4.Dataset(ref_nc) as r, netCDF4.Dataset(nc) as g:
        if list(r.groups) != list(g.groups):
            print("  adjoint %-15s categories %s, LUMIA %s" % (label, list(g.groups), list(r.groups)))
            return 1
        for cat in r.groups:
            a, b = r[cat], g[cat]
            for v in ("times_start", "times_end"):
                if not np.array_equal(a[v][:], b[v][:]):
                    print("  adjoint %-15s %s/%s differs" % (label, cat, v))
                    ok = False
            for v in ("lats", "lons"):
                if not np.allclose(a[v][:], b[v][:], rtol=0, atol=1e-5):
                    print("  adjoint %-15s %s/%s differs" % (label, cat, v))
                    ok = False
            x, y = np.asarray(a["emis"][:], dtype=float), np.asarray(b["emis"][:], dtype=float)
            if x.shape != y.shape:
                print("  adjoint %-15s %s: shape %s, LUMIA %s" % (label, cat, y.shape, x.shape))
                ok = False
                continue
            top = np.abs(x).max()
            r_max = float(np.abs(x - y).max() / top) if top > 0 else float(np.abs(y).max())
            r_sum = abs(x.sum() - y.sum()) / max(abs(x.sum()), 1e-300)
            flag = "" if r_max <= TOLERANCE else "   <-- above %g" % TOLERANCE
            ok = ok and r_max <= TOLERANCE
            print("  adjoint %-15s %s: max |difference| / max |LUMIA| %.1e (sum: %.1e relative; %d non-zero "
                  "cells)%s" % (label, cat, r_max, r_sum, int((x != 0).sum()), flag))
    return 0 if ok else 1


def memory_budget(rows, case_dir, adjoint_nc):
    """fluxkit's peak RSS above an idle fluxkit process, against what it must hold: the flux fields (forward)
    or the adjoint field, plus the largest footprint file."""
    import glob
    import netCDF4

    def field_bytes(path):
        with netCDF4.Dataset(path) as ds:
            return sum(ds[g]["emis"].size * 8 for g in ds.groups)

    idle = rows.get("fluxkit --version (idle process)", {}).get("startup")
    files = glob.glob(os.path.join(case_dir, "footprints", "*"))
    if idle is None or not files:
        return
    largest = max(os.path.getsize(f) for f in files) / 1e6
    budget = {"forward": field_bytes(os.path.join(case_dir, "fluxes.nc")) / 1e6 + largest,
              "adjoint": field_bytes(adjoint_nc) / 1e6 + largest}
    print("\npeak RSS above an idle fluxkit process (%.0f MB: the program and its shared libraries), against the flux "
          "fields (forward) or the adjoint field, plus the largest footprint file (%.1f MB):" % (idle[2], largest))
    for label, kinds in rows.items():
        if label.startswith("fluxkit, files"):
            print("  %-32s %s" % (label, ", ".join(
                "%s %+.0f MB (budget %.0f MB)" % (k, kinds[k][2] - idle[2], budget[k])
                for k in ("forward", "adjoint") if k in kinds)))


def table(results, case_log, case_dir, adjoint_nc):
    rows = {}   # label -> kind -> (wall s, CPU s or None, peak RSS MB)
    with open(results) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            label, kind, wall, cpu, rss = fields if len(fields) == 5 else fields[:3] + [""] + fields[3:]
            rows.setdefault(label, {})[kind] = (float(wall), float(cpu) if cpu else None, float(rss) / 1024)
    with open(case_log) as f:
        print(f.read().strip())
    lumia = rows.get("LUMIA lagrange_mp.py --serial", {})

    def times(label, kind):
        if kind not in rows[label]:
            return "%32s" % ""
        wall, cpu, rss = rows[label][kind]
        return "%8.2f s %10s %7.0f MB" % (wall, "%8.2f s" % cpu if cpu is not None else "", rss)

    def ratio(x):
        return "%.0fx" % x if x >= 10 else "%.1fx" % x

    def speedup(label, kind):
        if kind not in rows[label] or kind not in lumia or label.startswith("LUMIA"):
            return "%12s" % ""
        (lw, lc, _), (w, c, _) = lumia[kind], rows[label][kind]
        return "%12s" % (ratio(lw / w) + (" / " + ratio(lc / c) if lc and c else ""))

    print()
    print("%-34s %-45s %-45s" % ("whole command", "   forward", "   adjoint"))
    head = "%10s %10s %10s %12s" % ("wall", "CPU", "peak RSS", "x LUMIA")
    print("%-34s %s %s" % ("", head, head))
    for label in rows:
        if set(rows[label]) <= {"forward", "adjoint"}:
            print("%-34s %s %s %s %s" % (label, times(label, "forward"), speedup(label, "forward"),
                                          times(label, "adjoint"), speedup(label, "adjoint")))
    print("%-34s %45s" % ("", "(x LUMIA: wall / CPU)"))
    for label in rows:
        for kind, (wall, cpu, rss) in rows[label].items():
            if kind not in ("forward", "adjoint"):
                print("%-34s %8.2f s %10s %10s   (%s)" % (label, wall, "%8.2f s" % cpu if cpu is not None else "",
                                                          "%7.0f MB" % rss if rss > 0 else "", kind))
    memory_budget(rows, case_dir, adjoint_nc)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "deps":
        return deps(argv[2])
    if len(argv) == 6 and argv[1] == "forward":
        return forward(*argv[2:])
    if len(argv) == 5 and argv[1] == "adjoint":
        return adjoint(*argv[2:])
    if len(argv) == 6 and argv[1] == "table":
        return table(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
