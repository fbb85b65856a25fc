"""Open an HTML page in headless Chromium; report each image's load state and console messages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
]

# Injected before </body> of a copy of the page: after the load event, record per image
# (complete, naturalWidth) in a body attribute that --dump-dom prints.
_PROBE = """<script>
window.addEventListener('load', () => {
  const r = [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]);
  document.body.setAttribute('data-probe', JSON.stringify(r));
});
</script>"""


# After load: the page's own width, how wide its content is, and per table the right edge of the box
# it sits in (what the reader sees) and whether the table scrolls inside that box.
_LAYOUT = """<script>
window.addEventListener('load', () => {
  const boxes = [...document.querySelectorAll('table')].map(t => {
    const box = t.parentElement, r = box.getBoundingClientRect();
    return [r.right, box.scrollWidth, box.clientWidth, getComputedStyle(box).overflowX];
  });
  document.body.setAttribute('data-layout', JSON.stringify({
    inner: window.innerWidth, scroll: document.documentElement.scrollWidth, boxes: boxes}));
});
</script>"""


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def probe_page(html_path: Path, binary: str) -> tuple[list[list], list[str]]:
    """Returns ([complete, naturalWidth, naturalHeight] per <img>, console messages of the page)."""
    text = Path(html_path).read_text(encoding="utf-8")
    assert "</body>" in text
    with tempfile.TemporaryDirectory() as tmp:
        proc = _run_chromium(binary, text.replace("</body>", _PROBE + "</body>"), tmp, "--dump-dom")
    m = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert m, "the page's load event never fired"
    images = json.loads(m.group(1).replace("&quot;", '"'))
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return images, console


def _run_chromium(binary: str, text: str, tmp: str, *args: str) -> subprocess.CompletedProcess:
    page = Path(tmp) / "page.html"
    page.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={tmp}/profile", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def layout_at_width(html_path: Path, binary: str, width: int, screenshot: Path) -> dict:
    """Open the page in a window ``width`` px wide: its layout (see _LAYOUT) and a screenshot of
    that window written to ``screenshot`` (so a person, or the test, sees what the reader sees)."""
    text = Path(html_path).read_text(encoding="utf-8")
    size = f"--window-size={width},1600"
    with tempfile.TemporaryDirectory() as tmp:
        proc = _run_chromium(binary, text.replace("</body>", _LAYOUT + "</body>"), tmp, size, "--dump-dom")
        m = re.search(r'data-layout="([^"]*)"', proc.stdout)
        assert m, "the page's load event never fired"
        layout = json.loads(m.group(1).replace("&quot;", '"'))
    with tempfile.TemporaryDirectory() as tmp:
        _run_chromium(binary, text, tmp, size, "--hide-scrollbars", f"--screenshot={screenshot}")
    return layout
