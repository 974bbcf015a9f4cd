"""Memory of the web process while it sends a large clip and a dataset ZIP, with and without config.streaming's
middleware.

Under ASGI, Django reads a response over a synchronous iterator whole into a list before sending it; the
middleware feeds such responses to the server a chunk at a time, and the server (uvicorn, whose sends wait for
the client) passes them on as the client takes them. This starts the real web server
(config.processes.web_server_command), downloads through it, fast or at a creator's connection speed, and reads
the server's peak resident memory (VmHWM) before and after each download, a fresh server for each.

    .venv/bin/python bench/download_memory.py [--mb 400] [--client-mb-per-s 40]
"""

from __future__ import annotations

import argparse
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

WITHOUT_MIDDLEWARE = """
from config.settings import *  # noqa: F403
MIDDLEWARE = [m for m in MIDDLEWARE if m != "config.streaming.StreamChunksMiddleware"]  # noqa: F405
"""


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def download(url: str, cookie: str, mb_per_s: float = 0) -> tuple[int, float]:
    """Bytes and seconds; `mb_per_s` reads no faster than that (a creator's connection), 0 as fast as it can."""
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    started, size = time.perf_counter(), 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1024 * 1024):
            size += len(chunk)
            if mb_per_s and (ahead := size / 2**20 / mb_per_s - (time.perf_counter() - started)) > 0:
                time.sleep(ahead)
    return size, time.perf_counter() - started


def serve(settings_module: str, port: int, pythonpath: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "PYTHONPATH": pythonpath}
    from config.processes import web_server_command

    server = subprocess.Popen(web_server_command(sys.executable, "127.0.0.1", port), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).read()
            return server
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the web server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=400, help="size of the clip (the ZIP holds it twice)")
    parser.add_argument("--client-mb-per-s", type=float, default=0, help="read no faster (0: as fast as possible)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command
    from django.test import Client

    from datasets.models import ClipPair, DatasetFile
    from tests.factories import make_dataset, make_user
    from tests.services import free_port

    call_command("migrate", verbosity=0)
    owner = make_user("bench")
    dataset = make_dataset(owner, name="Big")
    with tempfile.NamedTemporaryFile(suffix=".mp4") as blob:
        for _ in range(args.mb):
            blob.write(os.urandom(1024 * 1024))
        blob.flush()
        with open(blob.name, "rb") as handle:
            clip = DatasetFile(dataset=dataset, name="big.mp4", kind="video", size=args.mb * 2**20, sha256="0" * 64)
            clip.file.save("big.mp4", File(handle))
    ClipPair.objects.create(dataset=dataset, name="big", target_file=clip.file.name, reference_file=clip.file.name,
                            status=ClipPair.Status.OK)
    client = Client()
    client.force_login(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    scratch = Path(tempfile.mkdtemp(prefix="iclora-bench-settings-"))
    (scratch / "settings_without_streaming.py").write_text(WITHOUT_MIDDLEWARE)
    pythonpath = os.pathsep.join([str(scratch), str(ROOT)])
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"clip {args.mb} MB, ZIP {2 * args.mb} MB")
    print("| server | download | MB sent | seconds | peak RSS before (MB) | peak RSS after (MB) |")
    print("|---|---|---:|---:|---:|---:|")
    downloads = (("clip", f"/wizard/files/{clip.pk}/"), ("dataset ZIP", f"/wizard/datasets/{dataset.pk}/download/"))
    for label, module in (("with the middleware", "config.settings"),
                          ("without it (Django alone)", "settings_without_streaming")):
        for what, path in downloads:  # a fresh server each time: the peak is a high-water mark
            port = free_port()
            server = serve(module, port, pythonpath)
            try:
                before = peak_rss_mb(server.pid)
                size, seconds = download(f"http://127.0.0.1:{port}{path}", cookie, args.client_mb_per_s)
                print(f"| {label} | {what} | {size / 2**20:.0f} | {seconds:.1f} | {before:.0f} | "
                      f"{peak_rss_mb(server.pid):.0f} |", flush=True)
            finally:
                server.terminate()
                server.wait()

if __name__ == "__main__":
    main()
