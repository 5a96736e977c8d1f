"""`fluxkit report`: a static HTML page of a configuration's run, in one folder that opens offline.

    PYTHONPATH=python /usr/bin/python3 -m fluxkit.report --config configs/demo.toml   # or: fluxkit report

writes `[report] output_dir`/index.html and the figures it shows (copied into img/), with: the run's
configuration and provenance, the model ranking and metric tables, every figure of `fluxkit figures`
(figures.json) organised by region and by model, the training and validation losses, and the data exploration.
No JavaScript is needed to read it (one short inline script only records images that failed to load, for the
browser test).

The page is assembled from *section builders*: functions `builder(ctx) -> Section | list[Section] | None` listed
in SECTION_BUILDERS as "module:function" (imported lazily; later modules such as explanations or tuning add
their own entry, or call `register_section`). Each builder reads its own files, adds its images with
`ctx.image(path)`, and calls `section.missing(...)` for every input it lacks: the report marks those in place
and lists them at the top instead of failing. A builder that raises becomes a section that says so.

Exit status: 0 when complete, 1 when written with missing parts (named on stderr), 2 for a configuration error.
"""
from __future__ import annotations

import html
import importlib
import json
import math
import os
import shutil
import sys
import time
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .runconfig import ConfigError, RunConfig, RunFiles, load

# Built-in sections in page order. Other modules append "module:function" entries (register_section).
SECTION_BUILDERS: list[str] = [
    "fluxkit.report:overview_section",
    "fluxkit.report:ranking_section",
    "fluxkit.report:region_sections",
    "fluxkit.report:timeseries_section",
    "fluxkit.report:ensemble_sections",
    "fluxkit.report:model_sections",
    "fluxkit.report:exploration_section",
    "fluxkit.report:ocean_signature_section",
    "fluxkit.report:explanations_section",
    "fluxkit.report:tuning_section",
    "fluxkit.report:configuration_section",
]

MODEL_LABELS = {"mlp": "MLP", "lstm": "LSTM", "attention_lstm": "Attention-LSTM", "xgboost": "XGBoost"}


def register_section(builder: str, before: str | None = None) -> None:
    """Adds a section builder ("module:function"), at the end or before another builder."""
    if builder in SECTION_BUILDERS:
        return
    if before and before in SECTION_BUILDERS:
        SECTION_BUILDERS.insert(SECTION_BUILDERS.index(before), builder)
    else:
        SECTION_BUILDERS.insert(len(SECTION_BUILDERS) - 1, builder)  # the configuration stays last


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def tex_html(text) -> str:
    """Escaped text with matplotlib's mathtext sub- and superscripts as HTML: CO$_2$ -> CO<sub>2</sub>,
    m$^{-2}$ -> m<sup>-2</sup>; any other $ is dropped."""
    import re

    t = esc(text)
    t = re.sub(r"\$_\{?([^${}]*)\}?\$", r"<sub>\1</sub>", t)
    t = re.sub(r"\$\^\{?([^${}]*)\}?\$", r"<sup>\1</sup>", t)
    return t.replace("$", "")


def model_label(m: str) -> str:
    return MODEL_LABELS.get(m, m)


@dataclass
class Section:
    """One part of the page: an anchor id, a title, HTML, and what it lacked."""

    id: str
    title: str
    html: str = ""
    missing_items: list = field(default_factory=list)
    level: int = 2
    group: str = ""  # navigation group ("Regions", "Models", ...)

    def add(self, fragment: str) -> "Section":
        self.html += fragment
        return self

    def missing(self, what: str) -> "Section":
        """Marks an input as missing: a visible note here and an entry in the list at the top."""
        self.missing_items.append(what)
        self.html += f'<p class="missing">Missing: {esc(what)}</p>\n'
        return self


