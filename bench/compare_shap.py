#!/usr/bin/python3
"""fluxkit's explainers against the Python `shap` package: same model, same inputs, same run.

What it does
    Explains `--n` windows of a test store with fluxkit (`Model.explain`, in-process) and with `shap` 0.42 on
    the very same models, samples and background rows, and prints

    * agreement: per method, max and median |phi_fluxkit - phi_shap| relative to mean |phi|, the correlation,
      the efficiency residual max |sum(phi) + base - f(x)| of each side; for KernelSHAP (stochastic) also the
      noise floor (fluxkit against fluxkit with another seed) and, on XGBoost, the RMS error of both estimates
      against the exact interventional Shapley values of the same game;
    * time per explained sample of each tool and fluxkit's speed-up (fluxkit with 1 and with 2 threads; the
      `shap` side is single-threaded Python, its model callable is run with one thread);
    * with the thesis workflow (below), the arithmetic floor: the network's multiply-adds for the model
      evaluations fluxkit does per sample, at the float32 FMA peak of 2 threads that build/bench/fma_peak
      measures in the same run (FMA_PEAK names another binary), and the largest speed-up over the thesis
      workflow that any implementation of those evaluations could show on this machine.

    Comparisons (all models are fluxkit artifacts; `shap` gets them as Python callables):

    model    method                                      shap counterpart
    MLP      kernel_shap, background rows and k-means    KernelExplainer(f, DenseData(rows, weights)), l1_reg=0
    XGBoost  tree_shap_interventional, rows / k-means    TreeExplainer(booster, data, "interventional")
    XGBoost  tree_shap (path-dependent)                  TreeExplainer(booster) (tree_path_dependent) and
                                                         xgboost's pred_contribs
    XGBoost  kernel_shap, k-means (rows: --xgb-kernel-rows)  KernelExplainer on booster.inplace_predict

    The MLP callable given to `shap` is fluxkit's own `Model.predict`, so both sides evaluate the exact same
    function. A second timing (unless --no-thesis-workflow; needs python3-torch) runs the Python tools as the
    thesis does: its network classes in PyTorch (tests/python/seed_models.py) holding fluxkit's weights, shap's
    KernelExplainer on the thesis' float32 prediction wrapper, and timeshap's four local_* calls per sample
    (pruning, event, feature and cell level) through its TorchModelWrapper, with PyTorch's default threads. The XGBoost callable is the booster loaded by the `xgboost` package from the artifact's
    model.json (the script checks that its predictions equal fluxkit's).

    Matching the algorithms (docs/explain.md, "kernel_shap"): the same number of coalitions on both sides
    (`--nsamples`, default 2 M + 2048 = 2136 for the 44 flat columns) and `l1_reg=0` for `shap`: fluxkit does
    no L1 feature selection, while shap's default `l1_reg="auto"` would select features by AIC because fewer
    than 20 % of the coalitions are evaluated. Both enumerate the small coalition sizes completely and sample
    the others; their random numbers differ, hence agreement within sampling noise only.

    Background: `--background` windows drawn (seeded) from the training store, with equal weights, and their
    weighted k-means summary with `--kmeans` centres (as `background_kmeans` of `fluxkit explain`, the
    counterpart of `shap.kmeans`). `Model.explain` computes that summary internally and does not return it,
    so this script recomputes it with a line-by-line Python port of fluxkit's `kmeans_background`
    (src/explain/explainer.cpp: counter-based k-means++ seeding, Lloyd iterations, column-wise nearest member
    values, weights = cluster shares) and checks that it is fluxkit's: the base value fluxkit reports must equal
    the weighted mean of the model over the ported centres. `shap`'s KernelExplainer gets the centres with
    their weights; its TreeExplainer takes no weights, so it gets every centre repeated by its cluster size
    (the same weighted background exactly, as the weights are cluster sizes / rows). The k-means is seeded
    by the explanation seed in `Model.explain`, so a second seed's summary is not the same game; the noise floor is therefore measured with the centres repeated by cluster size and
    equal weights (the same game, other coalition samples; as costly as the full rows, so by default for the
    MLP only: for XGBoost the RMS error against the exact values measures the noise).

How to run (no network needed; nothing is installed or compiled by this script):

    SHAP_SRC=/tmp/shap SLICER_SRC=/tmp/slicer TIMESHAP_SRC=/tmp/timeshap/src PYTHONPATH=build/python \
        /usr/bin/python3 bench/compare_shap.py --n 20 --background 100 --kmeans 10 --json /tmp/compare_shap.json

    (the defaults take the demo's models and test store: run `make demo` first). `shap` from
    `git archive v0.42.1` of github.com/shap/shap, `slicer` v0.0.7 of github.com/interpretml/slicer, `timeshap`
    at commit 1eb505c of github.com/feedzai/timeshap (needs python3-altair).

Prerequisites
    * a built fluxkit Python package (build/python, found through PYTHONPATH or next to this script);
    * the `shap` 0.42.1 source tree with its compiled extension `shap/_cext*.so` (interventional TreeSHAP
      needs it; `python3 setup.py build_ext --inplace` in the checkout) in SHAP_SRC, and the `slicer` 0.0.7
      source tree in SLICER_SRC; Debian's python3-numpy, -scipy, -sklearn, -numba, -cloudpickle, -pandas,
      -tqdm, -xgboost, -xarray. Without them the script exits with status 2 and says what is missing.
    `shap` is a reference tool only: fluxkit and its tests never need it.

Timing is wall time of the explanation calls (model loading excluded; fluxkit's includes its k-means and,
for tree_shap_interventional, its reading of the trees from model.json: see the "1 sample" row). A loaded
machine slows both sides; the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NSAMPLES_44 = 2 * 44 + 2048


# ---- imports ----------------------------------------------------------------------------------------------

def import_fluxkit():
    try:
        import fluxkit  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO / "build" / "python"))
        try:
            import fluxkit  # noqa: F401
        except ImportError as e:
            sys.exit(f"compare_shap: cannot import fluxkit ({e}); build it and set PYTHONPATH=build/python")
    import fluxkit
    return fluxkit


def import_reference():
    """shap (from SHAP_SRC, with SLICER_SRC) and xgboost; exits 2 with a clear message when not importable."""
    for var in ("SLICER_SRC", "SHAP_SRC"):
        if os.environ.get(var):
            sys.path.insert(0, os.environ[var])
    try:
        import shap
        from shap.utils._legacy import DenseData  # noqa: F401
    except Exception as e:  # ImportError, or any error raised while importing the package
        print(f"compare_shap: the reference tool `shap` is not importable: {type(e).__name__}: {e}\n"
              "  set SHAP_SRC to a shap 0.42.1 source checkout and SLICER_SRC to a slicer 0.0.7 checkout",
              file=sys.stderr)
        sys.exit(2)
    try:
        import xgboost
    except ImportError as e:
        print(f"compare_shap: python3-xgboost is not importable ({e})", file=sys.stderr)
        sys.exit(2)
    try:
        from shap import _cext  # noqa: F401
        has_cext = True
    except ImportError:
        has_cext = False
    return shap, xgboost, has_cext


# ---- fluxkit's k-means background, ported (src/explain/explainer.cpp, kmeans_background) -----------------

_MASK = (1 << 64) - 1


def _mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _random_bits(seed, stream, index):
    return _mix64(_mix64(_mix64(seed) ^ stream) ^ index)


def _random_uniform(seed, stream, index):
    return ((_random_bits(seed, stream, index) >> 11) + 0.5) * 2.0 ** -53


def _sqdist(xd, c):
    """Squared distances of the rows of xd to c, summed column by column in order (as the C++ loop)."""
    s = np.zeros(xd.shape[0])
    for j in range(xd.shape[1]):
        s += (xd[:, j] - c[j]) ** 2
    return s


def fluxkit_kmeans(x, k, seed, iterations=100):
    """The weighted k-means summary fluxkit's Model.explain(background_kmeans=k, seed=seed) uses.

    Returns (rows float32 [k', M], weights float64 [k']), k' <= k the non-empty clusters."""
    x = np.asarray(x, dtype=np.float32)
    n, w = x.shape
    if k >= n:
        return x.copy(), np.full(n, 1.0 / n)
    xd = x.astype(np.float64)
    centre = np.zeros((k, w))
    d2 = np.full(n, np.inf)
    first = _random_bits(seed, 11, 0) % n
    for c in range(k):
        pick = first
        if c > 0:
            cum = np.cumsum(d2)  # sequential, as std::accumulate and the running sum
            u = _random_uniform(seed, 12, c) * cum[-1]
            hit = np.nonzero((cum >= u) & (d2 > 0))[0]
            pick = int(hit[0]) if hit.size else n - 1
        centre[c] = xd[pick]
        d2 = np.minimum(d2, _sqdist(xd, centre[c]))
    assign = np.zeros(n, dtype=np.int64)
    for it in range(iterations):
        dist = np.stack([_sqdist(xd, centre[c]) for c in range(k)], axis=1)
        best = np.argmin(dist, axis=1)  # the first minimum, as the strict < of the C++ loop
        changed = bool(np.any(best != assign))
        assign = best
        for c in range(k):
            members = xd[assign == c]
            if len(members):
                s = np.zeros(w)
                for row in members:  # sequential sum over the members, as the C++ loop
                    s += row
                centre[c] = s / len(members)
        if not changed and it > 0:
            break
    rows, weights = [], []
    for c in range(k):
        members = x[assign == c]
        if not len(members):
            continue
        d = np.abs(members.astype(np.float64) - centre[c])
        rows.append(members[np.argmin(d, axis=0), np.arange(w)])  # column-wise nearest member value
        weights.append(len(members) / n)
    return np.array(rows, dtype=np.float32), np.array(weights)


