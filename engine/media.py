"""Video files in and out with ffmpeg: probe, conform (fps, resize + centre crop, first F frames), write mp4.

Everything here shells out to the `ffmpeg`/`ffprobe` binaries through ffmpeg-python; nothing depends on
torch or diffusers (numpy is imported only to decode or write frames), so the wizard can reuse `probe` cheaply.
"""

from __future__ import annotations

import io
import itertools
import math
import tempfile
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ffmpeg

if TYPE_CHECKING:
    import numpy as np


class MediaError(ValueError):
    """A file that cannot be used as a video, with the reason in words a creator understands."""


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` learns about a video file."""

    path: str
    fps: float
    frames: int
    width: int
    height: int
    duration: float
    has_audio: bool
    codec: str
    hdr: str = ""  # "hlg" or "pq" for HDR video (decoded to standard range, see `sdr_filters`), else ""
    variable_rate: bool = False  # some frames last far longer than others: a phone that slowed down (low light)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# HDR transfer functions as ffprobe names them. Phones record HDR by default (iPhone: HLG); decoded as if it were
# standard video it looks grey and washed out, and an adapter trained on it learns those colours.
HDR_TRANSFERS = {"arib-std-b67": "hlg", "smpte2084": "pq"}
# HDR video is BT.2020; said outright because zscale refuses frames whose tags are missing.
_FROM_HDR = {"pin": "bt2020", "min": "bt2020nc"}
_TO_SDR = {"t": "bt709", "m": "bt709", "r": "tv"}
_YUV = ("format", {"pix_fmts": "yuv420p"})
SDR_FILTERS: dict[str, list[tuple[str, dict[str, str]]]] = {
    # HLG is made to look right on a standard screen: a straight conversion keeps its colours (measured closest to
    # the original of an SDR -> HLG round trip), clipping only what is brighter than standard white.
    "hlg": [("zscale", {**_FROM_HDR, "tin": "arib-std-b67", **_TO_SDR, "p": "bt709"}), _YUV],
    # PQ is absolute light up to thousands of nits: tone-map it down (mobius keeps contrast below white).
    "pq": [("zscale", {**_FROM_HDR, "tin": "smpte2084", "t": "linear", "npl": "100"}),
           ("format", {"pix_fmts": "gbrpf32le"}), ("zscale", {"p": "bt709"}), ("tonemap", {"tonemap": "mobius"}),
           ("zscale", _TO_SDR), _YUV],
}


def fps_text(fps: float) -> str:
    """A frame rate as people write it: at most two decimals, none when whole (14.99985 -> "15", 30.1205 ->
    "30.12", 29.97 -> "29.97"); a phone's variable rate is measured to many digits nobody needs to read."""
    return f"{round(fps, 2):g}"


def hdr_kind(stream: dict[str, Any]) -> str:
    """"hlg" or "pq" for an ffprobe video stream in HDR, else ""."""
    return HDR_TRANSFERS.get(str(stream.get("color_transfer") or ""), "")


def hdr_of(path: str | Path) -> str:
    """`hdr_kind` of the file's first video stream ("" when it cannot be read: decoding then says why)."""
    try:
        streams = ffmpeg.probe(str(path), select_streams="v:0").get("streams") or [{}]
    except ffmpeg.Error:
        return ""
    return hdr_kind(streams[0])


def sdr_filters(hdr: str) -> str:
    """The ffmpeg filter chain (for `-vf`) that turns `hdr` video into standard range; "" for standard video."""
    steps = SDR_FILTERS.get(hdr, [])
    return ",".join(f"{name}={':'.join(f'{k}={v}' for k, v in options.items())}" for name, options in steps)


def _timed_rate(pts: list[int], time_base: Fraction) -> float | None:
    """Frames per second over the span of the frames' own presentation times (sorted `pts`), or None.

    The same as the header's average rate for a constant-rate clip; for a variable-rate one (phones) it does not
    depend on how the container rounds the last frame's length, so a clip and a copy with the same frame times
    (a derived reference) measure the same.
    """
    if pts[-1] <= pts[0] or time_base <= 0:
        return None
    return round(float((len(pts) - 1) / ((pts[-1] - pts[0]) * time_base)), 4)


def frame_times(path: str | Path) -> tuple[list[int], Fraction] | None:
    """Presentation times of every frame of the first video stream, in order, in its time base; None when the file
    does not give them all."""
    try:
        info = ffmpeg.probe(str(path), select_streams="v:0", show_entries="stream=time_base:packet=pts")
    except ffmpeg.Error:
        return None
    packets = info.get("packets") or []
    pts = _sorted_pts(packets)
    if len(pts) < 3 or len(pts) != len(packets):
        return None
    return pts, Fraction((info.get("streams") or [{}])[0].get("time_base") or "1/90000")


def _sorted_pts(packets: list[dict[str, Any]], stream_index: int | None = None) -> list[int]:
    """The presentation times ffprobe gave (of one stream's packets when `stream_index`), in display order."""
    return sorted(pk["pts"] for pk in packets
                  if isinstance(pk.get("pts"), int) and stream_index in (None, pk.get("stream_index")))


HELD_FRAME = 1.5  # a frame lasting this many times the usual one: the phone slowed down (variable frame rate)


def longest_frame(pts: list[int]) -> float:
    """How many times longer the longest frame lasts than the typical one: ~1 at a constant rate, 2 or more where
    a phone slowed down (low light) and held frames."""
    steps = sorted(b - a for a, b in itertools.pairwise(pts))
    return steps[-1] / max(steps[len(steps) // 2], 1)


def standard_range(path: str | Path, vf: str) -> str:
    """The `-vf` chain `vf`, after the conversion to standard range when `path` is HDR video (stills, previews)."""
    return ",".join(part for part in (sdr_filters(hdr_of(path)), vf) if part)


def _ffmpeg_message(err: ffmpeg.Error) -> str:
    """ffmpeg's last log line, without the server path it starts with (creators see this message)."""
    text = (err.stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return text[-1].rsplit(": ", 1)[-1] if text else "ffmpeg failed"


def probe(path: str | Path) -> VideoInfo:
    """Fps, frame count (counted, not guessed from the header), size, duration, audio presence and codec.

    The frame rate is measured from the frames' own times where the file gives them (`_timed_rate`). Raises
    `MediaError` for a missing file, a file that is not a video, or one with no decodable frames.
    """
    p = Path(path)
    if not p.is_file():
        raise MediaError(f"{p}: file not found")
    try:
        info = ffmpeg.probe(str(p), count_packets=None, show_entries="packet=pts,stream_index")
    except ffmpeg.Error as err:
        raise MediaError(f"{p.name}: not a readable video ({_ffmpeg_message(err)})") from err
    streams = info.get("streams", [])
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic", 0) == 0),
        None,
    )
    if video is None:
        raise MediaError(f"{p.name}: contains no video stream")
    fps_text = video.get("avg_frame_rate") or "0/1"
    if fps_text in ("0/0", "0/1"):
        fps_text = video.get("r_frame_rate") or "0/1"
    fps = float(Fraction(fps_text)) if fps_text not in ("0/0",) else 0.0
    frames = int(video.get("nb_read_packets") or video.get("nb_frames") or 0)
    pts = _sorted_pts(info.get("packets") or [], video.get("index"))
    timed = len(pts) == frames and len(pts) >= 3
    fps = (_timed_rate(pts, Fraction(video.get("time_base") or "0/1")) if timed else None) or fps
    if frames <= 0 or fps <= 0:
        raise MediaError(f"{p.name}: no decodable video frames (truncated or empty file?)")
    duration = float(video.get("duration") or info.get("format", {}).get("duration") or frames / fps)
    turned = display_rotation(video) % 180 == 90
    return VideoInfo(
        path=str(p),
        fps=round(fps, 4),
        frames=frames,
        # The size as played and as ffmpeg decodes it: phone clips are stored sideways with a rotation to apply.
        width=int(video["height" if turned else "width"]),
        height=int(video["width" if turned else "height"]),
        duration=round(duration, 4),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        codec=str(video.get("codec_name", "unknown")),
        hdr=hdr_kind(video),
        variable_rate=timed and longest_frame(pts) >= HELD_FRAME,
    )


def display_rotation(stream: dict[str, Any]) -> int:
    """Degrees a player turns an ffprobe video stream's picture (display matrix, or the older `rotate` tag): 0, 90,
    180 or 270. ffmpeg applies it when decoding, so frames come out upright."""
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            return round(float(side_data["rotation"])) % 360
    return round(float((stream.get("tags") or {}).get("rotate", 0))) % 360


EXIF_ORIENTATION = 0x0112
MAX_PHOTO_BYTES = 64 * 1024 * 1024  # photos are converted in memory; no phone photo is near this
# Photo formats phones save by default that ffmpeg 5.1 (which reads every reference) cannot: HEIC on iPhones, AVIF.
CONVERTED_PHOTO_FORMATS = {"HEIF", "AVIF"}


def normalized_photo(data: bytes) -> tuple[bytes, str] | None:
    """A photo made ready for ffmpeg, as (bytes, file suffix); None when it is ready as it is.

    HEIC/HEIF and AVIF become JPEG. A photo stored sideways with an EXIF orientation (phones save portrait shots
    as landscape pixels plus a tag for viewers, which ffmpeg ignores) is turned upright, in its own format. The EXIF
    block is not carried over (it also holds the place the photo was taken). A file Pillow cannot read is left as
    it is: the checks that follow say what is wrong with it.
    """
    # PIL: loaded when a photo is normalized, not by every process that imports this module
    from PIL import Image, ImageOps

    _register_heif()
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format or "PNG"
            convert = fmt in CONVERTED_PHOTO_FORMATS
            if not convert and image.getexif().get(EXIF_ORIENTATION, 1) in (1, None):
                return None
            picture = ImageOps.exif_transpose(image)
            if convert:
                fmt, picture = "JPEG", picture.convert("RGB")
            out = io.BytesIO()
            picture.save(out, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
            return out.getvalue(), {"JPEG": ".jpg"}.get(fmt, f".{fmt.lower()}")
    except Exception:  # best effort: a photo Pillow chokes on is left as it is, and the checks that follow judge it
        return None


def _register_heif() -> None:
    # pillow_heif: loaded with PIL, on first use only (the web process imports this module)
    from pillow_heif import register_heif_opener

    register_heif_opener()


def conform(
    path: str | Path, fps: float, width: int, height: int, frames: int, start: float = 0.0, hdr: str | None = None
) -> np.ndarray:
    """Decode `path` from `start` seconds, resampled to `fps`, scaled to cover `width`x`height`, centre-cropped,
    `frames` frames.

    HDR video is brought to standard range first (`SDR_FILTERS`), as a creator sees it on a phone; `hdr` is the file's
    kind when the caller has probed it (`VideoInfo.hdr`), which saves probing it again. Returns uint8 RGB frames of
    shape (frames, height, width, 3). Raises `MediaError` if fewer frames remain.
    """
    # numpy: loaded on first use only; the web process imports this module for probing
    import numpy as np

    # An input seek decodes from the keyframe before `start` and drops what precedes it: frame-exact, and the
    # same cut for a target and its reference.
    stream = (ffmpeg.input(str(path), ss=start) if start else ffmpeg.input(str(path))).video
    for name, options in SDR_FILTERS.get(hdr_of(path) if hdr is None else hdr, []):
        stream = stream.filter(name, **options)
    stream = (
        stream.filter("fps", fps=fps)
        .filter("scale", width, height, force_original_aspect_ratio="increase", flags="bicubic")
        .filter("crop", width, height)
        .filter("setsar", 1)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", frames=frames)
    )
    try:
        out, _ = stream.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        raise MediaError(f"{Path(path).name}: could not be decoded ({_ffmpeg_message(err)})") from err
    frame_bytes = width * height * 3
    got = len(out) // frame_bytes
    if got < frames:
        raise MediaError(f"{Path(path).name}: only {got} frames at {fps:g} fps, {frames} needed ({frames / fps:.2f} s)")
    return np.frombuffer(out[: frames * frame_bytes], np.uint8).reshape(frames, height, width, 3)


def write_mp4(frames: np.ndarray, path: str | Path, fps: float) -> Path:
    """Write frames (F, H, W, 3), uint8 or float in [0, 1], as an H.264 mp4 (yuv420p, plays everywhere)."""
    # numpy: loaded on first use only; the web process imports this module for probing
    import numpy as np

    if frames.dtype != np.uint8:
        frames = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    _f, h, w, _ = frames.shape
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # yuv420p needs even sizes; every bucket is a multiple of 32 but validation of odd inputs should not crash.
    pad = "pad=ceil(iw/2)*2:ceil(ih/2)*2"
    proc = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
        .output(str(out), vcodec="libx264", pix_fmt="yuv420p", vf=pad, crf=18, loglevel="error")
        .overwrite_output()
    )
    try:
        proc.run(input=np.ascontiguousarray(frames).tobytes(), capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        raise MediaError(f"could not write {out.name} ({_ffmpeg_message(err)})") from err
    return out


POSTER_WIDTH = 640  # posters are what a player shows before it plays: a page's size, not the clip's


def write_poster(video: str | Path, out: str | Path) -> Path:
    """A JPEG of the frame a third of the way into `video` (the first frame of a clip too short to seek in), at most
    POSTER_WIDTH wide and in standard colours: what a page's player shows before anything plays. Raises
    `MediaError` when the file has no frame to show."""
    source, target = Path(video), Path(out)
    try:
        seconds = float(ffmpeg.probe(str(source), select_streams="v:0")["format"].get("duration") or 0)
    except (ffmpeg.Error, KeyError, ValueError) as err:
        raise MediaError(f"{source.name}: not a readable video") from err
    scale = standard_range(source, f"scale='min({POSTER_WIDTH},iw)':-2")
    for start in (seconds / 3, 0.0):  # seeking near the end of a short clip can land past its last frame
        target.unlink(missing_ok=True)
        try:
            (ffmpeg.input(str(source), ss=f"{start:.3f}")
             .output(str(target), vframes=1, vf=scale, **{"q:v": 4}, loglevel="error")
             .overwrite_output().run(capture_stdout=True, capture_stderr=True))
        except ffmpeg.Error as err:
            raise MediaError(f"{source.name}: no frame could be read ({_ffmpeg_message(err)})") from err
        if target.exists() and target.stat().st_size:
            return target
    raise MediaError(f"{source.name}: no frame could be read")


# ---------------------------------------------------------------------------------------------------------
# Sound: the soundtrack of a clip or a voice file (wav, mp3, m4a, a video's audio), decoded with ffmpeg.


class AudioError(MediaError):
    """A sound that cannot be used (no sound, unreadable, too short, silent), said in a creator's words."""


# A reference voice's limits, shared by the engine (`engine.audio.load_voice`) and the web's checks before any GPU
# time (here because this module needs no torch): a shorter voice is refused, only the first 15 s of a longer one are
# used, and one whose RMS is below SILENCE_DBFS is silent (room noise of a quiet recording sits around -60).
VOICE_MIN_SECONDS = 5.0
VOICE_MAX_SECONDS = 15.0
SILENCE_DBFS = -55.0


@dataclass(frozen=True)
class AudioInfo:
    """What `probe_audio` learns about a file's first sound stream."""

    path: str
    duration: float  # seconds of sound
    channels: int
    sample_rate: int
    codec: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_audio(path: str | Path) -> AudioInfo:
    """Duration, channels, rate and codec of the file's first sound stream.

    Raises `AudioError` for a missing file, a file ffmpeg cannot read (a text file named .wav) and one with no sound.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{p.name}: file not found")
    try:
        info = ffmpeg.probe(str(p))
    except ffmpeg.Error as err:
        raise AudioError(f"{p.name}: not a sound or video file that can be read ({_ffmpeg_message(err)})") from err
    stream = next((s for s in info.get("streams", []) if s.get("codec_type") == "audio"), None)
    if stream is None:
        raise AudioError(f"{p.name}: has no sound")
    duration = float(stream.get("duration") or info.get("format", {}).get("duration") or 0.0)
    return AudioInfo(
        path=str(p),
        duration=round(duration, 4),
        channels=int(stream.get("channels") or 1),
        sample_rate=int(stream.get("sample_rate") or 0),
        codec=str(stream.get("codec_name", "unknown")),
    )


def decode_audio(
    path: str | Path, sample_rate: int, channels: int, start: float = 0.0, seconds: float | None = None
) -> np.ndarray:
    """The file's first sound stream from `start` seconds (at most `seconds` of it), resampled to `sample_rate` with
    `channels` channels (mono is copied to both sides of stereo). Returns float32 (channels, samples) in [-1, 1];
    raises `AudioError` when there is no sound or it cannot be decoded."""
    # numpy: loaded on first use only; the web process imports this module for probing
    import numpy as np

    probe_audio(path)  # a plain message for the usual failures before ffmpeg's own
    stream = ffmpeg.input(str(path), ss=start) if start else ffmpeg.input(str(path))
    limit = {"t": f"{seconds:.6f}"} if seconds is not None else {}
    out_stream = stream.audio.output("pipe:", format="f32le", acodec="pcm_f32le", ac=channels, ar=sample_rate, **limit)
    try:
        out, _ = out_stream.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        raise AudioError(f"{Path(path).name}: the sound could not be decoded ({_ffmpeg_message(err)})") from err
    samples = np.frombuffer(out, np.float32)
    usable = len(samples) // channels * channels
    return samples[:usable].reshape(-1, channels).T.copy()


def rms_dbfs(wave: np.ndarray) -> float:
    """Loudness of a waveform (channels, samples) as RMS in dB below full scale (-inf for digital silence)."""
    # numpy: loaded on first use only; the web process imports this module for probing
    import numpy as np

    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf


@dataclass(frozen=True)
class VoiceLevel:
    """How long a voice recording is and how loud the part the model hears (its first VOICE_MAX_SECONDS) is."""

    seconds: float  # decoded length (at most the `longest` measured)
    level_dbfs: float  # RMS of the used part, as `engine.audio.load_voice` measures it

    @property
    def used_seconds(self) -> float:
        return min(self.seconds, VOICE_MAX_SECONDS)

    def problems(self, min_seconds: float = VOICE_MIN_SECONDS, silence_dbfs: float = SILENCE_DBFS) -> list[str]:
        """Why this recording cannot be a reference voice: "too_short", "silent", both, or none when it can. The one
        rule, applied by the worker (`engine.audio.load_voice`) and, before any GPU time, by the wizard's and the
        Studio's checks, each in its own words."""
        found = []
        if self.seconds < min_seconds:
            found.append("too_short")
        if self.level_dbfs < silence_dbfs:
            found.append("silent")
        return found


def measure_voice(
    path: str | Path, sample_rate: int = 16000, longest: float = 600.0, used: float = VOICE_MAX_SECONDS
) -> VoiceLevel:
    """Decode a voice recording (at most `longest` seconds, mono at `sample_rate`) and measure it (its level over
    the first `used` seconds), without torch: the web's checks before any GPU time and the worker's `load_voice`
    both judge a voice by this. Always in mono: ffmpeg spreads a mono recording over two channels at -3 dB each, so a
    stereo decoding would make the same recording 3 dB quieter for a stereo model than for the checks. Raises
    `AudioError` as `decode_audio` does."""
    wave = decode_audio(path, sample_rate, 1, seconds=longest)
    return VoiceLevel(round(wave.shape[1] / sample_rate, 3), rms_dbfs(wave[:, : int(used * sample_rate)]))


def write_wav(wave: np.ndarray, path: str | Path, sample_rate: int) -> Path:
    """Write float (channels, samples) in [-1, 1] as a 16-bit PCM wav."""
    # numpy: loaded on first use only; the web process imports this module for probing
    import numpy as np

    channels = wave.shape[0]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    interleaved = np.ascontiguousarray(np.clip(wave, -1.0, 1.0).T.astype(np.float32))
    proc = (
        ffmpeg.input("pipe:", format="f32le", ac=channels, ar=sample_rate)
        .output(str(out), acodec="pcm_s16le", loglevel="error")
        .overwrite_output()
    )
    try:
        proc.run(input=interleaved.tobytes(), capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        raise AudioError(f"could not write {out.name} ({_ffmpeg_message(err)})") from err
    return out


def add_sound(video: str | Path, wave: np.ndarray, sample_rate: int) -> Path:
    """Give the mp4 `video` the soundtrack `wave` (channels, samples) in [-1, 1] (AAC), in place: a generation's
    sound beside its frames (`engine.inference.GenerationResult.audio`). The picture is copied, not re-encoded."""
    target = Path(video)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        sound = write_wav(wave, Path(scratch) / "sound.wav", sample_rate)
        joined = Path(scratch) / target.name
        try:
            (ffmpeg.output(ffmpeg.input(str(target)).video, ffmpeg.input(str(sound)).audio, str(joined),
                           vcodec="copy", acodec="aac", shortest=None, loglevel="error")
             .overwrite_output().run(capture_stdout=True, capture_stderr=True))
        except ffmpeg.Error as err:
            raise AudioError(f"could not add the sound to {target.name} ({_ffmpeg_message(err)})") from err
        joined.replace(target)
    return target