class ReportContext:
    """What builders get: the configuration, the run's files, the figures' manifest, and image copying."""

    def __init__(self, cfg: RunConfig, out_dir: Path):
        self.cfg = cfg
        self.files = RunFiles(cfg)
        self.out_dir = out_dir
        self.img_dir = out_dir / "img"
        self.images: list[str] = []
        self._manifest = None
        self.manifest_problem = ""

    # figures of `fluxkit figures`
    @property
    def manifest(self) -> dict:
        if self._manifest is None:
            p = self.files.figures_dir / "figures.json"
            try:
                self._manifest = json.loads(p.read_text())
            except FileNotFoundError:
                self._manifest = {"figures": [], "skipped": []}
                self.manifest_problem = (f"no figures: {p} does not exist (run `fluxkit figures --config "
                                         f"{self.cfg.source}`)")
            except (OSError, ValueError) as e:
                self._manifest = {"figures": [], "skipped": []}
                self.manifest_problem = f"the figure list {p} cannot be read: {e}"
        return self._manifest

    def figures(self, family: str | None = None, **where) -> list[dict]:
        out = []
        for f in self.manifest.get("figures", []):
            if family and f.get("family") != family:
                continue
            if all(str(f.get(k, "")) == str(v) for k, v in where.items()):
                out.append(f)
        return out

    def skipped(self, family: str | None = None) -> list[dict]:
        return [s for s in self.manifest.get("skipped", []) if family is None or s.get("family") == family]

    def image(self, path: str | Path) -> str | None:
        """Copies an image into img/ and returns its relative address (None when the file is absent)."""
        src = Path(path)
        if not src.is_absolute():
            src = Path.cwd() / src
        if not src.exists():
            return None
        self.img_dir.mkdir(parents=True, exist_ok=True)
        name = src.name
        k = 1
        while (self.img_dir / name).exists() and f"img/{name}" not in self.images:
            name = f"{src.stem}_{k}{src.suffix}"
            k += 1
        dst = self.img_dir / name
        if f"img/{name}" not in self.images:
            shutil.copyfile(src, dst)
            self.images.append(f"img/{name}")
        return f"img/{name}"

    def figure_html(self, rec: dict, section: Section) -> str:
        """A figure of the manifest (its PNG) with title and caption; a missing file is marked."""
        files = rec.get("files", [])
        png = next((f for f in files if f.endswith(".png")), None)
        shown = png or next((f for f in files if f.endswith(".svg")), None)
        src = self.image(shown) if shown else None
        if src is None:
            section.missing(f"figure file of '{rec.get('title', rec.get('name'))}' ({shown or 'no PNG/SVG'})")
            return ""
        links = " ".join(f'<a href="{esc(self.image(f))}">{esc(Path(f).suffix[1:].upper())}</a>'
                         for f in files if f != shown and self.image(f))
        return (f'<figure id="fig-{esc(rec["name"])}"><a href="{esc(src)}"><img src="{esc(src)}" '
                f'alt="{esc(rec.get("title", "").replace("$", ""))}" loading="eager"></a>'
                f'<figcaption><b>{tex_html(rec.get("title", ""))}.</b> {tex_html(rec.get("caption", ""))}'
                f'{(" Also as " + links + ".") if links else ""}</figcaption></figure>\n')

    # tables of `fluxkit evaluate`
    def table(self, name: str, section: Section) -> pd.DataFrame | None:
        p = self.files.table(name)
        if not p.exists():
            section.missing(f"evaluation table {p} (run `fluxkit evaluate --config {self.cfg.source}`)")
            return None
        try:
            return pd.read_csv(p)
        except Exception as e:  # noqa: BLE001
            section.missing(f"evaluation table {p} cannot be read: {e}")
            return None


