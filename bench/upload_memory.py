"""Memory of the web process while a creator's browser uploads a large clip in pieces (datasets.resumable).

Starts the real web server (config.processes.web_server_command), sends a clip of `--mb` MB the way the page
script does (start, then pieces of UPLOAD_CHUNK_KB with Upload-Offset, the last one putting the file together and
storing it), and reads the server's peak resident memory (VmHWM) before and after, and the time each part took.

    .venv/bin/python bench/upload_memory.py [--mb 300] [--chunk-mb 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ICLORA_DATA_DIR", tempfile.mkdtemp(prefix="iclora-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def make_clip(path: Path, mb: int) -> None:
    """A real MP4 header followed by `mb` MB of noise: sniffed as a video and stored like one."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=24", "-frames:v", "24",
                    "-c:v", "libx264", str(path)], check=True)
    with path.open("ab") as out:
        for _ in range(mb):
            out.write(os.urandom(2**20))


def call(url: str, headers: dict[str, str], data: bytes | None = None, method: str = "POST") -> dict[str, object]:
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=900) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--chunk-mb", type=int, default=8)
    args = parser.parse_args()
    os.environ["UPLOAD_CHUNK_KB"] = str(args.chunk_mb * 1024)

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from config.processes import web_server_command
    from tests.factories import make_dataset, make_user
    from tests.services import free_port
    from wizard.models import TrainingDraft

    call_command("migrate", verbosity=0)
    owner = make_user("bench")
    draft = TrainingDraft.objects.create(owner=owner, dataset=make_dataset(owner), name="bench")
    client = Client(HTTP_HOST="127.0.0.1")  # a host the settings allow
    client.force_login(owner)
    page = client.get(f"/wizard/{draft.pk}/clips/")
    assert page.status_code == 200, page.status_code
    csrf = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else page.context["csrf_token"]
    session = client.cookies["sessionid"].value
    headers = {"Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf, "Accept": "application/json"}

    port = free_port()
    server = subprocess.Popen(web_server_command(sys.executable, "127.0.0.1", port), cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/accounts/login/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        with tempfile.TemporaryDirectory() as scratch:
            clip = Path(scratch) / "big.mp4"
            make_clip(clip, args.mb)
            size = clip.stat().st_size
            before = peak_rss_mb(server.pid)
            form = f"name=big.mp4&size={size}&fingerprint=1".encode()
            state = call(f"{base}/wizard/{draft.pk}/uploads/",
                         {**headers, "Content-Type": "application/x-www-form-urlencoded"}, form)
            url, chunk = f"{base}{state['url']}", int(state["chunk_bytes"])  # type: ignore[call-overload]
            started = time.perf_counter()
            with clip.open("rb") as source:
                offset, last = 0, 0.0
                while offset < size:
                    piece = source.read(chunk)
                    if offset + len(piece) >= size:
                        last = time.perf_counter()
                    answer = call(url, {**headers, "Upload-Offset": str(offset),
                                        "Content-Type": "application/octet-stream"}, piece)
                    offset += len(piece)
            finished = time.perf_counter()
            print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; local "
                  f"storage; {size / 2**20:.0f} MB in pieces of {args.chunk_mb} MB")
            print("| MB | pieces | seconds, all pieces | seconds, last piece (put together and stored) | "
                  "peak RSS before (MB) | peak RSS after (MB) | answer |")
            print("|---:|---:|---:|---:|---:|---:|---|")
            print(f"| {size / 2**20:.0f} | {-(-size // chunk)} | {finished - started:.1f} | {finished - last:.1f} | "
                  f"{before:.0f} | {peak_rss_mb(server.pid):.0f} | {'stored' if answer.get('ok') else answer} |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