# ---- measurements -----------------------------------------------------------------------------------------

def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def median_of(run, repeats):
    """run() -> (result, seconds...) called `repeats` times: the last result and the median of each time."""
    calls = [run() for _ in range(max(1, repeats))]
    times = np.median(np.array([c[1:] for c in calls], dtype=float), axis=0)
    return (calls[-1][0], *times)


def agreement(a, b):
    """Agreement of attributions a (fluxkit) with b (reference), both [n, M]."""
    d = np.abs(a - b)
    scale = np.abs(b).mean()
    return {"max_abs": float(d.max()), "median_abs": float(np.median(d)), "mean_abs_phi": float(scale),
            "max_rel": float(d.max() / scale), "median_rel": float(np.median(d) / scale),
            "corr": float(np.corrcoef(a.ravel(), b.ravel())[0, 1])}


def efficiency(phi, base, fx):
    return float(np.max(np.abs(np.asarray(phi).sum(axis=1) + base - fx)))


def rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


class Report:
    def __init__(self, n):
        self.n = n
        self.agree = []   # rows of the agreement table
        self.times = []   # rows of the timing table
        self.floors = []  # rows of the arithmetic-floor table (thesis workflow)
        self.peak = {}    # threads -> float32 FMA peak in GFLOP/s (bench/fma_peak)
        self.notes = []

    def time(self, model, method, background, tool, threads, seconds, n=None, marginal=None, workflow="same model"):
        """marginal: seconds per sample without the one-off setup (when measured); workflow: "same model" (the
        Python tools evaluate fluxkit's own predict or xgboost's), "thesis" (as the thesis runs them)."""
        n = self.n if n is None else n
        self.times.append(dict(model=model, method=method, background=background, tool=tool, threads=threads,
                               seconds=seconds, per_sample=seconds / n, n=n, marginal=marginal,
                               workflow=workflow))

    def compare(self, model, method, background, pair, a, b, eff_a, eff_b, extra=""):
        row = dict(model=model, method=method, background=background, pair=pair, eff_a=eff_a, eff_b=eff_b,
                   extra=extra, **agreement(a, b))
        self.agree.append(row)
        return row

    def print(self):
        print("\nAgreement (phi in normalised target units; rel = / mean |phi| of the reference; eff = max |sum phi"
              " + base - f(x)| of each side)")
        print(f"{'model':8} {'method':25} {'background':11} {'A vs B':27} {'max rel':>8} {'med rel':>8} "
              f"{'max abs':>8} {'corr':>9} {'eff A':>8} {'eff B':>8}  notes")
        for r in self.agree:
            print(f"{r['model']:8} {r['method']:25} {r['background']:11} {r['pair']:27} {r['max_rel']:8.2e} "
                  f"{r['median_rel']:8.2e} {r['max_abs']:8.2e} {r['corr']:9.6f} {r['eff_a']:8.1e} "
                  f"{r['eff_b']:8.1e}  {r['extra']}")
        print(f"\nTime per explained sample (wall time of one call for {self.n} samples / {self.n}, one-off setup "
              "included: reading the trees, shap's explainer construction; the setup-only and 1-sample rows show "
              "it; 'excl. setup': shap (total - setup) / n, fluxkit (t(n) - t(1)) / (n - 1); speed-up = "
              "shap / fluxkit; interventional TreeSHAP: the median of --repeat calls)")
        print(f"{'model':8} {'method':25} {'background':11} {'tool':24} {'threads':>7} {'s/sample':>10} "
              f"{'speed-up':>9} {'excl. setup':>11} {'speed-up':>9}")
        same = [t for t in self.times if t["workflow"] == "same model"]
        for r in same:
            ref = [t for t in same if t["model"] == r["model"] and t["method"] == r["method"]
                   and t["background"] == r["background"] and t["tool"].endswith("Explainer")]
            up = f"{ref[0]['per_sample'] / r['per_sample']:8.1f}x" if ref and r["tool"] == "fluxkit" else ""
            m = f"{r['marginal']:11.4f}" if r["marginal"] is not None else ""
            upm = f"{ref[0]['marginal'] / r['marginal']:8.1f}x" if (ref and r["tool"] == "fluxkit" and m and
                                                                     ref[0]["marginal"] is not None) else ""
            print(f"{r['model']:8} {r['method']:25} {r['background']:11} {r['tool']:24} {r['threads']:>7} "
                  f"{r['per_sample']:10.4f} {up:>9} {m:>11} {upm:>9}")
        thesis = [t for t in self.times if t["workflow"] == "thesis"]
        if thesis:
            print("\nThe thesis' workflow (the Python tools on its PyTorch networks with fluxkit's weights, PyTorch's "
                  "default threads; fluxkit's call with 2 threads): time per explained sample")
            print(f"{'model':8} {'method':25} {'background':13} {'tool':32} {'threads':>7} {'s/sample':>10} "
                  f"{'speed-up':>9}")
            for r in thesis:
                ref = [t for t in thesis if t["model"] == r["model"] and t["tool"] != "fluxkit"]
                up = f"{ref[0]['per_sample'] / r['per_sample']:8.1f}x" if ref and r["tool"] == "fluxkit" else ""
                print(f"{r['model']:8} {r['method']:25} {r['background']:13} {r['tool']:32} {r['threads']:>7} "
                      f"{r['per_sample']:10.4f} {up:>9}")
        if self.floors and 2 not in self.peak:
            print("\nArithmetic floor: not shown (no FMA peak measured on 2 threads; see the notes)")
        if self.floors and 2 in self.peak:
            peak = self.peak[2]
            print(f"\nArithmetic floor: the model evaluations one explained sample needs (GFLOP: multiply-adds of the "
                  f"network, counted from its weights and the coalitions fluxkit evaluates) at the machine's float32 "
                  f"FMA peak on 2 threads ({peak:.0f} GFLOP/s, bench/fma_peak, this run); no float32 implementation "
                  f"of these same evaluations on these 2 cores can be faster than the floor, so the thesis "
                  f"workflow's time / floor is the largest speed-up possible for them (an algorithm that evaluates "
                  f"less is not bounded by it)")
            print(f"{'model':8} {'method':25} {'GFLOP/sample':>12} {'floor s':>9} {'fluxkit s':>10} "
                  f"{'of peak':>8} {'thesis s':>9} {'largest speed-up, same evaluations':>35}")
            for r in self.floors:
                floor = r["gflop"] / peak
                print(f"{r['model']:8} {r['method']:25} {r['gflop']:12.3f} {floor:9.4f} {r['fluxkit']:10.4f} "
                      f"{floor / r['fluxkit']:7.0%} {r['thesis']:9.4f} {r['thesis'] / floor:34.1f}x")
        for note in self.notes:
            print("note:", note)


