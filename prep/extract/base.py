"""What every extraction method shares: the report, the plain-language error, the progress callback.

Framework-free: the Django side (prep.services, prep.tasks) and the bench call these modules directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ProgressFn = Callable[[int, int], None]
"""Called as progress(frames_done, frames_total) while an extraction runs."""


class ExtractionError(RuntimeError):
    """An extraction that could not be made, with the reason in words a creator understands."""


@dataclass
class ExtractionReport:
    """What an extraction produced; the output always matches the source clip's frames, fps and size."""

    method: str
    frames: int
    fps: float
    width: int
    height: int
    seconds: float = 0.0
    empty_frames: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
