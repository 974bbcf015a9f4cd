"""Captions and prompts as the model sees them (no torch here: the web process uses this too)."""

from __future__ import annotations

import re


def with_trigger(trigger: str, caption: str) -> str:
    """The caption as trained, or the prompt as generated: the trigger phrase in front, unless the creator already
    put it there (as a whole phrase: "restored clip" does not start with the trigger RESTORE)."""
    trigger = trigger.strip()
    if not trigger or re.match(rf"\s*{re.escape(trigger)}(?!\w)", caption, re.IGNORECASE):
        return caption
    return f"{trigger} {caption}".strip()
