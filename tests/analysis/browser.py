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
        page = Path(tmp) / "page.html"
        page.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        proc = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={tmp}/profile", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert m, "the page's load event never fired"
    images = json.loads(m.group(1).replace("&quot;", '"'))
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return images, console
