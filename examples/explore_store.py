#!/usr/bin/env python3
"""Explore a sample store with numpy: its geometry, the windows in both layouts and per-feature statistics.

    PYTHONPATH=build/python /usr/bin/python3 examples/explore_store.py demo/samples/train.nc
"""
import sys

import numpy as np

import fluxkit

path = sys.argv[1] if len(sys.argv) > 1 else "demo/samples/train.nc"
with fluxkit.SampleStore(path) as store:
    print(store)
    h = store.header
    print(f"target {h['target']} [{h['target_units']}], window {store.window} months, lead {h['lead']}")

    x, y = store.windows()                      # [B, W, F] normalised
    xf, _ = store.windows(layout="flat")        # [B, 44]
    print(f"sequence layout {x.shape}, flat layout {xf.shape}, target {y.shape}")

    # Physical units, per feature: mean and spread over every window's last month.
    xp, yp = store.windows(normalised=False)
    for name, col in zip(store.features, xp[:, -1, :].T):
        print(f"  {name:<16} mean {col.mean():12.4g}  std {col.std():12.4g}")
    print(f"  {h['target']:<16} mean {yp.mean():12.4g}  std {yp.std():12.4g}")

    # The monthly series without a copy, and the windows as a strided view of it.
    series = store.inputs
    view = store.sequence_view()
    print(f"series {series.shape} (shares the store's memory: {np.shares_memory(series, view)})")
    coords = store.coords()
    print(f"cells between {coords['lat'].min():.1f} and {coords['lat'].max():.1f} degrees north")