# ---- the arithmetic floor ---------------------------------------------------------------------------------

def fma_peak(rep):
    """The float32 FMA peak of 1 and 2 threads from bench/fma_peak (FMA_PEAK or build/bench/fma_peak)."""
    import subprocess
    exe = Path(os.environ.get("FMA_PEAK", REPO / "build" / "bench" / "fma_peak"))
    if not exe.exists():
        rep.notes.append(f"{exe} is not built (cmake --build build --target fma_peak): no arithmetic floor")
        return
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():  # "threads 2: 425.9 GFLOP/s"
        head, value = line.split(":")
        rep.peak[int(head.split()[1])] = float(value.split()[0])
    if 2 not in rep.peak:
        rep.notes.append(f"{exe} measured no 2-thread peak (a machine with one hardware thread): no arithmetic floor")


def coalitions(players, nsamples=0):
    """KernelSHAP coalitions fluxkit evaluates for this many varying players (kernel_shap.cpp)."""
    if players <= 1:
        return 0
    n = nsamples if nsamples else 2 * players + 2048
    return min(n, 2 ** players - 2) if players <= 30 else n


def mlp_gflop_per_sample(state, x, bg, nsamples):
    """Multiply-adds (x 2) of the MLP's layers for the rows KernelSHAP evaluates per sample: the coalitions
    of the varying columns times the background rows, plus E[f] and f(x); mean over the samples."""
    flops_per_row = 2 * sum(w.shape[0] * w.shape[1] for k, w in state.items() if k.endswith("weight"))
    rows = [coalitions(int(np.sum(np.any(bg != xi, axis=0))), nsamples) * len(bg) + len(bg) + 1 for xi in x]
    return flops_per_row * float(np.mean(rows)) / 1e9


