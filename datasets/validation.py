"""Per-clip and per-pair checks, each finding said in plain words with what will happen.

Errors block launch; warnings and notes do not. Findings that depend on the training shape (bucket) are
computed on the fly from stored probe results, so changing the settings never needs a new upload.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from datasets.decoding import Decoded, decode_to_end
from datasets.sniff import Kind, sniff_path
from engine.buckets import Bucket, assign_bucket, frames_at, window_count
from engine.media import (
    VOICE_MAX_SECONDS,
    VOICE_MIN_SECONDS,
    AudioError,
    MediaError,
    fps_text,
    measure_voice,
    probe,
    probe_audio,
)

Level = Literal["error", "warning", "info"]
FPS_TOLERANCE = 0.01  # 29.97 and 30000/1001 are the same rate
ASPECT_TOLERANCE = 0.02
# The shortest training length the settings offer (8·1 + 1: the engine packs frames as 1 + a multiple of 8). A clip
# with fewer frames fits no shape, and one frame is a still picture with no motion to learn from.
MIN_TARGET_FRAMES = 9
# Training shapes are at most 2048 pixels a side (the settings' limit), so anything up to 4K (4096 wide, DCI) only
# loses detail that would be scaled away anyway. Beyond that a clip costs minutes to decode and check for nothing.
MAX_VIDEO_SIDE = 4096
# A voice whose used part averages below this (RMS, dB below full scale, as the engine measures it) is taken with a
# warning; below engine.media.SILENCE_DBFS it is refused. Speech near a phone peaks around -10 dB and averages -20 to
# -30.
VOICE_QUIET_DBFS = -42.0
VOICE_TIMEOUT_S = 300


@dataclass(frozen=True)
class Finding:
    level: Level
    code: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# The size a target is conformed to for training: the engine's bucket, so the wizard and the trainer share one
# type and one rule for which shape a clip trains at (`assigned_shape`).
Shape = Bucket


def assigned_shape(target: dict[str, Any], shapes: list[Shape]) -> Shape:
    """The shape this target trains at: the engine's choice (closest aspect ratio among the shapes it is long
    enough for, ties to more pixels); the first shape when it is too short for all (then it is reported so)."""
    chosen = assign_bucket(target["width"], target["height"], target["frames"], target["fps"], shapes)
    return chosen.bucket if chosen is not None else shapes[0]


@dataclass
class ClipCheck:
    """What one file is and what is wrong with it on its own."""

    meta: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not any(f.level == "error" for f in self.findings)


def status_of(findings: list[Finding]) -> str:
    """The ClipPair status these findings give: error > warning > ok (notes do not count)."""
    levels = {f.level for f in findings}
    return "error" if "error" in levels else "warning" if "warning" in levels else "ok"


def largest_frames_at_most(available: int) -> int:
    """The longest 8n+1 frame count that fits in `available` frames (0 if none)."""
    return 0 if available < 1 else ((available - 1) // 8) * 8 + 1


def _what(label: str) -> str:
    return "target" if label == "target" else "reference"


def check_clip(path: str | Path, label: str, expect: Literal["video", "image"], decode: bool = True) -> ClipCheck:
    """Sniff, probe and (for videos) decode one file to the end."""
    result = ClipCheck()
    kind = sniff_path(path)
    role = _what(label).capitalize()
    if expect == "image":
        if kind not in (Kind.IMAGE, Kind.VIDEO):
            result.findings.append(Finding("error", "not_image", f"{role}: this file is not an image (its content "
                                           f"is {kind.value}). Use a PNG, JPG or HEIC still of your subject."))
            return result
    elif kind is not Kind.VIDEO:
        what = "a still image" if kind is Kind.IMAGE else f"not a video (its content is {kind.value})"
        result.findings.append(Finding("error", "not_video", f"{role}: this file is {what}. "
                                       "Use an MP4, MOV, WebM, MKV or MPEG video."))
        return result
    try:
        info = probe(path)
    except MediaError as err:
        reason = re.search(r"\((.*)\)$", str(err))  # ffmpeg's own words, without the file's name
        message = reason.group(1) if reason else str(err).split(": ", 1)[-1]
        advice = ("the file cannot be read as an image ({}). Save it again as PNG or JPG." if kind is Kind.IMAGE
                  else "the file cannot be read as a video ({}). Export it again as MP4 (H.264).")
        result.findings.append(Finding("error", "unreadable", f"{role}: {advice.format(message)}"))
        return result
    result.meta = {**info.as_dict(), "kind": kind.value}
    result.meta.pop("path", None)
    if expect == "image":
        if info.frames > 1:
            result.findings.append(Finding("error", "not_still", f"{role}: this recipe needs one still image of "
                                           f"the subject, and this is a {info.duration:.1f} s video. "
                                           "Export one frame as PNG or JPG."))
        return result
    if label == "target" and info.frames < MIN_TARGET_FRAMES:
        what = "a single frame, a still picture" if info.frames <= 1 else f"only {info.frames} frames"
        result.findings.append(Finding(
            "error", "too_few_frames",
            f"{role}: this clip is {what}. An adapter learns how things move, from at least {MIN_TARGET_FRAMES} "
            f"frames (about {MIN_TARGET_FRAMES / 24:.1f} s at 24 fps). Use a video clip of a second or more."))
    if max(info.width, info.height) > MAX_VIDEO_SIDE:
        result.findings.append(Finding(
            "error", "too_large",
            f"{role}: {info.width}×{info.height} is far larger than training uses (clips are shrunk to at most 2048 "
            f"pixels a side). Export it again at {MAX_VIDEO_SIDE} pixels or less on its long side (1920×1080 is "
            "plenty) and upload that."))
        return result  # not decoded: checking every frame of a picture this size takes long and says nothing more
    if decode:
        _check_decodes(info.frames, info.fps, info.duration, path, role, result)  # and, for a target, its shots
    if info.has_audio:
        result.findings.append(Finding("info", "audio", f"{role} has sound: it is ignored, training uses the picture "
                                       "only."))
    if info.hdr:
        result.findings.append(Finding("info", "hdr", f"{role} is HDR video ({info.hdr.upper()}, as phones record by "
                                       "default): it is converted to standard colours, as a phone screen shows it, "
                                       "for training and for the references made from it."))
    return result


def _check_decodes(frames: int, fps: float, duration: float, path: str | Path, role: str, result: ClipCheck) -> None:
    target = role == "Target"  # shots and motion matter in what the model learns to make, not in the reference
    found = decode_to_end(path, analyse=target)
    decoded, errors = found.frames, found.errors
    result.meta["decoded_frames"] = decoded
    if target:
        result.meta["cuts"] = found.cuts  # where a split into single shots would cut
        result.findings.extend(_motion_findings(found, duration))
    stops_early = decoded < frames or (duration > 0 and decoded / fps < duration - 2.5 / fps)
    if stops_early or any("partial file" in e or "Invalid data" in e for e in errors):
        result.findings.append(Finding(
            "error", "truncated",
            f"{role}: the file is damaged or incomplete: only {decoded / fps:.1f} s of {duration:.1f} s could be "
            "played. It was probably cut off during a copy or download. Export or copy it again."))
    elif errors:
        result.findings.append(Finding("warning", "decode_errors", f"{role}: the decoder reported problems "
                                       f"({errors[-1][:120]}). Some frames may look damaged."))


def _motion_findings(found: Decoded, duration: float) -> list[Finding]:
    findings = []
    if found.cuts:
        shown = ", ".join(f"{t:g} s" for t in found.cuts[:3]) + (f" and {len(found.cuts) - 3} more"
                                                                 if len(found.cuts) > 3 else "")
        findings.append(Finding(
            "warning", "scene_cut",
            f"The shot changes at {shown}. Each clip is learned as one continuous shot, so a cut inside it "
            "teaches the adapter to jump. Split the pair into its shots below, or trim the clip in your editor."))
    if duration > 0 and found.frozen_seconds >= 0.8 * duration:
        findings.append(Finding(
            "warning", "frozen",
            f"The picture stands still for {found.frozen_seconds:.1f} s of {duration:.1f} s. A video adapter learns "
            "from movement, and a still clip teaches it to freeze. Use a clip where something moves."))
    return findings


def _ratio(width: int, height: int) -> str:
    d = math.gcd(width, height)
    w, h = width // d, height // d
    return f"{w}:{h}" if w <= 32 and h <= 32 else f"{width / height:.2f}:1"


def _size(meta: dict[str, Any]) -> str:
    return f"{meta['width']}×{meta['height']}"


def check_pair(target: dict[str, Any], reference: dict[str, Any], reference_is_image: bool) -> list[Finding]:
    """Rules between the two clips of a pair (both probed without errors)."""
    if reference_is_image:
        return []
    findings = []
    # A variable-rate clip's rate is an average that two ways of measuring round differently; whether such a
    # pair lines up is what the variable_rate warning below is about.
    variable = target.get("variable_rate") or reference.get("variable_rate")
    if not variable and abs(target["fps"] - reference["fps"]) > FPS_TOLERANCE:
        findings.append(Finding(
            "error", "fps_mismatch",
            f"Different frame rates: target {fps_text(target['fps'])} fps, reference {fps_text(reference['fps'])} fps. "
            "Frames would not line up. Export both at the same frame rate."))
    if target["frames"] != reference["frames"]:
        findings.append(Finding(
            "error", "length_mismatch",
            f"Different lengths: target {target['frames']} frames ({target['duration']:.2f} s), reference "
            f"{reference['frames']} frames ({reference['duration']:.2f} s). They must match frame for frame."))
    if target.get("variable_rate") and not reference.get("variable_rate"):
        findings.append(Finding(
            "warning", "variable_rate",
            "The target clip has a variable frame rate (the phone slowed down, as phones do in low light) and the "
            "reference does not, so where the clip slows down the two drift apart. Let ICLoRA Studio make the "
            "reference from the clip (it keeps the clip's timing), or export the clip at a constant frame rate and "
            "make the reference from that."))
    t_aspect = target["width"] / target["height"]
    r_aspect = reference["width"] / reference["height"]
    if abs(t_aspect - r_aspect) / t_aspect > ASPECT_TOLERANCE:
        findings.append(Finding(
            "error", "aspect_mismatch",
            f"Different shapes: target {_size(target)} ({_ratio(target['width'], target['height'])}), "
            f"reference {_size(reference)} ({_ratio(reference['width'], reference['height'])}). "
            "Both must have the same aspect ratio."))
    return findings


def check_against_shape(target: dict[str, Any], shape: Shape, whole_clips: bool = False) -> list[Finding]:
    """What training at `shape` will do to this target: reject, trim or cut into several clips, resample, crop or
    enlarge it."""
    findings = []
    available = frames_at(target["frames"], target["fps"], shape.fps)
    seconds = shape.frames / shape.fps
    if available < shape.frames:
        fits = largest_frames_at_most(available)
        advice = (f"Choose {fits} frames or fewer on the Settings step, or use a longer clip."
                  if fits >= 9 else "Use a longer clip.")
        findings.append(Finding(
            "error", "too_short",
            f"Too short: {target['duration']:.2f} s gives {available} frames at {fps_text(shape.fps)} fps, and "
            f"training uses {shape.frames} frames ({seconds:.2f} s). It would be skipped. {advice}"))
        return findings
    windows = window_count(available, shape.frames)
    if whole_clips and windows > 1:
        findings.append(Finding("info", "windows", f"Gives {windows} training clips of {seconds:.2f} s, one after "
                                f"another, from its {target['duration']:.2f} s."))
    elif available > shape.frames:
        hint = (f" Turn on “Use all of each clip” in the settings to train on {windows} clips from it."
                if windows > 1 else "")
        findings.append(Finding("info", "trimmed", f"Training uses the first {seconds:.2f} s "
                                f"({shape.frames} frames) of {target['duration']:.2f} s.{hint}"))
    if abs(target["fps"] - shape.fps) > FPS_TOLERANCE:
        findings.append(Finding("info", "resampled",
                                f"Resampled from {fps_text(target['fps'])} to {fps_text(shape.fps)} fps."))
    findings.extend(_size_findings(target["width"], target["height"], shape))
    return findings


def kept_fractions(width: int, height: int, shape: Shape) -> tuple[float, float]:
    """The share of a width x height picture's width and height that scaling to cover `shape` and centre-cropping
    keeps (one of them is 1)."""
    scale = max(shape.width / width, shape.height / height)
    return shape.width / (width * scale), shape.height / (height * scale)


def cut_fraction(width: int, height: int, shape: Shape) -> tuple[float, str]:
    """The share of a width x height picture that scaling to cover `shape` and centre-cropping cuts off, and where
    ("left and right" or "top and bottom")."""
    kept_w, kept_h = kept_fractions(width, height, shape)
    return 1 - kept_w * kept_h, "left and right" if kept_w < 1 else "top and bottom"


def _size_findings(width: int, height: int, shape: Shape) -> list[Finding]:
    findings = []
    scale = max(shape.width / width, shape.height / height)
    cut, side = cut_fraction(width, height, shape)
    if cut > 0.01:
        level: Level = "warning" if cut > 0.25 else "info"
        findings.append(Finding(level, "cropped", f"Cropped to {shape.width}×{shape.height}: about {cut:.0%} of the "
                                f"picture is cut off at the {side}. Keep the subject near the centre."))
    if scale > 2:
        findings.append(Finding(
            "warning", "too_small",
            f"Small for the training size: {width}×{height} is enlarged {scale:.1f}× to {shape.width}×{shape.height}, "
            "so it looks soft and the adapter learns that softness. Use a larger source or a smaller size."))
    elif scale > 1.01:
        findings.append(Finding("info", "enlarged", f"Enlarged {scale:.1f}× to fit {shape.width}×{shape.height}."))
    return findings


def check_voice(path: str | Path) -> ClipCheck:
    """A reference voice on its own: a sound (or video) file whose sound decodes, 5–15 s long, not silent.

    Without torch: this runs in the web process and on `cpu` workers, which do not load it."""
    result = ClipCheck()
    kind = sniff_path(path)
    if kind not in (Kind.AUDIO, Kind.VIDEO):
        result.findings.append(Finding("error", "voice_not_sound", f"Voice: this file is not a sound recording (its "
                                       f"content is {kind.value}). Use a WAV, MP3 or M4A recording of the person "
                                       "speaking."))
        return result
    try:
        info = probe_audio(path)
    except AudioError as err:
        no_sound = str(err).endswith("has no sound")
        text = ("Voice: this video has no sound. Use a recording of the person speaking, or a video of them "
                "speaking with its sound." if no_sound else
                f"Voice: the file cannot be played as sound ({_reason(err)}). Export it again as WAV or M4A.")
        result.findings.append(Finding("error", "voice_no_sound" if no_sound else "voice_unreadable", text))
        return result
    result.meta = {**info.as_dict(), "kind": kind.value}
    result.meta.pop("path", None)
    # ffmpeg's volumedetect gives what the page shows (peak and mean level) and the decoder's complaints; the verdict
    # is the engine's rule on the engine's own decoding (`measure_voice`), so the wizard refuses what the worker would.
    level = sound_level(path, VOICE_MAX_SECONDS)
    result.meta.update(level.as_dict())
    try:
        heard = measure_voice(path)
    except AudioError as err:
        result.findings.append(Finding("error", "voice_unreadable", f"Voice: the sound cannot be decoded "
                                       f"({_reason(err)}). Export it again as WAV or M4A."))
        return result
    result.meta["duration"] = round(max(info.duration, heard.seconds), 2)
    problems = heard.problems()
    if "too_short" in problems:
        result.findings.append(Finding(
            "error", "voice_too_short",
            f"Voice: {heard.seconds:.1f} s is too short. The adapter needs at least {VOICE_MIN_SECONDS:g} s of the "
            f"person speaking to learn their voice: record {VOICE_MIN_SECONDS:g} to {VOICE_MAX_SECONDS:g} s."))
    elif result.meta["duration"] > VOICE_MAX_SECONDS + 0.05:
        result.findings.append(Finding(
            "info", "voice_trimmed",
            f"Voice: only the first {VOICE_MAX_SECONDS:g} s of {result.meta['duration']:.1f} s are used. If the person "
            "does not speak clearly from the start, trim it to their best 15 s."))
    if "silent" in problems:
        result.findings.append(Finding(
            "error", "voice_silent",
            "Voice: the recording is silent or almost silent, so there is no voice to learn. Check that the "
            "microphone was on and close to the person, and record again."))
    elif heard.level_dbfs < VOICE_QUIET_DBFS:
        result.findings.append(Finding(
            "warning", "voice_quiet",
            f"Voice: very quiet (on average {heard.level_dbfs:.0f} dB). Background noise weighs more in a quiet "
            "recording: record closer to the microphone if you can."))
    if level.errors:
        result.findings.append(Finding("warning", "voice_decode_errors", "Voice: the decoder reported problems "
                                       f"({level.errors[-1][:120]}). Some of the sound may be damaged."))
    if info.sample_rate:
        result.findings.append(Finding(
            "info", "voice_resampled",
            f"Voice: recorded at {info.sample_rate / 1000:g} kHz, {'mono' if info.channels == 1 else 'stereo'}"
            f"{'' if info.channels <= 2 else f' ({info.channels} channels)'}. Any rate is fine: it is converted to "
            "the one the model uses."))
    return result


def _reason(err: MediaError) -> str:
    found = re.search(r"\((.*)\)$", str(err))  # ffmpeg's own words, without the file's name
    return found.group(1) if found else str(err).split(": ", 1)[-1]


@dataclass(frozen=True)
class SoundLevel:
    """How loud the first seconds of a file's sound are (ffmpeg's volumedetect), and how many seconds decoded."""

    seconds: float
    mean_db: float
    peak_db: float
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"mean_db": self.mean_db, "peak_db": self.peak_db}


def sound_level(path: str | Path, seconds: float) -> SoundLevel:
    """Decode up to `seconds` of the first sound stream and measure it; silence reads as -91 dB (the floor of
    16-bit sound) or lower."""
    cmd = ["ffmpeg", "-nostdin", "-nostats", "-hide_banner", "-progress", "pipe:1", "-i", str(path), "-map", "0:a:0",
           "-t", f"{seconds:g}", "-af", "volumedetect", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=VOICE_TIMEOUT_S, check=False)
    log = proc.stderr

    def decibels(name: str) -> float:
        found = re.search(rf"{name}:\s*(-?[\d.]+|-inf) dB", log)
        return float(found.group(1)) if found else -math.inf

    times = re.findall(r"^out_time_us=(\d+)$", proc.stdout, re.MULTILINE)
    decoded = int(times[-1]) / 1e6 if times else 0.0
    errors = [line.strip() for line in log.splitlines() if re.search(r"error|invalid data|corrupt", line, re.I)]
    if proc.returncode and log.strip():
        errors.append(log.strip().splitlines()[-1])
    return SoundLevel(round(decoded, 2), decibels("mean_volume"), decibels("max_volume"), errors)


def voice_pair_findings(target: dict[str, Any], voiced: bool) -> list[Finding]:
    """Rules for a target in a dataset with voices (`voiced`): the clip's own sound is what the voice teaches, so a
    target without sound cannot train."""
    if not voiced or not target or target.get("has_audio", True):
        return []
    return [Finding(
        "error", "target_no_sound",
        "This clip has no sound. With voice clips, the adapter learns to make each clip's sound in the person's "
        "voice, so every clip needs its own sound: use the clip as it was recorded, with its sound, or remove the "
        "voice clips to train the face only.")]
