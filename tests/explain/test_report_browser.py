"""The report in a real browser (headless Chromium, skipped where it is not installed): at
1,000 px the page never scrolls sideways and every embedded image decodes and is drawn."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from backpheno.explain.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or \
    shutil.which("google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")

#: Added to a copy of the report (the report itself has no scripts): writes what the test checks
#: into the DOM once the page and its images have loaded.
PROBE = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  const images = Array.from(document.images);
  const overflowing = Array.from(document.querySelectorAll("main *"))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                 && !e.closest(".table-wrap"))
    .slice(0, 5).map(e => e.tagName + ":" + (e.textContent || "").slice(0, 40));
  const result = {width: window.innerWidth, scrollWidth: root.scrollWidth,
                  images: images.length,
                  broken: images.filter(i => !i.complete || i.naturalWidth === 0).length,
                  overflowing: overflowing};
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def render(html_path, tmp_path, width: int) -> dict:
    """Load ``html_path`` in headless Chromium at ``width`` px and return the probe's result."""
    probed = tmp_path / f"probe_{width}.html"
    probed.write_text(html_path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom",
         probed.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.DOTALL)
    assert match, f"no probe result (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize("width", [1000, 700])
def test_report_fits_the_window_and_every_image_loads(explained_run, tmp_path, width):
    run, *_ = explained_run
    path = write_report(run, tmp_path / "report.html")
    result = render(path, tmp_path, width)
    assert result["images"] == 13
    assert result["broken"] == 0
    assert result["scrollWidth"] <= result["width"], result["overflowing"]
    assert not result["overflowing"]