def lstm_gflop_per_sample(state, W, F, kept, tolerance):
    """Multiply-adds (x 2) of the LSTM for the sequences fluxkit's TimeSHAP evaluates per sample (timeshap.cpp):
    pruning (4 per pruning step tried), then per level f(x), E[f] and the coalitions of its players (events,
    features, cells; + the pruned events); every player varies, as each level's game plays ones against zeros.
    A sequence: W input products per layer and W - 1 recurrent ones (the first step starts from zero)."""
    layers = sum(1 for k in state if k.startswith("lstm.weight_ih_l"))
    H = state["lstm.weight_hh_l0"].shape[1]
    per_seq = 2 * H  # the output layer
    for layer in range(layers):
        inputs = F if layer == 0 else H
        per_seq += 2 * 4 * H * (W * inputs + (W - 1) * H)
    seqs = []
    for k in np.asarray(kept, dtype=int):
        pruned = int(k < W)
        tries = 0 if tolerance < 0 or W < 2 else (k if pruned else W - 1)  # a negative tolerance: no pruning
        levels = [k + pruned, F + pruned, k * F + pruned]
        seqs.append(4 * tries + sum(2 + coalitions(p) for p in levels))
    return per_seq * float(np.mean(seqs)) / 1e9


# ---- the comparisons --------------------------------------------------------------------------------------

def kernel_shap_compare(rep, shap, label, model, f_ref, x, bgs, exact, args):
    """fluxkit kernel_shap (threads 1 and 2, and a second seed) against shap.KernelExplainer on f_ref."""
    from shap.utils._legacy import DenseData

    names = [str(i) for i in range(x.shape[1])]
    seed2 = args.seed + 1
    for bg_name, (rows, weights, fk_rows, fk_k, noise_rows) in bgs.items():
        if bg_name not in args.kernel_backgrounds.get(label, bgs.keys()):
            continue
        runs = {}
        for threads in (1, 2):
            runs[threads], s = timed(lambda: model.explain(x, "kernel_shap", background=fk_rows,
                                                           background_kmeans=fk_k, nsamples=args.nsamples,
                                                           seed=args.seed, threads=threads))
            rep.time(label, "kernel_shap", bg_name, "fluxkit", threads, s)
        fk = runs[2]
        same = np.array_equal(runs[1].phi.values, runs[2].phi.values)
        if not same:
            rep.notes.append(f"{label} kernel_shap {bg_name}: threads=1 and threads=2 differ "
                             f"(max {np.abs(runs[1].phi.values - runs[2].phi.values).max():.2e})")
        fk2 = None
        if fk_k == 0 or label in args.noise_floor_expanded:
            fk2 = model.explain(x, "kernel_shap", background=noise_rows, background_kmeans=0, nsamples=args.nsamples,
                                seed=seed2, threads=2)
        # the background fluxkit used must be the one shap gets
        ref_base = float(np.dot(weights, f_ref(rows)))
        base_gap = float(np.max(np.abs(fk.base.values - ref_base)))
        if base_gap > 1e-5 * max(1.0, abs(ref_base)):
            rep.notes.append(f"{label} kernel_shap {bg_name}: fluxkit's base {fk.base.values[0]:.6g} is not the "
                             f"weighted mean of f over the background given to shap ({ref_base:.6g}): the "
                             "backgrounds differ, the comparison is not like for like")

        np.random.seed(args.seed)
        data = DenseData(rows.astype(np.float64), names, None, weights.astype(np.float64).copy())

        def run_shap():
            e = shap.KernelExplainer(f_ref, data)
            return np.asarray(e.shap_values(x.astype(np.float64), nsamples=args.nsamples, l1_reg=0,
                                            silent=True)), float(np.ravel(e.expected_value)[0])
        (sp, sbase), s = timed(run_shap)
        rep.time(label, "kernel_shap", bg_name, "shap KernelExplainer", 1, s)
        fx_ref = f_ref(x)
        phi = fk.phi.values
        extra = f"base {fk.base.values[0]:.5f}/{sbase:.5f}"
        if exact is not None and bg_name in exact:
            ex = exact[bg_name]
            extra += f"; RMS vs exact: fluxkit {rms(phi, ex):.2e}, shap {rms(sp, ex):.2e}"
        rep.compare(label, "kernel_shap", bg_name, "fluxkit vs shap", phi, sp,
                    efficiency(phi, fk.base.values, fk.fx.values), efficiency(sp, sbase, fx_ref), extra)
        if fk2 is not None:
            rep.compare(label, "kernel_shap", bg_name, f"fluxkit seed {args.seed} vs {seed2}", phi, fk2.phi.values,
                        efficiency(phi, fk.base.values, fk.fx.values),
                        efficiency(fk2.phi.values, fk2.base.values, fk2.fx.values),
                        "noise floor" + ("" if fk_k == 0 else " (centres repeated by cluster size)"))


