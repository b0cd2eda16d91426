"""audioguide: compile an exercise routine into a voice-guided, exact-length audio session."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
