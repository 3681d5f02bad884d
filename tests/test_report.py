"""The HTML report of a comparison (replay/report.py) and `compare --report/--perfetto`:
structure and numbers checked against the comparison's JSON, self-containment, and a
headless-browser rendering when Debian's chromium is installed."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import polars as pl
import pytest

import traces
from replay import compare
from replay.metrics import utilization_grid
from replay.model.schedule import Schedule
from replay.present.report import _run_id, busiest_tasks, render_report, write_report
from replay.present.tables import COMPARE_COLUMNS, MISSING, get as _get
from traces import schema

from .conftest import DATA

TRACE = DATA / "panopticon_ftrace.txt"  # 4 CPUs, 20 tasks, wakeups: replays in no time
POLICIES = ("observed", "cfs", "eevdf", "infinity")
TOPOLOGIES = (None, "2x2x1")  # the recorded machine, and 2 sockets x 2 cores (two NUMA nodes)


class Page(HTMLParser):
    """What the checks need from the HTML: tags, attributes, cells of the comparison table,
    the embedded JSON and the visible text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, int] = {}
        self.attrs: list[tuple[str, str, str]] = []
        self.rows: dict[str, list[dict]] = {}
        self.text: list[str] = []
        self._row = None
        self._cell = None
        self._script = None
        self.scripts: list[tuple[dict, str]] = []
        self.ids: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "tr" and "data-run" in a:
            self._row = a["data-run"]
            self.rows.setdefault(self._row, [])
        if tag == "td" and self._row is not None and "data-key" in a:
            self._cell = {"key": a["data-key"], "value": a.get("data-value"), "text": ""}
            self.rows[self._row].append(self._cell)
        if tag == "script":
            self._script = (a, "")

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        if tag == "tr":
            self._row = None
        if tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script = (self._script[0], self._script[1] + data)
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data


@pytest.fixture(scope="module")
def result():
    t = traces.load(str(TRACE))
    return compare(t, POLICIES, TOPOLOGIES)