def tree_compare(rep, shap, xgboost, has_cext, model, booster, x, bgs, args):
    """XGBoost: interventional TreeSHAP (exact) and path-dependent TreeSHAP; returns the exact values per
    background for the KernelSHAP comparison."""
    import fluxkit  # imported by main() (import_fluxkit)
    exact = {}
    fx_xgb = booster.inplace_predict(x)
    for bg_name, (rows, weights, fk_rows, fk_k, expanded) in bgs.items():
        res = {}
        for threads in (1, 2):
            # the one-off setup (reading the trees) is estimated by a call for one sample; each call on a model
            # loaded afresh (a model keeps its explainers), so that both include it, as shap's times include
            # its explainer's construction
            def call(n):
                fresh = fluxkit.load_model(args.xgboost)
                return timed(lambda: fresh.explain(x[:n], "tree_shap_interventional", background=fk_rows,
                                                   background_kmeans=fk_k, threads=threads))
            _, s1 = median_of(lambda: call(1), args.repeat)
            res[threads], s = median_of(lambda: call(len(x)), args.repeat)
            rep.time("xgboost", "tree_shap_interventional", bg_name, "fluxkit", threads, s,
                     marginal=(s - s1) / (len(x) - 1) if len(x) > 1 else None)
            rep.time("xgboost", "tree_shap_interventional", bg_name, "fluxkit (1-sample call)", threads, s1, n=1)
        fk = res[2]
        exact[bg_name] = fk.phi.values
        if not has_cext:
            rep.notes.append("shap's C extension (_cext) is missing: interventional TreeExplainer not compared")
            continue
        data = expanded  # TreeExplainer takes no weights: every row repeated by its count

        def shap_call():
            e, s0 = timed(lambda: shap.TreeExplainer(booster, data=data.astype(np.float64),
                                                     feature_perturbation="interventional"))
            sp, s = timed(lambda: np.asarray(e.shap_values(x, check_additivity=False)))
            return (e, sp), s0, s
        (e, sp), s0, s = median_of(shap_call, args.repeat)
        if np.asarray(e.data).shape[0] != len(data):
            # shap 0.42 wraps the background in maskers.Independent(max_samples=100): a random subsample of
            # 100 rows, so its game is not fluxkit's (base values and attributions differ by design)
            rep.notes.append(f"tree_shap_interventional {bg_name}: shap's TreeExplainer kept "
                             f"{np.asarray(e.data).shape[0]} of the {len(data)} background rows given "
                             "(maskers.Independent, max_samples=100): not like for like; use --background <= 100")
        sbase = float(np.ravel(e.expected_value)[0])
        rep.time("xgboost", "tree_shap_interventional", bg_name, "shap TreeExplainer", 1, s0 + s,
                 marginal=s / len(x))
        rep.time("xgboost", "tree_shap_interventional", bg_name, "shap (setup only)", 1, s0, n=1)
        rep.compare("xgboost", "tree_shap_interventional", bg_name, "fluxkit vs shap", fk.phi.values, sp,
                    efficiency(fk.phi.values, fk.base.values, fk.fx.values), efficiency(sp, sbase, fx_xgb),
                    f"base {fk.base.values[0]:.6f}/{sbase:.6f}; shap rows {len(data)}")
        if not np.array_equal(res[1].phi.values, res[2].phi.values):
            rep.notes.append("tree_shap_interventional: threads=1 and threads=2 differ (max "
                             f"{np.abs(res[1].phi.values - res[2].phi.values).max():.2e})")

    # path-dependent TreeSHAP: no background
    for threads in (1, 2):
        _, s1 = timed(lambda: model.explain(x[:1], "tree_shap", threads=threads))
        fk, s = timed(lambda: model.explain(x, "tree_shap", threads=threads))
        rep.time("xgboost", "tree_shap", "-", "fluxkit", threads, s,
                 marginal=(s - s1) / (len(x) - 1) if len(x) > 1 else None)
    contribs = booster.predict(xgboost.DMatrix(x), pred_contribs=True)
    rep.compare("xgboost", "tree_shap", "-", "fluxkit vs pred_contribs", fk.phi.values, contribs[:, :-1],
                efficiency(fk.phi.values, fk.base.values, fk.fx.values),
                efficiency(contribs[:, :-1], contribs[:, -1], fx_xgb), f"base {fk.base.values[0]:.6f}")
    if has_cext:
        e, s0 = timed(lambda: shap.TreeExplainer(booster))
        sp, s = timed(lambda: np.asarray(e.shap_values(x, check_additivity=False)))
        sbase = float(np.ravel(e.expected_value)[0])
        rep.time("xgboost", "tree_shap", "-", "shap TreeExplainer", 1, s0 + s, marginal=s / len(x))
        rep.time("xgboost", "tree_shap", "-", "shap (setup only)", 1, s0, n=1)
        rep.compare("xgboost", "tree_shap", "-", "fluxkit vs shap", fk.phi.values, sp,
                    efficiency(fk.phi.values, fk.base.values, fk.fx.values), efficiency(sp, sbase, fx_xgb),
                    f"base {fk.base.values[0]:.6f}/{sbase:.6f}")
    return exact


def import_timeshap():
    """timeshap (from TIMESHAP_SRC: the checkout's src directory); exits 2 when not importable."""
    if os.environ.get("TIMESHAP_SRC"):
        sys.path.insert(0, os.environ["TIMESHAP_SRC"])
    try:
        from timeshap.explainer import temp_coalition_pruning
        from timeshap.explainer.kernel import TimeShapKernel
    except Exception as e:
        print(f"compare_shap: the reference tool `timeshap` is not importable: {type(e).__name__}: {e}\n"
              "  set TIMESHAP_SRC to the src directory of a timeshap checkout (needs python3-altair), or skip "
              "the LSTM with --lstm ''", file=sys.stderr)
        sys.exit(2)
    return temp_coalition_pruning, TimeShapKernel


