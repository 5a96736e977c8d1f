"""fluxkit's figures: everything a configuration's run has produced, drawn from fluxkit's own files.

    PYTHONPATH=python /usr/bin/python3 -m fluxkit.figures --config configs/demo.toml   # or: fluxkit figures

Families (one module each; `[figures] families` or --families selects some):

| family | module | one figure per | reads |
|---|---|---|---|
| maps | maps.py | experiment, region | caches of `[figures] map_year` |
| differences | maps.py | experiment, region | caches of `map_year` |
| errors | maps.py | experiment, region | evaluation fields/*_errors.nc |
| annual | timeseries.py | experiment | timeseries_annual.csv |
| seasonal | timeseries.py | experiment | seasonal_cycle.csv, seasonal_summary.csv |
| scatter | scatter.py | experiment, region | every cache of the years; scatter_fit.csv, metrics.csv |
| losses | losses.py | run | <artifact>/losses.csv, model.toml, validation_mse.csv |
| ensemble_maps | ensemble.py | experiment, region (ensembles only) | fields/*_errors.nc ensemble_std, ensemble_calibration.csv |
| ensemble_bands | ensemble.py | experiment (ensembles only) | ensemble_spread.csv |
| explore | explore.py | run (climatology), experiment (distributions, correlations) | `fluxkit explore` tables |
| signature | signature.py | run | `fluxkit transport ocean-signature` tables |
| explain | explain.py | model and method | `fluxkit explain`: importance.csv, per-sample netCDF files |
| tuning | tuning.py | run | `fluxkit tune`: trials_<model>.csv, importance_<model>.csv |

Figures go to `[figures] output_dir` as `<name>.<format>` (PNG at `[figures] dpi`, PDF/SVG on request), with
`figures.json`: every figure (name, family, title, caption, region, experiment, models, files, seconds) and every
skipped item with its reason. What is missing is named and the rest is still drawn; the exit status is 1 when
anything was skipped, 2 for a configuration error.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from ..runconfig import ConfigError, RunConfig, RunFiles, load
from .common import Figure, Missing, Outcome, Run, Skipped, save

FAMILIES = ["maps", "differences", "errors", "annual", "seasonal", "scatter", "losses", "ensemble_maps",
            "ensemble_bands", "explore", "signature", "explain", "tuning"]
MANIFEST = "figures.json"


def tasks(run: Run, families: list[str]):
    """(family, label, callable(skipped) -> Figure | list[Figure]) for everything to draw."""
    from . import ensemble, explain, explore, losses, maps, scatter, signature, timeseries, tuning

    out = []
    # the ensemble families only for models evaluated as ensembles (a run without any has nothing to draw)
    has_ensembles = bool({"ensemble_maps", "ensemble_bands"} & set(families)) and bool(ensemble.ensemble_models(run))
    for exp in run.experiments:
        for region in run.regions:
            what = f"{exp} {region}"
            if "maps" in families:
                out.append(("maps", what, lambda s, e=exp, r=region: maps.flux_maps(run, e, r, s)))
            if "differences" in families:
                out.append(("differences", what, lambda s, e=exp, r=region: maps.difference_maps(run, e, r, s)))
            if "errors" in families:
                out.append(("errors", what, lambda s, e=exp, r=region: maps.error_maps(run, e, r, s)))
            if "scatter" in families:
                out.append(("scatter", what, lambda s, e=exp, r=region: scatter.density_scatter(run, e, r, s)))
            if "ensemble_maps" in families and has_ensembles:
                out.append(("ensemble_maps", what, lambda s, e=exp, r=region: ensemble.spread_maps(run, e, r, s)))
        if "annual" in families:
            out.append(("annual", exp, lambda s, e=exp: timeseries.annual_means(run, e, s)))
        if "seasonal" in families:
            out.append(("seasonal", exp, lambda s, e=exp: timeseries.seasonal_cycles(run, e, s)))
        if "ensemble_bands" in families and has_ensembles:
            out.append(("ensemble_bands", exp, lambda s, e=exp: ensemble.spread_bands(run, e, s)))
    if "losses" in families:
        out.append(("losses", "all models", lambda s: losses.loss_curves(run, s)))
    if "signature" in families and run.cfg.section("ocean_transport").get("db"):
        out.append(("signature", "ocean signature", lambda s: signature.signature_by_station(run, s)))
    # drawn when `fluxkit explain` has run (a run without explanations has nothing to draw)
    if "explain" in families and (explain.explain_dir(run) / "importance.csv").exists():
        for label, fn in explain.explain_tasks(run):
            out.append(("explain", label, fn))
    # drawn when `fluxkit tune` has run
    if "tuning" in families and tuning.has_results(run):
        out.append(("tuning", "optimisation history", lambda s: tuning.history(run, s)))
        out.append(("tuning", "parameter importance", lambda s: tuning.importance(run, s)))
    if "explore" in families:
        for label, fn in explore.exploration_tasks(run):
            out.append(("explore", label, fn))
    return out


_RUN: Run | None = None
_TASKS: list = []


def _run_task(i: int):
    """Draws and saves task i; returns (records, skipped, seconds). Exceptions become skipped items."""
    family, what, fn = _TASKS[i]
    skipped: list[Skipped] = []
    records = []
    t0 = time.perf_counter()
    try:
        result = fn(skipped)
        figs = result if isinstance(result, list) else [result]
        out_dir = _RUN.files.figures_dir
        formats = [str(f) for f in _RUN.cfg.get("figures.formats")]
        dpi = int(_RUN.cfg.get("figures.dpi"))
        for f in figs:
            save(f, out_dir, formats, dpi)
            rec = _record(f)
            records.append(rec)
    except Missing as e:
        skipped.append(Skipped(family, what, str(e)))
    except Exception as e:  # noqa: BLE001 - a broken input must not stop the other figures
        skipped.append(Skipped(family, what, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"))
    seconds = time.perf_counter() - t0
    for r in records:
        r["seconds"] = round(seconds / max(len(records), 1), 3)
    return records, [asdict(s) for s in skipped], seconds


def _record(f: Figure) -> dict:
    return dict(name=f.name, family=f.family, title=f.title, caption=f.caption, region=f.region,
                experiment=f.experiment, models=list(f.models), files=list(f.files))


def _config_file(source) -> str:
    """The configuration file of a source name: "run.toml + command line" (flags such as --families) is run.toml."""
    return str(source).removesuffix(" + command line")


def _kept_entries(path: Path, source: str, drawn: list[str]) -> dict:
    """The entries of an earlier manifest at `path` that a run drawing only `drawn` leaves valid: other
    families, same configuration source, every file still there. Empty when there is no readable manifest."""
    none = dict(figures=[], skipped=[], families=[])
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return none
    if not isinstance(old, dict) or _config_file(old.get("config")) != _config_file(source):
        return none
    figures = [r for r in old.get("figures", []) if r.get("family") not in drawn
               and r.get("files") and all(Path(f).exists() for f in r["files"])]
    skipped = [k for k in old.get("skipped", []) if k.get("family") not in drawn]
    families = [f for f in old.get("families", []) if f not in drawn]
    return dict(figures=figures, skipped=skipped, families=families)


def draw_all(cfg: RunConfig, families: list[str] | None = None, jobs: int = 1, log=print) -> dict:
    """Draws every figure of `families` (default: [figures] families, or all); returns the manifest."""
    global _RUN, _TASKS
    fams = families or list(cfg.get("figures.families")) or FAMILIES
    unknown = [f for f in fams if f not in FAMILIES]
    if unknown:
        raise ConfigError(f"unknown figure families {unknown} (known: {', '.join(FAMILIES)})")
    for fmt in cfg.get("figures.formats"):
        if fmt not in ("png", "pdf", "svg"):
            raise ConfigError(f"figures.formats: unknown format '{fmt}' (png, pdf, svg)")
    run = Run(cfg, RunFiles(cfg))
    _RUN, _TASKS = run, tasks(run, fams)
    t0 = time.perf_counter()
    results = []
    jobs = max(1, min(jobs, len(_TASKS)))
    if jobs > 1:
        import multiprocessing as mp

        if {"maps", "differences", "errors", "ensemble_maps"} & set(fams):  # the shoreline once, shared by the forked workers
            from . import geo

            geo._no_downloads()
            if geo.land_geometries() is not None:
                geo._PROJECTED_LAND[("degrees",)] = geo._land_paths_degrees()

        # the expensive families first, so the pool ends together
        cost = ["maps", "differences", "scatter", "errors", "ensemble_maps", "explore", "seasonal", "annual",
                "ensemble_bands", "losses"]
        order = sorted(range(len(_TASKS)),
                       key=lambda i: cost.index(_TASKS[i][0]) if _TASKS[i][0] in cost else len(cost))
        with mp.get_context("fork").Pool(jobs) as pool:
            by_index = dict(zip(order, pool.map(_run_task, order, chunksize=1)))
        results = [by_index[i] for i in range(len(_TASKS))]
    else:
        results = [_run_task(i) for i in range(len(_TASKS))]
    figures, skipped = [], []
    for records, sk, _ in results:
        figures += records
        skipped += sk
    out = run.files.figures_dir
    # Drawing a subset of the families keeps the earlier manifest's entries of the other families (of the
    # same configuration, files still present), so a report built afterwards still finds them.
    kept = _kept_entries(out / MANIFEST, cfg.source, fams)
    figures = kept["figures"] + figures
    skipped = kept["skipped"] + skipped
    manifest = dict(
        config=cfg.source,
        families=[f for f in FAMILIES if f in fams or f in kept["families"]],
        drawn_families=fams,
        kept_figures=len(kept["figures"]),
        formats=list(cfg.get("figures.formats")),
        dpi=int(cfg.get("figures.dpi")),
        seconds=round(time.perf_counter() - t0, 3),
        jobs=jobs,
        figures=figures,
        skipped=skipped,
    )
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / MANIFEST)
    return manifest


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="fluxkit figures",
                                 description="Draw every figure of a configuration's run from fluxkit's files "
                                             "(caches, evaluation tables and fields, loss tables, exploration "
                                             "tables).")
    ap.add_argument("--config", required=True, help="pipeline configuration (TOML)")
    ap.add_argument("--config-source", help=argparse.SUPPRESS)  # the user's file, when --config is fluxkit's
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a configuration key (repeatable)")
    ap.add_argument("--families", help=f"comma-separated subset of: {', '.join(FAMILIES)}")
    ap.add_argument("--formats", help="comma-separated: png, pdf, svg [default: [figures] formats]")
    ap.add_argument("--dpi", type=int, help="PNG resolution [default: [figures] dpi]")
    ap.add_argument("--output-dir", help="[figures] output_dir")
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes [default: [run] threads, 0 = all cores]")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    sets = list(a.set)
    if a.formats:
        sets.append("figures.formats=[" + ",".join(f'"{x.strip()}"' for x in a.formats.split(",")) + "]")
    if a.dpi:
        sets.append(f"figures.dpi={a.dpi}")
    if a.output_dir:
        sets.append(f'figures.output_dir="{a.output_dir}"')
    try:
        cfg = load(a.config, sets, a.config_source)
        jobs = a.jobs if a.jobs is not None else int(cfg.get("run.threads"))
        if jobs <= 0:
            jobs = os.cpu_count() or 1
        fams = [f.strip() for f in a.families.split(",")] if a.families else None
        manifest = draw_all(cfg, fams, jobs)
    except ConfigError as e:
        print(f"fluxkit figures: error: {e}", file=sys.stderr)
        return 2
    out = RunFiles(cfg).figures_dir
    if not a.quiet:
        kept = manifest["kept_figures"]
        drawn = len(manifest["figures"]) - kept
        print(f"fluxkit figures: {drawn} figures in {out} ({manifest['seconds']:.1f} s, "
              f"{manifest['jobs']} processes); list: {out / MANIFEST}"
              + (f" (with {kept} figures of other families drawn before)" if kept else ""))
    skipped = [s for s in manifest["skipped"] if s["family"] in manifest["drawn_families"]]
    for s in skipped:
        print(f"fluxkit figures: skipped [{s['family']}] {s['what']}: {s['reason']}", file=sys.stderr)
    if skipped:
        print(f"fluxkit figures: {len(skipped)} items skipped (named above); the other figures "
              f"were drawn", file=sys.stderr)
        return 1
    return 0
