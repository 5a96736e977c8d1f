"""`fluxkit report`: a static page in one folder with every figure, table and the configuration; it renders in a
real headless browser (Debian's chromium) with every image loaded; missing inputs are marked, not fatal; other
modules can add sections.
"""
from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fluxkit import report, runconfig

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


class Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.src, self.ids, self.check = [], [], {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.src.append(a.get("src"))
        if "id" in a:
            self.ids.append(a["id"])
            if a["id"] == "image-check":
                self.check = a


def parse(text):
    p = Images()
    p.feed(text)
    return p


def figures_then_report(path):
    f = subprocess.run([sys.executable, "-m", "fluxkit.figures", "--config", "run.toml"], cwd=path,
                       capture_output=True, text=True)
    r = subprocess.run([sys.executable, "-m", "fluxkit.report", "--config", "run.toml"], cwd=path,
                       capture_output=True, text=True)
    return f, r


@pytest.fixture(scope="module")
def complete_report(run_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(run_dir, d)
    f, r = figures_then_report(d)
    assert f.returncode == 0, f.stderr
    assert r.returncode == 0, r.stderr
    return d


def test_report_holds_everything(complete_report):
    d = complete_report
    index = d / "report" / "index.html"
    page = index.read_text()
    p = parse(page)
    # every image is a file inside the report folder
    assert len(p.src) >= 17
    for s in p.src:
        assert not s.startswith(("/", "http")), s
        assert (d / "report" / s).exists(), s
    for section in ("overview", "ranking", "region-global", "region-north_atlantic", "region-southern_ocean",
                    "timeseries", "training", "model-xgboost", "model-xgb_small", "exploration", "configuration"):
        assert section in p.ids, section
    assert "incomplete" not in page and "Missing:" not in page
    assert "[evaluate]" in page and "fluxkit effective configuration" not in page  # the file given
    assert "<th>rank</th>" in page and "validation_mse" in page
    assert "<script src" not in page  # no external script
    # the folder opens from anywhere: moving it keeps the images
    moved = d / "moved"
    shutil.copytree(d / "report", moved)
    assert all((moved / s).exists() for s in p.src)


def chromium():
    for c in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(c)
        if path:
            return path
    pytest.fail("chromium is not installed (Debian: apt-get install chromium; scripts/install-deps)")


def test_report_renders_in_a_browser(complete_report, tmp_path):
    index = (complete_report / "report" / "index.html").resolve()
    browser = chromium()
    base = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000"]
    r = subprocess.run(base + ["--dump-dom", index.as_uri()], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = parse(r.stdout)
    check = dom.check
    assert check.get("data-done") == "1", "the page's load handler ran"
    assert int(check["data-images"]) == len(dom.src) >= 17
    assert check.get("data-broken", "") == "", f"images that did not load: {check.get('data-broken')}"
    shot = tmp_path / "report.png"
    r = subprocess.run(base + ["--window-size=1400,2200", f"--screenshot={shot}", index.as_uri()],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0 and shot.exists() and shot.stat().st_size > 20000
    keep = os.environ.get("FLUXKIT_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_missing_inputs_are_marked(run_copy):
    # no figures at all, and no evaluation fields
    shutil.rmtree(run_copy / "evaluation" / "fields")
    r = subprocess.run([sys.executable, "-m", "fluxkit.report", "--config", "run.toml"], cwd=run_copy,
                       capture_output=True, text=True)
    assert r.returncode == 1
    page = (run_copy / "report" / "index.html").read_text()
    assert "This report is incomplete" in page
    assert "fluxkit figures" in page and "figures.json" in page
    assert "fields" in r.stderr
    assert "<th>rank</th>" in page  # what exists is still shown


def test_sections_can_be_added(run_copy, monkeypatch):
    mod = type(sys)("extra_sections")

    def good(ctx):
        s = report.Section("shap", "Explanations (SHAP)")
        s.add("<p>beeswarm here</p>")
        s.missing("shap values file explain/shap.nc")
        return s

    def broken(ctx):
        raise RuntimeError("boom")

    mod.good, mod.broken = good, broken
    monkeypatch.setitem(sys.modules, "extra_sections", mod)
    monkeypatch.setattr(report, "SECTION_BUILDERS", list(report.SECTION_BUILDERS))
    report.register_section("extra_sections:good")
    report.register_section("extra_sections:broken", before="fluxkit.report:overview_section")
    os.chdir(run_copy)
    index, missing = report.build(runconfig.load("run.toml"))
    page = index.read_text()
    assert "Explanations (SHAP)" in page and "beeswarm here" in page
    assert page.index("boom") < page.index("Overview</h2>")
    assert any("shap.nc" in m for m in missing) and any("boom" in m for m in missing)
    # the configuration stays the last section
    assert page.rindex("<section") == page.index('<section id="configuration"')


def test_tables_mark_missing_values_as_a_dash():
    # e.g. the explanations table: a method without a "pruned events" player has no value there
    import pandas as pd
    out = report.df_html(pd.DataFrame({"driver": ["SST", "pruned events"], "mlp kernel_shap": [0.5, float("nan")]}))
    assert '<td class="num">0.5</td>' in out
    assert '<td class="num">\u2013</td>' in out
    assert "nan" not in out