def timeshap_compare(rep, lstm, x_flat, x_seq, bg_seq, bg_flat, args):
    """fluxkit's timeshap (pruning, event and feature levels) against the timeshap package on the LSTM.

    Same baseline (the median event of the background, fluxkit's timeshap_baseline = "median_event"), same
    tolerance, the package's own pruning; its KernelSHAP with l1_reg=0 and the default budget 2 M + 2048 on
    both sides. fluxkit's call also computes the cell level (56 players), which the package side does not."""
    temp_coalition_pruning, TimeShapKernel = import_timeshap()
    import timeshap

    n, W, F = x_seq.shape
    f = lambda X: lstm.predict(np.asarray(X, dtype=np.float32), threads=1).reshape(-1, 1)  # noqa: E731
    baseline = np.median(bg_seq.reshape(-1, F).astype(np.float64), axis=0)[None, :]  # the median event
    runs = {}
    for threads in (1, 2):
        runs[threads], s = timed(lambda: lstm.explain(x_flat, "timeshap", background=bg_flat,
                                                      timeshap_tolerance=args.timeshap_tolerance,
                                                      timeshap_baseline="median_event", seed=args.seed,
                                                      threads=threads))
        rep.time("lstm", "timeshap", "median event", "fluxkit (+ cell level)", threads, s)
    fk = runs[2]
    fk2 = lstm.explain(x_flat, "timeshap", background=bg_flat, timeshap_tolerance=args.timeshap_tolerance,
                       timeshap_baseline="median_event", seed=args.seed + 1, threads=2)
    cols = list(fk.column.values)
    feat_cols = [cols.index(c) for c in fk.feature.values] + [cols.index("pruned events")]
    event_cols = [cols.index(f"event t-{j}") for j in range(W)]  # most recent first, as the package's order
    pruned_ev = cols.index("pruned events (event level)")
    f_base = float(f(np.tile(baseline, (W, 1))[None])[0, 0])
    if abs(f_base - float(fk.base.values[0])) > 1e-5:
        rep.notes.append(f"lstm timeshap: fluxkit's base {float(fk.base.values[0]):.6g} is not f(median event "
                         f"sequence) = {f_base:.6g}: the baselines differ")

    ts_ev, ts_ft, ts_kept, fx = [], [], [], []
    t0 = time.perf_counter()
    for i in range(n):
        data = x_seq[i:i + 1].astype(np.float64)
        np.random.seed(args.seed)
        prune = temp_coalition_pruning(f, data, baseline, args.timeshap_tolerance)
        pidx = W + prune if prune < 0 else 0  # events [0, pidx) grouped as "pruned events"
        ev = TimeShapKernel(f, baseline, args.seed, "event").shap_values(data, pruning_idx=pidx, l1_reg=0)
        ft = TimeShapKernel(f, baseline, args.seed, "feature").shap_values(data, pruning_idx=pidx, l1_reg=0)
        ts_ev.append(np.asarray(ev, dtype=np.float64))
        ts_ft.append(np.asarray(ft, dtype=np.float64))
        ts_kept.append(W - pidx)
        fx.append(float(f(data)[0, 0]))
    rep.time("lstm", "timeshap", "median event", "timeshap package", 1, time.perf_counter() - t0)
    ts_kept = np.array(ts_kept)
    fk_kept = fk.kept.values
    same = fk_kept == ts_kept
    rep.notes.append(f"lstm timeshap: kept events (pruning, tolerance {args.timeshap_tolerance}) equal in "
                     f"{same.sum()}/{n} samples; fluxkit {np.bincount(fk_kept, minlength=W + 1).tolist()}, "
                     f"timeshap {np.bincount(ts_kept, minlength=W + 1).tolist()} samples with 0..{W} kept events")
    idx = np.nonzero(same)[0]
    if not len(idx):
        return
    phi_fk = fk.phi.values
    # event level: the kept events (most recent first) and the pruned events when any
    a_ev, b_ev, a2_ev = [], [], []
    for i in idx:
        k = fk_kept[i]
        sel = event_cols[:k] + ([pruned_ev] if k < W else [])
        a_ev.append(phi_fk[i, sel])
        a2_ev.append(fk2.phi.values[i, sel])
        b_ev.append(ts_ev[i][:len(sel)])
    a_ev, b_ev, a2_ev = np.concatenate(a_ev), np.concatenate(b_ev), np.concatenate(a2_ev)
    base = fk.base.values
    eff_fk = max(abs(phi_fk[i, event_cols + [pruned_ev]].sum() + base[i] - fk.fx.values[i]) for i in idx)
    eff_ts = max(abs(ts_ev[i].sum() + f_base - fx[i]) for i in idx)
    rep.compare("lstm", "timeshap event level", "median event", "fluxkit vs timeshap", a_ev, b_ev, eff_fk, eff_ts,
                f"{len(idx)} samples (same pruning); exact on both sides (<= {W + 1} players)")
    # feature level: F features and the pruned events (zero when nothing is pruned)
    a_ft = np.stack([phi_fk[i, feat_cols] for i in idx])
    a2_ft = np.stack([fk2.phi.values[i, feat_cols] for i in idx])
    b_ft = np.stack([np.concatenate([ts_ft[i], np.zeros(F + 1 - len(ts_ft[i]))]) for i in idx])
    eff_fk = max(abs(phi_fk[i, feat_cols].sum() + base[i] - fk.fx.values[i]) for i in idx)
    eff_ts = max(abs(ts_ft[i].sum() + f_base - fx[i]) for i in idx)
    rep.compare("lstm", "timeshap feature level", "median event", "fluxkit vs timeshap", a_ft, b_ft, eff_fk,
                eff_ts, f"{len(idx)} samples; timeshap {timeshap.__version__}, l1_reg=0")
    rep.compare("lstm", "timeshap feature level", "median event", f"fluxkit seed {args.seed} vs {args.seed + 1}",
                a_ft, a2_ft, eff_fk, eff_fk, "noise floor")
    rep.compare("lstm", "timeshap event level", "median event", f"fluxkit seed {args.seed} vs {args.seed + 1}",
                a_ev, a2_ev, eff_fk, eff_fk, "exact: seed-independent")


# ---- the thesis' own workflow: the Python tools on PyTorch models -----------------------------------------

def torch_state_dict(torch, artifact):
    """The named weights of a fluxkit artifact (weights.pt, a libtorch archive; the keys are the thesis' own
    state-dict keys, as `fluxkit import-weights` reads them)."""
    archive = torch.jit.load(str(Path(artifact) / "weights.pt"), map_location="cpu")
    state = {k: v.detach().clone() for k, v in archive.named_parameters()}
    state.update({k: v.detach().clone() for k, v in archive.named_buffers()})
    return state


