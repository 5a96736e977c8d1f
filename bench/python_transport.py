#!/usr/bin/env python3
"""The transport operator from Python: per-call overhead of fluxkit.TransportOperator (scipy LinearOperator)
on the demo's packed operator against the C++ kernel time, and 100 forward+adjoint pairs in one Python process
against 100 pairs of `fluxkit transport` command-line calls.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_transport.py build/fluxkit [workdir] [--pairs N]

The demo case (configs/demo.toml [synth.footprints]: 400 observations, 0.5-degree European grid) is written to
<workdir> (default build/bench_python_transport) with `fluxkit synth footprints` and packed once. In process:
H.matvec(x) + H.rmatvec(y) N times; the kernel time is what the C++ forward/adjoint took (H.kernel_seconds, wall
time inside the library), the overhead the rest (argument checks, numpy arrays, scipy's LinearOperator). On the
command line: `fluxkit transport --forward --packed` (reads the flux file, rewrites the obsdb) then `--adjoint
--packed` (reads dy, writes the adjoint file), N times each.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

import fluxkit

p = argparse.ArgumentParser()
p.add_argument("fluxkit")
p.add_argument("workdir", nargs="?", default="build/bench_python_transport")
p.add_argument("--pairs", type=int, default=100)
p.add_argument("--threads", type=int, default=None)
a = p.parse_args()

exe = str(Path(a.fluxkit).resolve())
repo = Path(__file__).resolve().parents[1]
work = Path(a.workdir).resolve()
work.mkdir(parents=True, exist_ok=True)
env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
threads = ["--threads", str(a.threads)] if a.threads else []


def cli(*args):
    subprocess.run([exe, *threads, *args], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


case = work / "case"
if not (work / "operator.fkop").exists():
    cli("synth", "footprints", "--config", str(repo / "configs" / "demo.toml"), "--output-dir", "case")
    cli("transport", "pack", "--rc", "case/transport.rc", "--db", "case/observations.tar.gz", "--out", "operator.fkop")
shutil.copy(case / "observations.tar.gz", work / "db.tar.gz")

os.chdir(work)
H = fluxkit.TransportOperator("case/transport.rc", "db.tar.gz", packed="operator.fkop", threads=a.threads)
print(H)
x = H.vector_from_flux_file("case/fluxes.nc")
y = np.random.default_rng(0).uniform(-1, 1, H.shape[0])
H.matvec(x), H.rmatvec(y)  # warm up (page cache, allocations)
k0, c0 = H.kernel_seconds, H.calls
t0 = time.perf_counter()
for _ in range(a.pairs):
    H.matvec(x)
    H.rmatvec(y)
python_s = time.perf_counter() - t0
kernel_s = H.kernel_seconds - k0
calls = H.calls - c0
overhead = python_s - kernel_s
print(f"in process: {a.pairs} forward+adjoint pairs in {python_s:.3f} s ({1e3 * python_s / calls:.3f} ms per call); "
      f"kernel {kernel_s:.3f} s; overhead {1e6 * overhead / calls:.1f} us per call = "
      f"{100 * overhead / kernel_s:.2f} % of the kernel time")

t0 = time.perf_counter()
for _ in range(a.pairs):
    cli("transport", "--forward", "--packed", "operator.fkop", "--rc", "case/transport.rc", "--db", "db.tar.gz",
        "--emis", "case/fluxes.nc")
    cli("transport", "--adjoint", "--packed", "operator.fkop", "--rc", "case/transport.rc", "--db", "db.tar.gz",
        "--emis", "adjoint.nc")
cli_s = time.perf_counter() - t0
print(f"command line: {a.pairs} forward+adjoint pairs in {cli_s:.3f} s ({1e3 * cli_s / (2 * a.pairs):.1f} ms per "
      f"call)")
print(f"in process / command line: {cli_s / python_s:.1f}x faster")
