"""Density scatter of reconstructed against simulated flux (the seed's scatter_plots.py), per experiment and region, one panel per
model: a 2-D histogram of every (cell, month) pair of the evaluated years with a logarithmic colour scale (the
seed's mpl_scatter_density is not in Debian), the 1:1 line, the OLS fit of scatter_fit.csv and the R^2 of
metrics.csv (overall, unweighted: sklearn's r2_score as the seed). The axis limits and the bins are the same for
every model of a region.

The caches are read twice, one file at a time (bounded memory on global 0.25-degree runs): first a strided
sample of the values fixes the limits (0.01 % and 99.99 % quantiles of simulated and reconstructed values
pooled over the models), then every pair is binned. Pairs outside the limits are counted on the panel.
"""
from __future__ import annotations

import math

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm

from .common import DENSITY_CMAP, Figure, Missing, Skipped, figure_name, flux_label, model_label, period_label

MAX_SAMPLE_PER_FILE = 200_000
MAX_KEPT_VALUES = 50_000_000  # pairs of up to 200 MB are read once; larger runs read the caches twice


def histogram2d(x, y, lo, hi, bins):
    """np.histogram2d(x, y, bins=[edges, edges]) with edges = linspace(lo, hi, bins + 1), by arithmetic and
    bincount (the last bin closed, values outside dropped, as numpy)."""
    edges = np.linspace(lo, hi, bins + 1)
    inside = (x >= lo) & (x <= hi) & (y >= lo) & (y <= hi)
    x, y = x[inside], y[inside]
    ix = np.searchsorted(edges, x, side="right") - 1
    iy = np.searchsorted(edges, y, side="right") - 1
    ix[ix == bins] = bins - 1
    iy[iy == bins] = bins - 1
    return np.bincount(ix * bins + iy, minlength=bins * bins).reshape(bins, bins)


def _pairs(ds, target):
    sim = ds[target].values.astype(np.float64).ravel()
    rec = ds[f"reconstructed_{target}"].values.astype(np.float64).ravel()
    if "sample_mask" in ds:
        mask = np.broadcast_to(ds["sample_mask"].values == 1, ds[target].shape).ravel()
    else:
        mask = np.ones(sim.shape, dtype=bool)
    ok = mask & np.isfinite(sim) & np.isfinite(rec)
    return sim[ok], rec[ok]


def scatter_limits(samples) -> tuple[float, float]:
    v = np.concatenate(samples) if samples else np.array([])
    v = v[np.isfinite(v)]
    if v.size == 0:
        return -1.0, 1.0
    lo, hi = np.quantile(v, [1e-4, 1 - 1e-4])
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.03 * (hi - lo)
    return float(lo - pad), float(hi + pad)


