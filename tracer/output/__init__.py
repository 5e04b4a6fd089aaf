"""Output formats: one interface (``Output``), the formats behind it."""

from .base import MapSnapshot, Output
from .text import TextOutput

FORMATS = {"text": TextOutput}

__all__ = ["FORMATS", "MapSnapshot", "Output", "TextOutput"]