def thesis_workflow(rep, args, mlp_artifact, lstm_artifact, x, x_seq, bg, bg_seq):
    """The Python tools as the thesis runs them (feature_importance_shap.py, feature_importance_timeshap.py):
    its networks in PyTorch with fluxkit's weights, its prediction wrapper for shap's KernelExplainer and
    timeshap's TorchModelWrapper with its four local_* calls per sample (pruning, event, feature and cell
    level), PyTorch with its default threads; against fluxkit's one call per method with 2 threads. The same
    background, coalition budget, tolerance and baseline on both sides; shap with l1_reg=0 (the thesis'
    default "auto" adds an AIC feature selection that fluxkit does not do)."""
    try:
        import torch
    except ImportError as e:
        rep.notes.append(f"thesis workflow skipped: python3-torch is not importable ({e})")
        return
    sys.path.insert(0, str(REPO / "tests" / "python"))
    import seed_models  # the thesis' modules, declared with its state-dict keys
    import subprocess
    import fluxkit
    # PyTorch's default in a fresh process (fluxkit's calls set the count of the libtorch this process shares)
    torch_threads = int(subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                                       capture_output=True, text=True, check=True).stdout)

    if mlp_artifact:
        shap, _, _ = import_reference()
        model = fluxkit.load_model(mlp_artifact)
        state = torch_state_dict(torch, mlp_artifact)
        hidden = [state[f"layers.{i}.weight"].shape[0] for i in range(len(state)) if f"layers.{i}.weight" in state]
        net = seed_models.MLPModel(x.shape[1], hidden, 0.0)
        net.load_state_dict(state)
        net.eval()

        def model_predict(z):  # the thesis' wrapper
            with torch.no_grad():
                return np.atleast_1d(net(torch.tensor(z, dtype=torch.float32)).cpu().numpy())
        gap = float(np.max(np.abs(model_predict(x) - model.predict(x, threads=1))))
        rep.notes.append(f"thesis workflow: the MLP in PyTorch ({torch_threads} threads) predicts the samples within "
                         f"{gap:.1e} of fluxkit")
        _, s_fk = timed(lambda: model.explain(x, "kernel_shap", background=bg, nsamples=args.nsamples,
                                              seed=args.seed, threads=2))
        rep.time("mlp", "kernel_shap", f"rows {len(bg)}", "fluxkit", 2, s_fk, workflow="thesis")
        np.random.seed(args.seed)
        torch.set_num_threads(torch_threads)
        _, s_py = timed(lambda: shap.KernelExplainer(model_predict, bg.astype(np.float64)).shap_values(
            x.astype(np.float64), nsamples=args.nsamples, l1_reg=0, silent=True))
        rep.time("mlp", "kernel_shap", f"rows {len(bg)}", "shap KernelExplainer on torch", torch_threads, s_py,
                 workflow="thesis")
        rep.floors.append(dict(model="mlp", method="kernel_shap",
                               gflop=mlp_gflop_per_sample({k: v.numpy() for k, v in state.items()}, x, bg,
                                                          args.nsamples),
                               fluxkit=s_fk / len(x), thesis=s_py / len(x)))

    if lstm_artifact:
        import_timeshap()
        from timeshap.explainer import local_cell_level, local_event, local_feat, local_pruning
        from timeshap.wrappers import TorchModelWrapper
        model = fluxkit.load_model(lstm_artifact)
        state = torch_state_dict(torch, lstm_artifact)
        n, W, F = x_seq.shape

        class LSTMModelTimeShap(seed_models.LSTMModel):  # the thesis' TimeSHAP variant: (batch, 1) outputs
            def forward(self, z):
                out, _ = self.lstm(z)
                return self.fc1(self.dropout(out[:, -1, :]))
        layers = sum(1 for k in state if k.startswith("lstm.weight_ih_l"))
        net = LSTMModelTimeShap(F, state["lstm.weight_hh_l0"].shape[1], layers, 0.0)
        net.load_state_dict(state)
        net.eval()
        f = TorchModelWrapper(net).predict_last_hs
        gap = float(np.max(np.abs(f(x_seq.astype(np.float32)).ravel() - model.predict(x_seq.astype(np.float32), threads=1))))
        rep.notes.append(f"thesis workflow: the LSTM in PyTorch predicts the samples within {gap:.1e} of fluxkit")
        baseline = np.median(bg_seq.reshape(-1, F).astype(np.float64), axis=0)[None, :]  # the median event
        # fluxkit's budget per level is 2 M + 2048 for its M players (nsamples=0); timeshap takes one number per
        # call, so each level gets its own 2 M + 2048 (events: W + 1 players, all coalitions; features: F + 1;
        # cells: every (event, feature) cell, as min(4, W) top events x F top features keeps them all, + 1)
        budget = {"event": 2 * (W + 1) + 2048, "feature": 2 * (F + 1) + 2048, "cell": 2 * (W * F + 1) + 2048}
        e_fk, s_fk = timed(lambda: model.explain(x, "timeshap", background=bg,
                                                 timeshap_tolerance=args.timeshap_tolerance,
                                                 timeshap_baseline="median_event", seed=args.seed, threads=2))
        rep.time("lstm", "timeshap", "median event", "fluxkit", 2, s_fk, workflow="thesis")
        names = [f"f{j}" for j in range(F)]
        torch.set_num_threads(torch_threads)
        t0 = time.perf_counter()
        for i in range(n):
            data = x_seq[i:i + 1].astype(np.float64)
            _, prune = local_pruning(f, data, {"tol": args.timeshap_tolerance}, baseline=baseline)
            pidx = W + prune
            ev = local_event(f, data, {"rs": args.seed, "nsamples": budget["event"]}, entity_col="entity",
                             entity_uuid=f"sample_{i}", baseline=baseline, pruned_idx=pidx)
            ft = local_feat(f, data, {"rs": args.seed, "nsamples": budget["feature"], "feature_names": names,
                                      "plot_features": {c: c for c in names}},
                            entity_col="entity", entity_uuid=f"sample_{i}", baseline=baseline, pruned_idx=pidx)
            local_cell_level(f, data, {"rs": args.seed, "nsamples": budget["cell"], "top_x_events": min(4, W),
                                       "top_x_feats": F}, ev, ft, entity_col="entity", entity_uuid=f"sample_{i}",
                             baseline=baseline, pruned_idx=pidx)
        s_py = time.perf_counter() - t0
        rep.time("lstm", "timeshap", "median event", "timeshap local_* on torch", torch_threads, s_py,
                 workflow="thesis")
        rep.floors.append(dict(model="lstm", method="timeshap",
                               gflop=lstm_gflop_per_sample({k: v.numpy() for k, v in state.items()}, W, F,
                                                           e_fk["kept"].values, args.timeshap_tolerance),
                               fluxkit=s_fk / n, thesis=s_py / n))


def backgrounds(bg, args):
    """{name: (rows, weights, rows given to fluxkit, background_kmeans given to fluxkit, noise-floor rows)}.

    The noise-floor run (fluxkit with seed + 1) must play the same game: Model.explain seeds its k-means with
    the explanation seed, so for the k-means background it gets the centres repeated by their cluster sizes
    with equal weights (the same weighted background; costs as many model calls as the full rows)."""
    out = {f"rows {len(bg)}": (bg, np.full(len(bg), 1.0 / len(bg)), bg, 0, bg)}
    if args.kmeans > 0:
        rows, w = fluxkit_kmeans(bg, args.kmeans, args.seed)
        out[f"kmeans {args.kmeans}"] = (rows, w, bg, args.kmeans, repeat_rows(rows, w, len(bg)))
    return out