def df_html(df: pd.DataFrame, floatfmt: str = "{:.4g}", highlight_first: bool = False) -> str:
    rows = ['<div class="table"><table><thead><tr>' + "".join(f"<th>{esc(c)}</th>" for c in df.columns) + "</tr></thead><tbody>"]
    for i, (_, r) in enumerate(df.iterrows()):
        cells = []
        for c in df.columns:
            v = r[c]
            if isinstance(v, float):
                s = "\u2013" if math.isnan(v) else floatfmt.format(v)  # no value (e.g. a method without it)
                cells.append(f'<td class="num">{esc(s)}</td>')
            elif isinstance(v, (int,)) and not isinstance(v, bool):
                cells.append(f'<td class="num">{v:,}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        cls = ' class="best"' if highlight_first and i == 0 else ""
        rows.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    rows.append("</tbody></table></div>")
    return "\n".join(rows) + "\n"


def _selection(ctx):
    f = ctx.files
    return f.experiments, f.regions, f.models


def _region_display(ctx, region):
    return ctx.cfg.region(region).display


# ---- built-in section builders ---------------------------------------------------------------------------------


def overview_section(ctx: ReportContext) -> Section:
    s = Section("overview", "Overview")
    exps, regions, models = _selection(ctx)
    first, last = ctx.files.years
    s.add("<dl class=\"facts\">")
    s.add(f"<dt>Configuration</dt><dd><code>{esc(ctx.cfg.source)}</code></dd>")
    s.add(f"<dt>Models</dt><dd>{esc(', '.join(model_label(m) for m in models))}</dd>")
    s.add(f"<dt>Experiments</dt><dd>{esc(', '.join(ctx.cfg.experiment_label(e) for e in exps))}</dd>")
    s.add(f"<dt>Regions</dt><dd>{esc(', '.join(_region_display(ctx, r) for r in regions))}</dd>")
    s.add(f"<dt>Test years</dt><dd>{first}-{last}</dd>")
    s.add("</dl>\n")
    # provenance of the evaluation (netCDF attributes) and of the artifacts (model.toml)
    prov = None
    for m in models:
        for e in exps:
            for r in regions:
                p = ctx.files.error_field(m, e, r)
                if p.exists() and prov is None:
                    import xarray as xr

                    with xr.open_dataset(p) as ds:
                        prov = {k: ds.attrs[k] for k in ds.attrs if k in (
                            "title", "fluxkit_version", "fluxkit_git_commit", "fluxkit_config_hash",
                            "date_created", "history")}
                        prov["file"] = str(p)
                        span = (int(ds.attrs.get("first_year", first)), int(ds.attrs.get("last_year", last)))
                    if span != (first, last):
                        s.missing(f"{p} evaluates {span[0]}-{span[1]}, the configuration {first}-{last}: the "
                                  f"evaluation comes from another configuration (run `fluxkit evaluate`)")
    if prov:
        s.add("<h3>Provenance of the evaluation</h3>\n<dl class=\"facts\">")
        for k, v in prov.items():
            s.add(f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>")
        s.add("</dl>\n")
    else:
        s.missing(f"evaluation fields under {ctx.files.evaluation_dir / 'fields'} (provenance of the evaluation)")
    rows = []
    for m in models:
        p = ctx.files.model_toml(m)
        try:
            with open(p, "rb") as fh:
                t = tomllib.load(fh)
            pv, tr = t.get("provenance", {}), t.get("training", {})
            rows.append(dict(model=model_label(m), type=t.get("model", {}).get("type", ""),
                             software=pv.get("software", ""), git_commit=pv.get("git_commit", ""),
                             config_hash=pv.get("config_hash", ""), created=pv.get("creation_date", ""),
                             best_epoch=tr.get("best_epoch", ""), stop=tr.get("stop_reason", "")))
        except FileNotFoundError:
            s.missing(f"artifact {p} of model {m}")
        except (OSError, tomllib.TOMLDecodeError) as e:
            s.missing(f"artifact {p} cannot be read: {e}")
    if rows:
        s.add("<h3>Provenance of the model artifacts</h3>\n" + df_html(pd.DataFrame(rows)))
    fig_count = len(ctx.manifest.get("figures", []))
    man = ctx.manifest
    if ctx.manifest_problem:
        s.missing(ctx.manifest_problem)
    else:
        s.add(f"<p>{fig_count} figures by <code>fluxkit figures</code> ({esc(', '.join(man.get('formats', [])))}"
              f", {man.get('dpi', '?')} dpi, drawn in {man.get('seconds', '?')} s).</p>\n")
    return s


def ranking_section(ctx: ReportContext) -> Section:
    s = Section("ranking", "Model ranking and metrics")
    exps, regions, models = _selection(ctx)
    rk = ctx.table("ranking.csv", s)
    met = ctx.table("metrics.csv", s)
    summ = ctx.table("seasonal_summary.csv", s)
    if rk is not None:
        s.add("<p>Per experiment and region, models ranked by the overall unweighted RMSE (rank 1 = best; "
              "units of the target; R<sup>2</sup> as sklearn's r2_score).</p>\n")
        for e in exps:
            for r in regions:
                d = rk[(rk["experiment"] == e) & (rk["region"] == r)].sort_values("rank")
                s.add(f"<h3>{esc(_region_display(ctx, r))}, {esc(ctx.cfg.experiment_label(e))}</h3>\n")
                if d.empty:
                    s.missing(f"ranking.csv has no rows for {e} {r} (tables of another configuration?)")
                    continue
                d = d.assign(model=d["model"].map(model_label))
                s.add(df_html(d[["rank", "model", "rmse", "mse", "r2"]], highlight_first=True))
                if met is not None:
                    o = met[(met["experiment"] == e) & (met["region"] == r) & (met["period_type"] == "overall")]
                    if not o.empty:
                        o = o.assign(model=o["model"].map(model_label))
                        s.add("<details><summary>All overall metrics (unweighted and area-weighted)</summary>\n"
                              + df_html(o[["model", "weighting", "n", "mse", "rmse", "mae", "bias", "r2",
                                           "pearson_r"]]) + "</details>\n")
                    se = met[(met["experiment"] == e) & (met["region"] == r) & (met["period_type"] == "season")
                             & (met["weighting"] == "area")]
                    if not se.empty:
                        piv = se.pivot_table(index="model", columns="period", values="rmse")
                        piv = piv[[c for c in ["DJF", "MAM", "JJA", "SON"] if c in piv.columns]]
                        piv.index = [model_label(m) for m in piv.index]
                        s.add("<details><summary>Area-weighted RMSE per season</summary>\n"
                              + df_html(piv.reset_index(names="model")) + "</details>\n")
    if summ is not None and not summ.empty:
        d = summ[summ["experiment"].isin(exps) & summ["region"].isin(regions)]
        if not d.empty:
            d = d.assign(model=d["model"].map(model_label))
            d = d.rename(columns={"sim_amplitude": "amplitude sim.", "rec_amplitude": "amplitude rec.",
                                  "amplitude_error": "amplitude error", "sim_peak_month": "peak sim.",
                                  "rec_peak_month": "peak rec.", "phase_error_months": "phase error (months)"})
            s.add("<h3>Seasonal cycle: amplitude (target units) and phase</h3>\n" + df_html(
                d[["experiment", "region", "model", "amplitude sim.", "amplitude rec.", "amplitude error",
                   "peak sim.", "peak rec.", "phase error (months)"]]))
    return s


REGION_FAMILIES = [("maps", "Simulated and reconstructed flux"), ("differences", "Reconstructed - simulated"),
                   ("errors", "RMSE and bias over the test years"), ("scatter", "Reconstructed against simulated")]


def region_sections(ctx: ReportContext) -> list[Section]:
    exps, regions, models = _selection(ctx)
    out = []
    met = None
    p = ctx.files.table("metrics.csv")
    if p.exists():
        met = pd.read_csv(p)
    for r in regions:
        s = Section(f"region-{r}", f"Region: {_region_display(ctx, r)}", group="Regions")
        for e in exps:
            s.add(f"<h3>{esc(ctx.cfg.experiment_label(e))}</h3>\n")
            if met is not None:
                o = met[(met["experiment"] == e) & (met["region"] == r) & (met["period_type"] == "overall")
                        & (met["weighting"] == "area")]
                if not o.empty:
                    o = o.assign(model=o["model"].map(model_label))
                    s.add("<p>Area-weighted scores over every test month:</p>\n"
                          + df_html(o[["model", "n", "rmse", "mae", "bias", "r2", "pearson_r"]]))
            for fam, label in REGION_FAMILIES:
                figs = ctx.figures(fam, experiment=e, region=r)
                if not figs:
                    why = [k["reason"] for k in ctx.skipped(fam) if e in k.get("what", "") and r in k.get("what", "")]
                    s.missing(f"{label} ({fam}) for {e} {r}" + (f": {why[0]}" if why else ""))
                    continue
                for f in figs:
                    s.add(ctx.figure_html(f, s))
        out.append(s)
    return out


def timeseries_section(ctx: ReportContext) -> Section:
    s = Section("timeseries", "Annual means and seasonal cycles")
    exps, regions, models = _selection(ctx)
    for e in exps:
        for fam in ("annual", "seasonal"):
            figs = ctx.figures(fam, experiment=e)
            if not figs:
                why = [k["reason"] for k in ctx.skipped(fam) if e in k.get("what", "")]
                s.missing(f"{fam} figure for {e}" + (f": {why[0]}" if why else ""))
            for f in figs:
                s.add(ctx.figure_html(f, s))
    p = ctx.files.table("timeseries_annual.csv")
    if p.exists():
        d = pd.read_csv(p)
        d = d[d["experiment"].isin(exps) & d["region"].isin(regions)]
        if not d.empty:
            from .figures.timeseries import integrated_columns

            try:
                sim_int, sim_cov, rec_int = integrated_columns(d)
            except Exception as e:  # noqa: BLE001
                s.missing(str(e))
                return s
            agg = dict(simulated=(sim_int, "mean"), reconstructed=(rec_int, "mean"),
                       units=("integrated_units", "first"))
            if sim_cov != sim_int:
                agg["simulated_sampled"] = (sim_cov, "mean")
            if "area_fraction" in d.columns:
                agg["area_fraction"] = ("area_fraction", "mean")
            g = d.groupby(["experiment", "region", "model"], sort=False).agg(**agg).reset_index()
            g["difference"] = g["reconstructed"] - (g["simulated_sampled"] if "simulated_sampled" in g else
                                                    g["simulated"])
            g["model"] = g["model"].map(model_label)
            s.add("<h3>Integrated flux, mean over the test years</h3>\n<p>simulated: over every ocean cell of the "
                  "region; reconstructed: the sampled mean times the region's ocean area"
                  + ("; simulated_sampled: the simulation treated the same way, what the difference is taken "
                     "against" if "simulated_sampled" in g else "") + ".</p>\n" + df_html(g))
    else:
        s.missing(f"evaluation table {p}")
    return s


def ensemble_sections(ctx: ReportContext) -> list[Section]:
    """Ensembles ([train] ensemble > 1): the calibration table and the spread figures; no section when no
    evaluated model is an ensemble."""
    exps, regions, models = _selection(ctx)
    p = ctx.files.table("ensemble_calibration.csv")
    cal = None
    if p.exists():
        try:
            cal = pd.read_csv(p)
        except Exception:  # noqa: BLE001 - reported below
            cal = None
    rows = cal[cal["experiment"].isin(exps) & cal["region"].isin(regions) & cal["model"].isin(models)] \
        if cal is not None and {"model", "experiment", "region"} <= set(cal.columns) else None
    figs = ctx.figures("ensemble_maps") + ctx.figures("ensemble_bands")
    if (rows is None or rows.empty) and not figs:
        return []
    s = Section("ensembles", "Ensembles: spread and calibration")
    if rows is not None and not rows.empty:
        d = rows.copy()
        d["model"] = d["model"].map(model_label)
        s.add("<p>Models trained as seed ensembles (<code>[train] ensemble</code>): the metrics of the other "
              "sections are those of the ensemble mean. Calibration over every (cell, month) of the test years: "
              "the fraction of simulated values within the ensemble mean +-1 and +-2 standard deviations (about "
              "0.68 and 0.95 for a spread that represents the error), the mean standard deviation, the RMSE of the "
              f"mean and their ratio (spread/error, 1 = calibrated, below 1 = over-confident) "
              f"(<code>{esc(p)}</code>):</p>\n" + df_html(d))
    elif cal is None and p.exists():
        s.missing(f"evaluation table {p} cannot be read")
    for e in exps:
        for f in ctx.figures("ensemble_bands", experiment=e):
            s.add(ctx.figure_html(f, s))
        for r in regions:
            for f in ctx.figures("ensemble_maps", experiment=e, region=r):
                s.add(ctx.figure_html(f, s))
    for fam in ("ensemble_maps", "ensemble_bands"):
        for k in ctx.skipped(fam):
            s.missing(k["reason"])
    if not figs and not ctx.skipped("ensemble_maps") and not ctx.skipped("ensemble_bands"):
        s.missing("the ensemble figures (run `fluxkit figures`)")
    return [s]


def model_sections(ctx: ReportContext) -> list[Section]:
    exps, regions, models = _selection(ctx)
    out = []
    s = Section("training", "Training and validation losses", group="Models")
    figs = ctx.figures("losses")
    for f in figs:
        s.add(ctx.figure_html(f, s))
    for k in ctx.skipped("losses"):
        s.missing(k["reason"])
    if not figs and not ctx.skipped("losses"):
        s.missing("the loss figure (run `fluxkit figures`)")
    p = ctx.files.validation_mse
    if p.exists():
        d = pd.read_csv(p)
        s.add("<p>Validation MSE (z-normalised target) of every model and of the two baselines "
              f"(<code>{esc(p)}</code>):</p>\n" + df_html(d.fillna("")))
    else:
        s.missing(f"{p} (run `fluxkit train --config {ctx.cfg.source}`)")
    out.append(s)
    met = None
    mp = ctx.files.table("metrics.csv")
    if mp.exists():
        met = pd.read_csv(mp)
    for m in models:
        ms = Section(f"model-{m}", f"Model: {model_label(m)}", group="Models")
        lp = ctx.files.losses(m)
        if lp.exists():
            d = pd.read_csv(lp)
            if {"epoch", "validation_loss"} <= set(d.columns) and not d.empty:
                best = d.loc[d["validation_loss"].idxmin()]
                ms.add(f"<p>{len(d)} epochs; lowest validation loss {best['validation_loss']:.4g} at epoch "
                       f"{int(best['epoch'])} (<code>{esc(lp)}</code>).</p>\n")
        else:
            ms.missing(f"loss table {lp}")
        if met is not None:
            o = met[(met["model"] == m) & (met["period_type"] == "overall") & (met["weighting"] == "area")
                    & met["experiment"].isin(exps) & met["region"].isin(regions)]
            if not o.empty:
                ms.add("<p>Area-weighted scores per experiment and region:</p>\n"
                       + df_html(o[["experiment", "region", "n", "rmse", "mae", "bias", "r2", "pearson_r"]]))
            else:
                ms.missing(f"metrics.csv has no rows for {m}")
        links = []
        for e in exps:
            for r in regions:
                for f in ctx.figures("scatter", experiment=e, region=r):
                    if m in f.get("models", []):
                        links.append(f'<a href="#fig-{esc(f["name"])}">{esc(_region_display(ctx, r))}, {esc(e)}</a>')
        if links:
            ms.add("<p>Scatter panels: " + ", ".join(links) + ".</p>\n")
        out.append(ms)
    return out


def exploration_section(ctx: ReportContext) -> Section:
    s = Section("exploration", "Data exploration")
    figs = ctx.figures("explore")
    for f in figs:
        s.add(ctx.figure_html(f, s))
    for k in ctx.skipped("explore"):
        s.missing(k["reason"])
    if not figs and not ctx.skipped("explore"):
        s.missing(f"exploration figures (run `fluxkit explore` and `fluxkit figures` with --config "
                  f"{ctx.cfg.source})")
    return s


def ocean_signature_section(ctx: ReportContext) -> Section | None:
    """The ocean flux seen at the stations (`fluxkit transport ocean-signature`), when the run has a transport case."""
    if not ctx.cfg.section("ocean_transport").get("db"):
        return None
    s = Section("ocean-signature", "Ocean flux at the stations")
    d = RunFiles(ctx.cfg).ocean_transport_dir
    p = d / "ocean_signature_stations.csv"
    model = str(ctx.cfg.get("ocean_transport.model"))
    s.add(f"<p>The simulated and the {esc(model_label(model))} reconstruction of the ocean flux, regridded "
          "conservatively onto the transport grid and transported forward to every observation (ppm; positive = "
          "CO2 added to the atmosphere). The difference is the reconstruction error as each station sees it.</p>\n")
    if p.exists():
        df = pd.read_csv(p)
        s.add(df_html(df, floatfmt="{:.3g}"))
    else:
        s.missing(f"{p} (run `fluxkit transport ocean-signature --config {ctx.cfg.source}`)")
    for f in ctx.figures("signature"):
        s.add(ctx.figure_html(f, s))
    for k in ctx.skipped("signature"):
        s.missing(k["reason"])
    return s


def explanations_section(ctx: ReportContext) -> Section | None:
    """Which drivers, at which lags, the models use (`fluxkit explain`), when explanations exist."""
    from .figures.explain import explain_dir

    p = explain_dir(ctx) / "importance.csv"  # the context has the run's cfg and files
    if not p.exists():
        return None
    s = Section("explanations", "Explanations: drivers and lags")
    s.add("<p>Shapley-value attributions of the models' predictions to their inputs (KernelSHAP for any model, "
          "TreeSHAP for XGBoost, TimeSHAP for the recurrent models) and the attention-LSTM's attention weights; "
          "mean |phi| per driver, pooled over the explained regions and months, with bootstrap intervals "
          "(normalised target units).</p>\n")
    df = pd.read_csv(p, keep_default_na=False, na_values=["nan"], dtype={"lag": str, "month": str})
    d = df[(df["region"] == "all") & (df["month"] == "all") & df["lag"].isin(["all", "-1"])
           & ~df["driver"].isin(["event"])]
    if not d.empty:
        table = d.pivot_table(index="driver", columns=["model", "method"], values="mean_abs_phi")
        table.columns = [f"{m} {k}" for m, k in table.columns]
        table = table.reset_index()
        s.add(df_html(table, floatfmt="{:.3g}"))
    for f in ctx.figures("explain"):
        s.add(ctx.figure_html(f, s))
    for k in ctx.skipped("explain"):
        s.missing(k["reason"])
    return s


def tuning_section(ctx: ReportContext) -> Section | None:
    """The hyper-parameter studies (`fluxkit tune`), when they exist: per model the trials, the best value and
    parameters, the trial overhead; the optimisation history and the parameter importances."""
    d = ctx.files.tuning_dir
    if not (d / "summary.csv").exists():
        return None
    s = Section("tuning", "Hyper-parameter tuning")
    s.add("<p>Optuna studies of <code>fluxkit tune</code>: each trial trains the model in-process for at most "
          f"{esc(ctx.cfg.section('tune').get('max_epochs', ''))} epochs (XGBoost: its rounds) and is scored by its "
          "best validation MSE (normalised target); the pruner stops trials that fall behind. The best parameters "
          f"are in <code>{esc(Path(ctx.cfg.section('tune').get('output_dir', str(d))) / 'best.toml')}</code>, "
          "which <code>fluxkit train --config &lt;run.toml&gt; "
          "--config best.toml</code> reads.</p>\n")
    summary = pd.read_csv(d / "summary.csv")
    cols = ["model", "trials", "complete", "pruned", "failed", "epochs", "best_value", "best_trial",
            "overhead_percent"]
    s.add(df_html(summary[[c for c in cols if c in summary.columns]], floatfmt="{:.4g}"))
    best = d / "best.toml"
    if best.exists():
        s.add(f"<pre>{esc(best.read_text())}</pre>\n")
    for f in ctx.figures("tuning"):
        s.add(ctx.figure_html(f, s))
    for k in ctx.skipped("tuning"):
        s.missing(k["reason"])
    return s


def configuration_section(ctx: ReportContext) -> Section:
    s = Section("configuration", "Configuration")
    kind = "the effective configuration (every key, with defaults)" if ctx.cfg.effective else "the file"
    s.add(f"<p>{esc(kind)}: <code>{esc(ctx.cfg.source)}</code></p>\n<pre>{esc(ctx.cfg.text)}</pre>\n")
    others = [k for k in ctx.skipped() if k.get("family") not in ("losses", "explore", "signature", "explain")]
    if others:
        s.add("<h3>Items <code>fluxkit figures</code> skipped</h3>\n<ul>"
              + "".join(f"<li>[{esc(k['family'])}] {esc(k['what'])}: {esc(k['reason'])}</li>" for k in others)
              + "</ul>\n")
    return s


# ---- page ------------------------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1a1a1a;
line-height:1.45;display:flex}
nav{position:sticky;top:0;height:100vh;overflow:auto;min-width:14em;max-width:16em;background:#f4f4f4;
padding:1em;box-sizing:border-box;font-size:.9em;border-right:1px solid #ddd}
nav a{display:block;color:#0b5394;text-decoration:none;padding:.1em 0}
nav .group{margin-top:.6em;font-weight:600;color:#555}
main{padding:1em 2em;max-width:1200px;min-width:0}
h1{margin-top:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
figure{margin:1.2em 0;padding:.5em;border:1px solid #e4e4e4;background:#fff}
figure img{max-width:100%;height:auto;display:block;margin:auto}
figcaption{font-size:.88em;color:#333;margin-top:.4em}
div.table{overflow-x:auto;max-width:100%}table{border-collapse:collapse;margin:.5em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.2em .5em}th{background:#f0f0f0}td.num{text-align:right;
font-variant-numeric:tabular-nums}tr.best td{background:#e8f4ea}
.missing{background:#fff3cd;border-left:4px solid #e0a800;padding:.3em .6em}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.82em;max-height:40em}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
"""

IMAGE_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = document.images, broken = [];
  for (var i = 0; i < imgs.length; i++) if (!imgs[i].complete || imgs[i].naturalWidth === 0)
    broken.push(imgs[i].getAttribute('src'));
  var el = document.getElementById('image-check');
  el.setAttribute('data-images', imgs.length);
  el.setAttribute('data-broken', broken.join(' '));
  el.setAttribute('data-done', '1');
});
</script>"""


def build(cfg: RunConfig, log=print) -> tuple[Path, list[str]]:
    """Writes the report; returns (index.html, missing items)."""
    final = RunFiles(cfg).report_dir
    final.parent.mkdir(parents=True, exist_ok=True)
    work = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ctx = ReportContext(cfg, work)
    sections: list[Section] = []
    for spec in SECTION_BUILDERS:
        mod, fn = spec.split(":")
        try:
            result = getattr(importlib.import_module(mod), fn)(ctx)
        except Exception as e:  # noqa: BLE001 - one broken section must not break the page
            sec = Section(f"broken-{fn}", f"Section {fn}")
            sec.missing(f"section builder {spec} failed: {type(e).__name__}: {e}")
            sec.add(f"<pre>{esc(traceback.format_exc(limit=4))}</pre>")
            result = sec
        if result is None:
            continue
        sections += result if isinstance(result, list) else [result]
    missing = [f"{s.title}: {m}" for s in sections for m in s.missing_items]
    title = str(cfg.get("report.title"))
    nav, group = [], None
    for s in sections:
        if s.group != group:
            nav.append(f'<div class="group">{esc(s.group)}</div>' if s.group else '<div class="group"></div>')
        group = s.group
        flag = " (!)" if s.missing_items else ""
        nav.append(f'<a href="#{esc(s.id)}">{esc(s.title.split(": ", 1)[-1] if s.group else s.title)}{flag}</a>')
    body = [f"<h1>{esc(title)}</h1>",
            f"<p>Configuration <code>{esc(cfg.source)}</code>; written by <code>fluxkit report</code> on "
            f"{esc(time.strftime('%Y-%m-%d %H:%M', time.gmtime(_date())))} UTC.</p>"]
    if missing:
        body.append('<div class="missing"><b>This report is incomplete.</b> Missing inputs:<ul>'
                    + "".join(f"<li>{esc(m)}</li>" for m in missing) + "</ul></div>")
    for s in sections:
        body.append(f'<section id="{esc(s.id)}"><h{s.level}>{esc(s.title)}</h{s.level}>\n{s.html}</section>')
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n<nav><b>{esc(title)}</b>"
            + "".join(nav) + "</nav>\n<main>\n" + "\n".join(body)
            + '\n<div id="image-check" hidden></div>\n</main>\n' + IMAGE_CHECK + "\n</body></html>\n")
    (work / "index.html").write_text(page, encoding="utf-8")
    # swap the finished folder in
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(work, final)
    shutil.rmtree(old, ignore_errors=True)
    return final / "index.html", missing


def _date() -> float:
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    return float(sde) if sde and sde.isdigit() else time.time()


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="fluxkit report",
                                 description="Write a static HTML report of a configuration's run (one folder, "
                                             "opens offline).")
    ap.add_argument("--config", required=True, help="pipeline configuration (TOML)")
    ap.add_argument("--config-source", help=argparse.SUPPRESS)  # the user's file, when --config is fluxkit's
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--output-dir", help="[report] output_dir")
    a = ap.parse_args(argv)
    sets = list(a.set)
    if a.output_dir:
        sets.append(f'report.output_dir="{a.output_dir}"')
    try:
        cfg = load(a.config, sets, a.config_source)
        index, missing = build(cfg)
    except ConfigError as e:
        print(f"fluxkit report: error: {e}", file=sys.stderr)
        return 2
    print(f"fluxkit report: {index} (open it in a browser: file://{index.resolve()})")
    for m in missing:
        print(f"fluxkit report: missing: {m}", file=sys.stderr)
    if missing:
        print(f"fluxkit report: the report marks {len(missing)} missing inputs (named above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
