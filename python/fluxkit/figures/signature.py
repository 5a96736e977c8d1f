"""The atmospheric signature of the ocean flux (`fluxkit transport ocean-signature`): per station, the ocean
contribution to the observed CO2 (ppm) from the simulated and from the reconstructed ocean flux, and their
difference, the reconstruction error as the stations would see it. Reads ocean_signature.csv and
ocean_signature_stations.csv under `[ocean_transport] output_dir`. One panel per station (time on x).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import matplotlib.dates as mdates

from .common import Figure, Missing, bottom_legend, figure_name, model_label

COLUMNS = ("site", "time", "simulated_ppm", "reconstructed_ppm", "difference_ppm")


def read_signature(run):
    d = run.files.ocean_transport_dir
    p = d / "ocean_signature.csv"
    if not p.exists():
        raise Missing(f"no ocean signature: {p} does not exist (run `fluxkit transport ocean-signature --config "
                      f"{run.cfg.source}`)")
    df = pd.read_csv(p)
    miss = [c for c in COLUMNS if c not in df.columns]
    if miss:
        raise Missing(f"{p} lacks the columns {', '.join(miss)}")
    if df.empty:
        raise Missing(f"{p} has no observation")
    df["time"] = pd.to_datetime(df["time"])  # "YYYY-mm-dd HH:MM:SS" (UTC)
    return df.sort_values(["site", "time"])


def _gaps_broken(d, hours=6):
    """The rows with a NaN row inserted where observations are more than `hours` apart (nights), so that lines
    do not join separate days."""
    gap = d["time"].diff() > pd.Timedelta(hours=hours)
    if not gap.any():
        return d
    breaks = d.loc[gap, ["time"]].copy()
    breaks["time"] = breaks["time"] - pd.Timedelta(minutes=1)
    return pd.concat([d, breaks]).sort_values("time", kind="stable")


def signature_by_station(run, skipped):
    df = read_signature(run)
    model = str(run.cfg.get("ocean_transport.model"))
    exp = str(run.cfg.get("ocean_transport.experiment"))
    sites = list(dict.fromkeys(df["site"]))
    ncols = 3 if len(sites) > 4 else 2
    nrows = math.ceil(len(sites) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 2.9 * nrows + 0.9), squeeze=False,
                             layout="constrained", sharex=True)
    c = run.color(model) if model in run.models else "#0072B2"
    for k, site in enumerate(sites):
        ax = axes.flat[k]
        d = _gaps_broken(df[df["site"] == site])
        (ls,) = ax.plot(d["time"], d["simulated_ppm"], color="black", lw=1.2, marker="o", ms=2, label="simulated")
        ls.set_gid(f"signature:{site}:simulated")
        (lr,) = ax.plot(d["time"], d["reconstructed_ppm"], color=c, lw=1.2, marker="s", ms=2,
                        label=f"reconstructed ({model_label(model)})")
        lr.set_gid(f"signature:{site}:reconstructed")
        ax2 = ax.twinx()
        (ld,) = ax2.plot(d["time"], d["difference_ppm"], color="#D55E00", lw=0.9, ls=":",
                         label="difference (right axis)")
        ld.set_gid(f"signature:{site}:difference")
        lim = max(float(np.nanmax(np.abs(d["difference_ppm"]))), 1e-6) * 1.1
        ax2.set_ylim(-lim, lim)
        ax2.set_ylabel("Rec. - sim. (ppm)", fontsize=7, color="#D55E00")
        ax2.tick_params(labelsize=7, colors="#D55E00")
        ax.set_title(f"{site}: mean {d['simulated_ppm'].mean():.3g} ppm, RMS diff. "
                     f"{np.sqrt((d['difference_ppm'] ** 2).mean()):.2g} ppm", fontsize=8.5)
        ax.set_ylabel("Ocean CO2 (ppm)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.tick_params(labelbottom=True)  # every panel dated (the last row may be short)
    for k in range(len(sites), nrows * ncols):
        axes.flat[k].set_visible(False)
    handles = [ls, lr, ld]
    bottom_legend(fig, handles, ncol=3)
    t0, t1 = df["time"].min(), df["time"].max()
    title = (f"Ocean CO2 at the stations from the simulated and reconstructed ocean flux ({model_label(model)}, "
             f"{exp}), {t0:%Y-%m-%d} to {t1:%Y-%m-%d}")
    fig.suptitle(title, fontsize=10)
    return Figure(figure_name("ocean_signature"), "signature", title, fig, experiment=exp, models=[model],
                  caption=("Forward transport of the ocean flux at every observation (ppm; LUMIA's sign: positive "
                           "= CO2 added to the atmosphere): black = simulated flux, colour = the model's "
                           "reconstruction, dotted (right axis) = reconstructed - simulated, the reconstruction "
                           "error as the station sees it."))
