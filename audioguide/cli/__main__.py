"""``python -m audioguide.cli``: the same command line as the ``audioguide`` script."""

from __future__ import annotations

from audioguide.cli import run

run()
