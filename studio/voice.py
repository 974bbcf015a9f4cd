"""A voice recording for an adapter trained with a reference voice, checked in the web request before any GPU time.

Plain and torch-free: `engine.media.measure_voice` decodes and measures it with the limits `engine.audio.load_voice`
applies on the worker (which needs torch and so cannot run in the web process).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.media import VOICE_MIN_SECONDS, AudioError, measure_voice, probe_audio

VOICE_SUFFIXES = {".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".webm", ".flac"}


class VoiceRefused(ValueError):
    """A voice recording that cannot be used, said in a creator's words."""


@dataclass(frozen=True)
class VoiceCheck:
    seconds: float  # how long the recording is (measured up to ten minutes)
    used_seconds: float  # how much of it the model hears: the first VOICE_MAX_SECONDS

    @property
    def note(self) -> str:
        """What to tell the creator about its length, or "" when all of it is used."""
        if self.seconds <= self.used_seconds + 0.05:
            return ""
        return (f"Voice: your recording lasts {self.seconds:.0f} s; only its first {self.used_seconds:.0f} s are used "
                "(the model listens to 15 s at most).")


def suffix_refusal(name: str) -> str:
    """Why a file of this name cannot be a voice recording, or "" when its type is one we take."""
    if Path(name or "").suffix.lower() in VOICE_SUFFIXES:
        return ""
    return ("The voice recording must be a sound file (wav, mp3, m4a, ogg or webm), or recorded here with the "
            "Record button.")


def check_voice(path: str | Path) -> VoiceCheck:
    """Decode the recording and check it can be the voice: readable, with sound, at least 5 s, not silent.

    Raises VoiceRefused with a plain message. A recording longer than 15 s is accepted: only its first 15 s are used
    (`VoiceCheck.note` says so)."""
    try:
        probe_audio(path)
        heard = measure_voice(path)
    except AudioError as error:
        if "has no sound" in str(error):
            raise VoiceRefused("This file has no sound in it: choose a recording of the person speaking.") from None
        raise VoiceRefused("This voice recording cannot be read: choose a sound file (wav, mp3, m4a, ogg or webm) "
                           "of the person speaking, or record one with the Record button.") from None
    problems = heard.problems()
    if "too_short" in problems:
        raise VoiceRefused(f"The voice recording lasts {heard.seconds:.1f} s: at least {VOICE_MIN_SECONDS:g} s of the "
                           "person speaking alone are needed (5–15 s works best).")
    if "silent" in problems:
        raise VoiceRefused("The voice recording is silent: record the person speaking, close to the microphone, "
                           "in a quiet room.")
    return VoiceCheck(seconds=round(heard.seconds, 2), used_seconds=round(heard.used_seconds, 2))