@pytest.fixture(scope="module")
def report(result, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(result, path)
    return path


@pytest.fixture(scope="module")
def page(report):
    return Page(report.read_text(encoding="utf-8"))


def test_self_contained(report, page):
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "http://" not in text and "https://" not in text  # not even SVG namespace addresses
    assert page.tags.get("link", 0) == 0 and page.tags.get("iframe", 0) == 0 and page.tags.get("img", 0) == 0
    for tag, key, value in page.attrs:
        if key in ("src", "href", "xlink:href", "action", "poster"):
            assert value.startswith(("#", "data:")), (tag, key, value[:80])
    assert not re.search(r"url\((?!['\"]?#)", text), "CSS url() to anything but an in-page id"
    assert not re.search(r"@import", text)
    # only data scripts, no code
    assert [a.get("type") for a, _ in page.scripts] == ["application/json"]
    # ids are unique (several inline SVGs share the page)
    dup = {i for i in page.ids if page.ids.count(i) > 1}
    assert not dup, sorted(dup)[:5]


def test_table_numbers_match_the_json(result, page):
    runs = result.to_dict()["runs"]
    assert len(runs) == 1 + 3 * len(TOPOLOGIES)
    assert set(page.rows) == {_run_id(r) for r in runs}
    keys = [c.key for c in COMPARE_COLUMNS]
    for r in runs:
        cells = {c["key"]: c for c in page.rows[_run_id(r)]}
        assert cells["policy"]["text"].strip() == r["policy"]
        assert cells["topology"]["text"].strip() == r["topology"]
        for col in COMPARE_COLUMNS:
            key, fmt = col.key, col.fmt
            v = _get(r, key)
            assert json.loads(cells[key]["value"]) == v, (r["policy"], key)
            shown = MISSING if v is None else fmt(v)
            assert cells[key]["text"].strip().startswith(shown), (key, cells[key]["text"], shown)
        assert set(keys) <= set(cells)


def test_embedded_json_is_the_comparison(result, page):
    data = json.loads(page.scripts[0][1])
    assert data == json.loads(json.dumps(result.to_dict(), default=str))


def test_every_section_and_policy(result, page, report):
    text = " ".join(page.text)
    for section in ("comparison", "validation", "waits", "tasks", "utilisation", "numa", "params", "warnings"):
        assert section in page.ids
    html_text = report.read_text(encoding="utf-8")
    assert html_text.count("<svg") >= len(TOPOLOGIES) + len(result.runs) + 2  # CDFs, tasks, utilisation, NUMA
    for p in POLICIES[1:]:
        # in the CDF legends (SVG text) and the parameter tables
        assert re.search(rf">{p} \(n=[\d,]+\)(, [\d.]+% of 0 ns \(o at the left edge\))?<", html_text), p
        assert f"{p} @ recorded" in text and f"{p} @ 2x2x1" in text
    for r in result.to_dict()["runs"]:
        assert f"tasks-{_run_id(r)}" in page.ids
    v = result.validation
    # the validation errors, as percentages that read back to the values (to the digits shown)
    for key in ("wait_p50_rel_err", "wait_p99_rel_err", "cpu_time_rel_err_mean"):
        shown = re.search(rf'data-key="validation.{key}">([^<]*)<', html_text).group(1)
        number = re.match(r"[+-]?<?\s*([\d.]+)%", shown)
        assert number, shown
        digits = len(number.group(1).partition(".")[2])
        assert abs(abs(v[key]) * 100 - float(number.group(1))) <= 0.5 * 10 ** -digits + 1e-12, (key, shown, v[key])
        assert float(number.group(1)) > 0 or v[key] == 0 or "<" in shown, (key, shown)  # non-zero never reads 0
    # NUMA: the 2-node machine's cross-node migrations, and each policy's own parameters
    assert "CPU time on the task's home node" in html_text
    assert "sched_latency_ns" in text and "base_slice_ns" in text
    # the busiest task of the recording is named in its task table
    top = busiest_tasks(result.observed).row(0, named=True)
    assert f"{top['comm']} ({top['tid']})" in html_text


def test_without_run_details_tables_only(result, tmp_path):
    bare = result.to_dict()  # the comparison's JSON: figures, no per-run tables, waits or utilisation
    path = write_report(bare, tmp_path / "bare.html")
    text = path.read_text(encoding="utf-8")
    assert "<svg" in text  # the NUMA plot needs only the metrics
    assert "not its runs' details: no plots" in text
    page = Page(text)
    assert set(page.rows) == {_run_id(r) for r in bare["runs"]}


def test_utilization_grid_is_exact():
    iv = {f.name: np.array(v, f.numpy_dtype) for f, v in zip(schema.INTERVALS.fields, [
        [1, 2, 1], [0, 1, 1], [0, 100, 300], [50, 400, 400], [schema.RUNNING] * 3, [schema.BEGIN_SWITCH_IN] * 3,
        [schema.END_BLOCKED] * 3, [-1] * 3, [-1] * 3, [-1] * 3, [True] * 3])}
    tasks = pl.DataFrame({"tid": np.array([1, 2], np.int32), "comm": ["a", "b"]})
    s = Schedule(pl.DataFrame(iv), tasks, 0, 400, 2)
    grid, edges = utilization_grid(s, buckets=4)
    assert edges.tolist() == [0, 100, 200, 300, 400]
    assert grid[0].tolist() == [0.5, 0, 0, 0]
    # CPU 1: task 2 over [100, 400) and task 1 [300, 400) overlap: clipped at 1
    assert grid[1].tolist() == [0, 1, 1, 1]


def test_render_is_deterministic_but_for_the_stamp(result):
    a = re.sub(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", render_report(result))
    b = re.sub(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", render_report(result))
    assert a == b


def test_compare_cli_writes_report_and_perfetto(tmp_path):
    out = tmp_path / "r.html"
    pdir = tmp_path / "pf"
    p = subprocess.run([sys.executable, "-m", "replay", "compare", str(TRACE), "--policies", "observed,cfs",
                        "--report", str(out), "--perfetto", str(pdir), "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert [r["policy"] for r in res["runs"]] == ["observed", "cfs"]
    assert out.exists() and "wrote" in p.stderr
    page = Page(out.read_text(encoding="utf-8"))
    assert set(page.rows) == {_run_id(r) for r in res["runs"]}
    files = sorted(f.name for f in pdir.iterdir())
    assert files == ["cfs-recorded.pftrace", "observed-recorded.pftrace"]
    back = traces.load(str(pdir / "cfs-recorded.pftrace"))
    assert back.format == "perfetto" and back.info()["counts"]["sched_switch"] > 0


def _png_stats(path):
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"), np.int16)
    non_white = np.any(a < 245, axis=2).mean()
    colours = len(np.unique(a.reshape(-1, 3)[:: max(1, a.shape[0] * a.shape[1] // 200_000)], axis=0))
    return a.shape, non_white, colours


def _chromium() -> str:
    """Debian's chromium; the rendering tests are skipped without it, unless CI asks for them
    (.ci/run installs it and sets SCHEDREPLAY_REQUIRE_CHROMIUM=1)."""
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get("SCHEDREPLAY_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is required (SCHEDREPLAY_REQUIRE_CHROMIUM=1) but not installed")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium): no rendering check")
    return exe


def _headless(exe, tmp_path) -> list[str]:
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}"]


def test_renders_in_headless_chromium(report, tmp_path):
    exe = _chromium()
    png = tmp_path / "report.png"
    cmd = [*_headless(exe, tmp_path), f"--screenshot={png}", "--window-size=1280,2000", report.resolve().as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert png.exists() and png.stat().st_size > 10_000, p.stderr[-2000:]
    shape, non_white, colours = _png_stats(png)
    assert shape[:2] == (2000, 1280)
    assert non_white > 0.03, f"the page looks blank ({non_white:.1%} non-white pixels)"
    assert colours > 50, f"only {colours} colours: the plots did not render"


#: Run inside the report (in a 390-px-wide frame): the page's own width against the
#: viewport's, and every element that reaches past the viewport's right edge outside a
#: horizontally scrolling container (``.scroll``: wide tables scroll inside themselves).
_MEASURE = """<script>
addEventListener('load', () => {
  const de = document.documentElement, over = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.getBoundingClientRect().right > de.clientWidth + 0.5
        && !(el.parentElement && el.parentElement.closest('.scroll'))) {
      let path = el.tagName, p = el.parentElement;
      while (p && p !== document.body) { path = p.tagName + (p.id ? '#' + p.id : '') + '>' + path; p = p.parentElement; }
      over.push(path);
    }
  }
  parent.postMessage({scroll: de.scrollWidth, client: de.clientWidth, viewport: innerWidth, over: over.slice(0, 8)}, '*');
});
</script>"""


def test_fits_a_390_pixel_wide_window(report, tmp_path):
    """On a phone (390 CSS px) the page never scrolls sideways: nothing reaches past the
    right edge except inside the tables' own scrolling boxes. Headless chromium will not
    make a window narrower than 500 px, so the report is shown in a 390-px-wide frame."""
    exe = _chromium()
    page = tmp_path / "report.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    wrap = tmp_path / "phone.html"
    wrap.write_text('<!DOCTYPE html><html><body style="margin:0"><iframe src="report.html" '
                    'style="width:390px;height:2400px;border:0"></iframe><pre id="out">no result</pre><script>'
                    "addEventListener('message', e => { document.getElementById('out').textContent = "
                    "'RESULT ' + JSON.stringify(e.data); });</script></body></html>", encoding="utf-8")
    p = subprocess.run([*_headless(exe, tmp_path), "--window-size=800,2400", "--virtual-time-budget=20000",
                        "--dump-dom", wrap.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    m = re.search(r"RESULT (\{.*?\})</pre>", p.stdout)
    assert m, (p.stdout[-1000:], p.stderr[-2000:])
    got = json.loads(html.unescape(m.group(1)))
    assert got["viewport"] == 390, got
    assert got["over"] == [], got
    assert got["scroll"] <= got["client"], got


def test_focus_and_where_the_longest_waits_happened(tmp_path):
    """With --focus the report opens with the selected tasks' own figures (the same numbers
    as the comparison's JSON, with their own errors), and every run's longest wait is
    listed with its task, CPU and exact start time."""
    from replay.present.tables import FOCUS_COLUMNS

    c = compare(traces.load(str(TRACE)), ("observed", "eevdf"), (None,), focus=["comm=kworker*"])
    text = write_report(c, tmp_path / "f.html").read_text(encoding="utf-8")
    page = Page(text)
    assert "focus" in page.ids and text.index('id="focus"') < text.index('id="comparison"')
    assert "<title>schedreplay: data/panopticon_ftrace.txt</title>" in text
    focus_cells = re.findall(r'<td data-key="(focus\.[^"]+)" data-value="([^"]*)"', text)
    runs = c.to_dict()["runs"]
    want = [(col.key, _get(r, col.key)) for r in runs for col in FOCUS_COLUMNS]
    assert [(k, json.loads(html.unescape(v))) for k, v in focus_cells] == want
    fv = c.validation["focus_verdict"]
    assert f'verdict <span class="verdict {fv}">{fv}</span>' in text
    # the longest wait of each run, at the exact nanosecond it began
    for r in runs:
        site = r["wait_at"]["all"]["max"]
        assert f'data-ns="{site["start_ns"]}"' in text
        assert site["comm"] in text
