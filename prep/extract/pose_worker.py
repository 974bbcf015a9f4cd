"""MediaPipe Pose on every frame of a clip, one JSON line per frame on stdout.

Run by the pose interpreter, not the app's:  .venv-pose/bin/python prep/extract/pose_worker.py SRC
MediaPipe needs numpy<2 and its own OpenCV, so this script lives in .venv-pose and imports only the standard
library, numpy and mediapipe (never prep.*). prep/extract/pose.py runs it and draws the skeletons.

Lines written (one JSON object each, flushed as they come so the caller can show progress):
    {"event": "start", "width": W, "height": H, "landmarks": 33, "mediapipe": "0.10.21"}
    {"frame": i, "pose": [[x, y, visibility] × 33]}   x, y normalised to the frame (0..1, may stray outside)
    {"frame": i, "pose": null}                         nobody found on frame i
    {"event": "end", "frames": N, "seconds": S}
On failure: {"event": "error", "message": "..."} on stdout, the same message on stderr, exit status 1
(2 when the clip cannot be read).

Frames are decoded by the ffmpeg binary exactly as prep/extract/video.py decodes them (every frame once, turned
upright), so line i belongs to frame i of the derived video.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

DECIMALS = 4  # 1/10000 of the frame: finer than a pixel at 4K, and keeps a line of 33 points short


class WorkerError(Exception):
    """A failure to report to the caller, with its exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def probe_size(src: str) -> tuple[int, int]:
    """(width, height) of the first video stream as decoded, i.e. after the player's rotation."""
    run = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", src],
                         capture_output=True, text=True)
    streams = (json.loads(run.stdout or "{}").get("streams") or []) if run.returncode == 0 else []
    if not streams:
        raise WorkerError(f"{src} could not be read as a video.", status=2)
    stream = streams[0]
    width, height = int(stream["width"]), int(stream["height"])
    rotation = next((side["rotation"] for side in stream.get("side_data_list") or [] if "rotation" in side),
                    (stream.get("tags") or {}).get("rotate", 0))
    if round(float(rotation)) % 180 == 90:
        width, height = height, width
    return width, height


def frames(src: str, width: int, height: int, vf: str = "") -> Iterator[np.ndarray]:
    """Every decoded frame once, (H, W, 3) uint8 RGB, through the ffmpeg filter chain `vf` when given."""
    filters = ["-vf", vf] if vf else []
    args = ["ffmpeg", "-v", "error", "-i", src, "-map", "0:v:0", *filters, "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    size = width * height * 3
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a long error log must not block ffmpeg
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        try:
            while len(chunk := proc.stdout.read(size)) == size:
                yield np.frombuffer(chunk, np.uint8).reshape(height, width, 3)
            if proc.wait() != 0:
                log.seek(0)
                reason = log.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["no reason given"]
                raise WorkerError(f"{src} could not be decoded to the end ({reason[0][-200:]}).", status=2)
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()


def landmarks(result: Any) -> list[list[float]] | None:
    """MediaPipe's result as 33 [x, y, visibility] rows, or None when nobody was found."""
    if result.pose_landmarks is None:
        return None
    return [[round(p.x, DECIMALS), round(p.y, DECIMALS), round(p.visibility, DECIMALS)]
            for p in result.pose_landmarks.landmark]


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def run(src: str, min_confidence: float, vf: str = "") -> None:
    started = time.monotonic()
    width, height = probe_size(src)
    import mediapipe as mp  # after the probe: a clip that cannot be read fails without loading MediaPipe

    emit({"event": "start", "width": width, "height": height, "landmarks": 33, "mediapipe": mp.__version__})
    count = 0
    # model_complexity=1 is the model the wheel ships (0 and 2 are downloaded at run time); video mode tracks
    # the person between frames and smooths the landmarks, which is what a control video needs.
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                min_detection_confidence=min_confidence,
                                min_tracking_confidence=min_confidence) as pose:
        for count, frame in enumerate(frames(src, width, height, vf), start=1):
            emit({"frame": count - 1, "pose": landmarks(pose.process(frame))})
    emit({"event": "end", "frames": count, "seconds": round(time.monotonic() - started, 3)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("src", help="the video clip")
    parser.add_argument("--min-confidence", type=float, default=0.5,
                        help="MediaPipe's detection and tracking confidence (0..1)")
    parser.add_argument("--vf", default="", help="ffmpeg filters to decode through (HDR clips: to standard range)")
    args = parser.parse_args(argv)
    try:
        run(args.src, args.min_confidence, args.vf)
    except WorkerError as err:
        emit({"event": "error", "message": str(err)})
        print(err, file=sys.stderr)
        return err.status
    return 0


if __name__ == "__main__":
    sys.exit(main())