def repeat_rows(rows, weights, n):
    """Every row repeated by its count (weights are counts / n): the weighted background with equal weights."""
    counts = np.rint(weights * n).astype(int)
    assert counts.sum() == n and np.allclose(counts / n, weights), "weights are not counts / rows"
    return np.repeat(rows, counts, axis=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="samples explained (default 20)")
    ap.add_argument("--background", type=int, default=100,
                    help="background rows from the training store (default 100: shap's TreeExplainer keeps at "
                         "most 100, a random subsample of larger backgrounds)")
    ap.add_argument("--kmeans", type=int, default=10, help="k-means summary of the background (0 = none)")
    ap.add_argument("--nsamples", type=int, default=NSAMPLES_44, help="KernelSHAP coalitions, both sides "
                    "(default 2 M + 2048 = 2136)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3,
                    help="interventional TreeSHAP: median of this many calls per tool, each with the model "
                         "loaded or the explainer built afresh (default 3; the other methods run once)")
    ap.add_argument("--store", default=str(REPO / "demo/samples/test/experiment_1/North_Atlantic/"
                                           "North_Atlantic_test_2018_experiment_1.nc"))
    ap.add_argument("--train", default=str(REPO / "demo/samples/train.nc"))
    ap.add_argument("--mlp", default=str(REPO / "demo/models/mlp/member_0"), help="MLP artifact ('' = skip)")
    ap.add_argument("--xgboost", default=str(REPO / "demo/models/xgboost"), help="XGBoost artifact ('' = skip)")
    ap.add_argument("--lstm", default=str(REPO / "demo/models/lstm"),
                    help="LSTM artifact for the TimeSHAP comparison ('' = skip; needs TIMESHAP_SRC)")
    ap.add_argument("--timeshap-tolerance", type=float, default=0.025, help="pruning tolerance, both sides")
    ap.add_argument("--xgb-kernel-rows", action="store_true",
                    help="also KernelSHAP of XGBoost on the full background rows and its k-means noise floor (slow: ~coalitions x rows "
                         "tree-ensemble evaluations per sample and side)")
    ap.add_argument("--no-thesis-workflow", action="store_true",
                    help="skip the timing of the thesis' own workflow (the Python tools on PyTorch networks; needs "
                         "python3-torch)")
    ap.add_argument("--json", help="also write the tables to this JSON file")
    args = ap.parse_args()

    fluxkit = import_fluxkit()
    shap, xgboost, has_cext = import_reference()
    if args.lstm:
        import_timeshap()  # fail before any work
    print(" ".join([Path(sys.executable).name] + sys.argv))
    print(f"shap {shap.__version__} from {Path(shap.__file__).parent} (C extension: {has_cext}); "
          f"xgboost {xgboost.__version__}; numpy {np.__version__}; load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    rng = np.random.default_rng(args.seed)
    test = fluxkit.SampleStore(args.store)
    train = fluxkit.SampleStore(args.train)
    x_ids = np.sort(rng.choice(test.n_windows, args.n, replace=False))
    bg_ids = np.sort(rng.choice(train.n_windows, args.background, replace=False))
    x, _ = test.windows(ids=x_ids, layout="flat")
    bg, _ = train.windows(ids=bg_ids, layout="flat")
    print(f"samples: {args.n} windows of {args.store}; background: {args.background} windows of {args.train}"
          f"{f' and their k-means summary (k={args.kmeans})' if args.kmeans else ''}; KernelSHAP coalitions "
          f"{args.nsamples} on both sides, shap l1_reg=0")

    rep = Report(args.n)
    bgs = backgrounds(bg, args)
    for name, (rows, w, _, _, _) in bgs.items():
        print(f"background '{name}': {len(rows)} rows, weights {w.min():.3f}..{w.max():.3f}")
    args.kernel_backgrounds = {}
    # the k-means noise floor costs the full rows' model calls: done for the MLP, for XGBoost its RMS error
    # against the exact values is the better measure
    args.noise_floor_expanded = {"mlp"} | ({"xgboost"} if args.xgb_kernel_rows else set())

    if args.xgboost:
        model = fluxkit.load_model(args.xgboost)
        booster = xgboost.Booster(model_file=str(Path(args.xgboost) / "model.json"))
        booster.set_param({"nthread": 1})
        gap = float(np.max(np.abs(booster.inplace_predict(x) - model.predict(x, threads=1))))
        print(f"xgboost: {model.describe().split(';')[0]}...; "
              f"max |f_xgboost - f_fluxkit| on the samples = {gap:.2e}")
        exact = tree_compare(rep, shap, xgboost, has_cext, model, booster, x, bgs, args)
        args.kernel_backgrounds["xgboost"] = [k for k in bgs if k.startswith("kmeans") or args.xgb_kernel_rows]
        kernel_shap_compare(rep, shap, "xgboost", model, lambda z: booster.inplace_predict(z.astype(np.float32)),
                            x, bgs, exact, args)
    if args.mlp:
        mlp = fluxkit.load_model(args.mlp)
        kernel_shap_compare(rep, shap, "mlp", mlp, lambda z: mlp.predict(z.astype(np.float32), threads=1), x,
                            bgs, None, args)

    if args.lstm:
        lstm = fluxkit.load_model(args.lstm)
        timeshap_compare(rep, lstm, x, test.windows(ids=x_ids, layout="sequence")[0],
                         train.windows(ids=bg_ids, layout="sequence")[0], bg, args)

    if not args.no_thesis_workflow:
        fma_peak(rep)
        thesis_workflow(rep, args, args.mlp, args.lstm, x, test.windows(ids=x_ids, layout="sequence")[0], bg,
                        train.windows(ids=bg_ids, layout="sequence")[0] if args.lstm else None)

    rep.notes.append("load average after: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    rep.print()
    if args.json:
        Path(args.json).write_text(json.dumps({"command": sys.argv, "agreement": rep.agree, "timing": rep.times,
                                               "floor": rep.floors, "fma_peak": rep.peak, "notes": rep.notes},
                                              indent=1))


if __name__ == "__main__":
    main()
