"""Small helpers several test modules share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 150, interval: float = 0.3) -> T:
    """Poll `predicate` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up after {timeout} s")


def sign_in(page: Any, base: str, username: str) -> None:
    """Sign a persona in through the real login page (Playwright)."""
    from playwright.sync_api import expect

    from tests.factories import PASSWORD

    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/dashboard/")


def random_adapter_tensors(seed: int = 0, rank: int = 4) -> dict[str, Any]:
    """A random IC-LoRA for the tiny model, in ComfyUI key form (bf16)."""
    import torch

    from studio.adapters import base_transformer_skeleton

    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for i, block in enumerate(base_transformer_skeleton().transformer_blocks):
        for name in ("attn1.to_q", "attn1.to_v", "ff.net.2"):
            layer = block.get_submodule(name)
            key = f"diffusion_model.transformer_blocks.{i}.{name}"
            tensors[f"{key}.lora_A.weight"] = (torch.randn(rank, layer.in_features, generator=g) * 0.2).bfloat16()
            tensors[f"{key}.lora_B.weight"] = (torch.randn(layer.out_features, rank, generator=g) * 0.2).bfloat16()
    return tensors


def sideways_photo(fmt: str = "JPEG") -> bytes:
    """A 320x192 photo stored as a phone stores a portrait shot: landscape pixels and EXIF orientation 6 (turn a
    quarter clockwise to view). Red, with a blue patch in the stored top-left corner, which is top-right when
    viewed."""
    import io

    from PIL import Image
    from pillow_heif import register_heif_opener

    register_heif_opener()  # HEIF (iPhones' HEIC) too
    image = Image.new("RGB", (320, 192), (220, 30, 30))
    image.paste((30, 30, 220), (0, 0, 100, 50))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif.tobytes())
    return out.getvalue()


def viewed_pixels(data: bytes) -> Any:
    """The photo's pixels as ffmpeg decodes them (every reference goes through ffmpeg): (H, W, 3) uint8."""
    import subprocess
    import tempfile

    import numpy as np

    from engine.media import probe

    with tempfile.NamedTemporaryFile(suffix=".img") as handle:
        handle.write(data)
        handle.flush()
        info = probe(handle.name)
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", handle.name, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(info.height, info.width, 3)


def hdr_copy(source: Any, path: Any, kind: str) -> Any:
    """`source` re-encoded as a phone records HDR: 10-bit HEVC, BT.2020, HLG ("hlg") or PQ ("pq") transfer."""
    import subprocess

    transfer = {"hlg": "arib-std-b67", "pq": "smpte2084"}[kind]
    convert = f"zscale=tin=bt709:pin=bt709:min=bt709:t={transfer}:p=bt2020:m=bt2020nc:npl=100,format=yuv420p10le"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", convert, "-c:v", "libx265",
                    "-x265-params", "log-level=error", "-color_trc", transfer, "-color_primaries", "bt2020",
                    "-colorspace", "bt2020nc", str(path)], check=True)
    return path


def variable_rate_clip(path: Any) -> Any:
    """3 s of moving test pattern at a variable frame rate, as phones record: 30 fps, then 10 fps for a second
    (low light), then 30 fps again; 70 frames."""
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x128:r=30", "-t", "3",
                    "-vf", "select='lt(t,1)+gte(t,2)+not(mod(n,3))'", "-fps_mode", "vfr", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path
