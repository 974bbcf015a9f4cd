"""The checks of a reference voice (Identity), on sound files made with ffmpeg: decodes, 5–15 s, not silent, any
rate; and a clip without sound in a dataset with voices."""

from __future__ import annotations

import subprocess
import sys

import pytest

from datasets.sniff import Kind, sniff_bytes, sniff_path
from datasets.validation import check_clip, check_voice, status_of, voice_pair_findings
from engine.media import SILENCE_DBFS, AudioError, measure_voice
from tests.datasets.voices import silence, tone


def codes(check) -> dict[str, str]:
    return {f.code: f.level for f in check.findings}


def test_a_six_second_voice_passes_with_its_length_and_rate_recorded(tmp_path):
    check = check_voice(tone(tmp_path / "maya_voice.wav", 6, rate=22050))
    assert status_of(check.findings) == "ok"
    assert check.meta["duration"] == pytest.approx(6, abs=0.05)
    assert check.meta["sample_rate"] == 22050 and check.meta["peak_db"] > -30
    resampled = next(f for f in check.findings if f.code == "voice_resampled")
    assert resampled.level == "info" and "22.05 kHz" in resampled.text and "converted" in resampled.text


@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".ogg", ".opus", ".webm"])
def test_common_sound_formats_are_voices(tmp_path, suffix):
    check = check_voice(tone(tmp_path / f"voice{suffix}", 6))
    assert status_of(check.findings) == "ok", check.findings


def test_a_two_second_voice_is_too_short(tmp_path):
    check = check_voice(tone(tmp_path / "short.wav", 2))
    assert codes(check)["voice_too_short"] == "error"
    assert "2.0 s is too short" in next(f.text for f in check.findings if f.code == "voice_too_short")


def test_a_silent_recording_is_refused(tmp_path):
    check = check_voice(silence(tmp_path / "silent.wav", 6))
    assert codes(check)["voice_silent"] == "error"


def test_a_barely_audible_recording_is_refused_as_silent(tmp_path):
    check = check_voice(tone(tmp_path / "hush.wav", 6, volume=0.001))  # about -78 dB
    assert codes(check)["voice_silent"] == "error"


def test_a_recording_the_engine_would_refuse_as_silent_is_refused_before_launch_though_one_blip_is_loud(tmp_path):
    """A 50 ms blip in 6 s of silence: its peak is well above the near-silence peak, but the engine measures the
    loudness over the whole recording (RMS) and would refuse it at training time; the wizard must refuse it first."""
    blip = tmp_path / "blip.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=330:duration=0.05",
                    "-af", "volume=0.1,apad=whole_dur=6", str(blip)], check=True)
    check = check_voice(blip)
    assert check.meta["peak_db"] > -45 and measure_voice(blip).level_dbfs < SILENCE_DBFS
    assert codes(check)["voice_silent"] == "error"


@pytest.mark.parametrize(("make", "usable"), [
    (lambda tmp: tone(tmp / "ok.wav", 6), True),
    # Peaks at -50 dB (the wizard once refused that on its own) and averages -53 dB: usable. The worker once decoded
    # it in stereo, where ffmpeg's upmix makes it -56 dB, and refused it after the checks had let it through.
    (lambda tmp: tone(tmp / "faint.wav", 6, volume=0.025), True),
    (lambda tmp: tone(tmp / "hush.wav", 6, volume=0.004), False),
    (lambda tmp: tone(tmp / "short.wav", 3), False),
    (lambda tmp: silence(tmp / "silent.wav", 6), False),
], ids=["speech-level", "faint", "below-silence", "three-seconds", "silence"])
def test_the_wizard_the_studio_and_the_worker_give_one_verdict_on_a_voice(tmp_path, make, usable):
    """The wizard's findings, the Studio's refusal and the worker's `load_voice` (what would fail after GPU time
    was spent) agree on every recording, near the silence limit included."""
    from engine.audio import load_voice
    from studio.voice import VoiceRefused
    from studio.voice import check_voice as studio_check

    path = make(tmp_path)
    verdicts = {"wizard": status_of(check_voice(path).findings) != "error"}
    try:
        studio_check(path)
        verdicts["studio"] = True
    except VoiceRefused:
        verdicts["studio"] = False
    try:
        load_voice(path, 16000, 2)
        verdicts["worker"] = True
    except AudioError:
        verdicts["worker"] = False
    assert verdicts == {"wizard": usable, "studio": usable, "worker": usable}


def test_a_text_file_named_wav_is_not_a_voice(tmp_path):
    path = tmp_path / "voice.wav"
    path.write_text("not a recording\n")
    check = check_voice(path)
    assert codes(check) == {"voice_not_sound": "error"}
    assert "content is text" in check.findings[0].text


def test_a_damaged_wav_header_is_unreadable_in_plain_words(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    check = check_voice(path)
    assert codes(check) == {"voice_unreadable": "error"}
    assert str(tmp_path) not in check.findings[0].text


def test_a_twenty_second_voice_is_kept_with_a_note_that_only_15_s_are_used(tmp_path):
    check = check_voice(tone(tmp_path / "long.m4a", 20))
    assert status_of(check.findings) == "ok"
    assert codes(check)["voice_trimmed"] == "info"
    assert check.meta["duration"] == pytest.approx(20, abs=0.1)


def test_a_video_without_sound_is_no_voice(clips):
    check = check_voice(clips("t.mp4"))
    assert codes(check) == {"voice_no_sound": "error"}


def test_a_video_with_sound_gives_its_soundtrack_as_voice(clips):
    check = check_voice(clips("talk.mp4", audio=True, frames=144))  # 6 s at 24 fps
    assert status_of(check.findings) == "ok", check.findings


def test_a_clip_without_sound_in_a_dataset_with_voices_must_be_fixed(clips):
    silent_clip = check_clip(clips("t.mp4"), "target", "video")
    found = voice_pair_findings(silent_clip.meta, voiced=True)
    assert [(f.level, f.code) for f in found] == [("error", "target_no_sound")]
    assert "no sound" in found[0].text
    assert voice_pair_findings(silent_clip.meta, voiced=False) == []
    with_sound = check_clip(clips("talk.mp4", audio=True), "target", "video")
    assert voice_pair_findings(with_sound.meta, voiced=True) == []


def test_sound_files_sniff_as_audio_by_their_content(tmp_path):
    for suffix in (".wav", ".mp3", ".m4a", ".ogg", ".flac", ".aac"):
        path = tone(tmp_path / f"v{suffix}", 1)
        assert sniff_path(path) is Kind.AUDIO, suffix
    assert sniff_bytes(b"\xff\xd8\xff\xe0" + bytes(20)) is Kind.IMAGE  # a JPEG is not MP3 frames


def test_the_voice_checks_do_not_load_torch():
    code = ("import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
            "import datasets.validation, datasets.pairing, datasets.sniff; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
