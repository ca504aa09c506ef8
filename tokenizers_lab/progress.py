"""The progress callback every job takes: `progress(stage, fraction)`, fraction in [0, 1] or None
when the stage cannot say how far it is. The CLI's Feedback implements it (a bar on a terminal,
rate-limited plain lines elsewhere); library callers may pass their own or nothing."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, "float | None"], None]


def no_progress(stage: str, fraction: float | None) -> None:
    """The callback of a run nobody watches."""
    return
