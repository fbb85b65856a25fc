"""``tokkit demo``: the whole study in one call (train, evaluate, inspect, report).

``run_demo(out, settings)`` runs the stages in ``stages.py`` (each writes a checkpoint or a JSON
file that the next reads, so a rerun after a kill skips what is finished) and writes
``out/index.html`` (``report.py``), whose verdict on DiGIT's ordering is computed by ``verdict.py``
from the paired decisions between the tokenizers (``load_decisions``).
"""

from __future__ import annotations

from tokkit.demo.folder import load_decisions, load_rows
from tokkit.demo.settings import DEFAULT, QUICK, DemoSettings
from tokkit.demo.stages import run_demo

__all__ = ["DEFAULT", "QUICK", "DemoSettings", "load_decisions", "load_rows", "run_demo"]
