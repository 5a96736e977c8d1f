#!/usr/bin/env python3
"""A transport inversion with scipy: the operator of a LUMIA case as a LinearOperator, synthetic observations
from known fluxes, and lsqr recovering the scaling factors of a few flux patterns.

    fluxkit synth footprints --config configs/demo.toml
    fluxkit transport pack --rc demo/transport/transport.rc --db demo/transport/observations.tar.gz \
        --out demo/transport/operator.fkop
    PYTHONPATH=build/python /usr/bin/python3 examples/transport_inversion.py demo/transport/transport.rc \
        demo/transport/observations.tar.gz demo/transport/operator.fkop
"""
import sys
import time

import numpy as np
import scipy.sparse.linalg as sla

import fluxkit

rc, db = sys.argv[1], sys.argv[2]
packed = sys.argv[3] if len(sys.argv) > 3 else None
H = fluxkit.TransportOperator(rc, db, packed=packed)
print(H)
ncat, nt, nlat, nlon = H.fields_shape

# The unknowns: one scaling factor per (western / eastern half of the domain, week).
weeks = np.array_split(np.arange(nt), max(1, nt // 56))
patterns = []
for half in (slice(0, nlon // 2), slice(nlon // 2, nlon)):
    for w in weeks:
        f = np.zeros(H.fields_shape)
        f[:, w, :, half] = 1.0
        patterns.append(f.reshape(-1))
B = np.stack(patterns, axis=1)
HB = sla.LinearOperator((H.shape[0], B.shape[1]), matvec=lambda z: H @ (B @ z),
                        rmatvec=lambda y: B.T @ H.rmatvec(y), dtype=np.float64)

rng = np.random.default_rng(0)
z_true = rng.uniform(0.5, 1.5, B.shape[1])
y_obs = H @ (B @ z_true)
seen = np.abs(HB.rmatvec(np.ones(H.shape[0]))) > 0  # factors some observation sees

t0 = time.perf_counter()
z, istop, iters = sla.lsqr(HB, y_obs, atol=1e-14, btol=1e-14, iter_lim=1000)[:3]
seconds = time.perf_counter() - t0
err = np.max(np.abs(z[seen] - z_true[seen]) / np.abs(z_true[seen]))
print(f"lsqr: {iters} iterations ({2 * iters} operator calls) in {seconds:.2f} s; {seen.sum()} of {len(z)} factors "
      f"observed, largest relative error {err:.2e}")
x_hat = H.to_dataset(B[:, seen] @ z[seen])
print(x_hat)