def density_scatter(run, experiment, region, skipped):
    first, last = run.years
    target = run.target
    bins = int(run.cfg.get("figures.scatter_bins"))
    # pass 1: which caches exist, and a strided sample for the limits; small runs keep every pair in memory
    present, samples, kept, kept_values = {}, [], {}, 0
    for model in run.models:
        files = []
        for year in range(first, last + 1):
            p = run.files.cache(model, experiment, region, year)
            if not p.exists():
                skipped.append(Skipped("scatter", f"{model} {experiment} {region} {year}",
                                       f"reconstruction cache {p} does not exist (run `fluxkit reconstruct "
                                       f"--config {run.cfg.source}`); the panel of {model} leaves the year out"))
                continue
            files.append(year)
        if not files:
            continue
        present[model] = files
        for year in files:
            with run.open_cache(model, experiment, region, year) as ds:
                sim, rec = _pairs(ds, target)
            step = max(1, sim.size // MAX_SAMPLE_PER_FILE)
            samples += [sim[::step], rec[::step]]
            if kept_values + 2 * sim.size <= MAX_KEPT_VALUES:
                kept[(model, year)] = (sim.astype(np.float32), rec.astype(np.float32))
                kept_values += 2 * sim.size
    if not present:
        raise Missing(f"no reconstruction caches for {experiment} {region} {first}-{last} under "
                      f"{run.files.caches_dir}")
    if sum(s.size for s in samples) == 0:
        raise Missing(f"region {region} has no cells with data in the caches of {experiment}")
    lo, hi = scatter_limits(samples)
    edges = np.linspace(lo, hi, bins + 1)
    # pass 2 (from memory when the pairs were kept): histograms
    hists, counts, outside = {}, {}, {}
    for model, years in present.items():
        h = np.zeros((bins, bins), dtype=np.int64)
        n = out = 0
        for year in years:
            if (model, year) in kept:
                sim, rec = (a.astype(np.float64) for a in kept.pop((model, year)))
            else:
                with run.open_cache(model, experiment, region, year) as ds:
                    sim, rec = _pairs(ds, target)
            h += histogram2d(sim, rec, lo, hi, bins)
            n += sim.size
            out += int(np.count_nonzero((sim < lo) | (sim > hi) | (rec < lo) | (rec > hi)))
        hists[model], counts[model], outside[model] = h, n, out
    # tables: OLS fit and R^2
    fits, r2s = {}, {}
    try:
        fit = run.rows("scatter_fit.csv", ("model", "experiment", "region", "slope", "intercept", "n"),
                       experiment=experiment, region=region)
        for _, r in fit.iterrows():
            fits[str(r["model"])] = (float(r["slope"]), float(r["intercept"]), int(r["n"]))
    except Missing as e:
        skipped.append(Skipped("scatter", f"{experiment} {region} fit", str(e)))
    try:
        met = run.rows("metrics.csv", ("model", "experiment", "region", "weighting", "period_type", "period", "r2"),
                       experiment=experiment, region=region, weighting="unweighted", period_type="overall")
        for _, r in met.iterrows():
            r2s[str(r["model"])] = float(r["r2"])
    except Missing as e:
        skipped.append(Skipped("scatter", f"{experiment} {region} R^2", str(e)))

    models = list(present)
    n = len(models)
    ncols = n if n <= 3 else math.ceil(n / 2)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.5 * ncols + 1.0, 3.3 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    vmax = max(1, max(int(h.max()) for h in hists.values()))
    norm = LogNorm(vmin=1, vmax=vmax)
    units = run.units()
    mesh = None
    for k, model in enumerate(models):
        ax = axes.flat[k]
        h = np.ma.masked_equal(hists[model].T.astype(float), 0)  # rows = reconstructed (y), columns = simulated
        mesh = ax.pcolormesh(edges, edges, h, cmap=DENSITY_CMAP, norm=norm, rasterized=True)
        mesh.set_gid(f"scatter:{model}")
        (one,) = ax.plot([lo, hi], [lo, hi], ls="--", color="#CC79A7", lw=1.2, label="1:1")
        one.set_gid(f"scatter-identity:{model}")
        if model in fits:
            a, b, nfit = fits[model]
            (fl,) = ax.plot([lo, hi], [a * lo + b, a * hi + b], color="#0072B2", lw=1.6,
                            label=f"OLS fit: y = {a:.2f} x {'+' if b >= 0 else '-'} {abs(b):.2f}")
            fl.set_gid(f"scatter-fit:{model}")
            if nfit != counts[model]:
                skipped.append(Skipped("scatter", f"{model} {experiment} {region}",
                                       f"scatter_fit.csv counts {nfit} pairs, the caches {counts[model]}: tables "
                                       f"and caches of different runs?"))
        else:
            skipped.append(Skipped("scatter", f"{model} {experiment} {region}",
                                   f"scatter_fit.csv has no fit for {model}"))
        txt = f"R$^2$ = {r2s[model]:.3f}" if model in r2s else "R$^2$: not in metrics.csv"
        txt += f"\nn = {counts[model]:,}"
        if outside[model]:
            txt += f"\n{outside[model]:,} outside the axes"
        ax.text(0.04, 0.96, txt, transform=ax.transAxes, va="top", fontsize=7.5,
                bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85))
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_title(model_label(model))
        if k // ncols == nrows - 1 or k + ncols >= n:  # bottom panel of its column
            ax.set_xlabel(flux_label(target, units, "Simulated "))
        if k % ncols == 0:
            ax.set_ylabel(flux_label(target, units, "Reconstructed "))
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    for k in range(n, nrows * ncols):
        axes.flat[k].set_visible(False)
    cb = fig.colorbar(mesh, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
    cb.set_label("(cell, month) pairs per bin")
    title = (f"Reconstructed against simulated CO$_2$ flux: {run.region_display(region)}, "
             f"{run.experiment_label(experiment)}, {period_label(first, last)}")
    fig.suptitle(title, fontsize=10.5)
    f = Figure(figure_name("scatter", experiment, region), "scatter", title, fig,
               caption=(f"Every (cell, month) pair of {period_label(first, last)} binned on a {bins} x {bins} grid "
                        f"(log colour scale, same limits for every model); dashed: 1:1; blue: least-squares fit; "
                        f"R^2 as sklearn's r2_score (1 - SS_res / SS_tot of the simulated values)."),
               region=region, experiment=experiment, models=models)
    f.data = dict(edges=edges, hists=hists, counts=counts)
    return f
