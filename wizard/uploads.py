"""Streaming upload plumbing: a per-file size cap applied while the bytes arrive, not after."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from config.delivery import disposition, signed_redirect

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
STREAM_CHUNK = 256 * 1024


class SizeCapHandler(FileUploadHandler):
    """Put first in the handler chain: skips (and reports) any file that grows past `limit` bytes."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.too_big: list[str] = []

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.limit:
            self.too_big.append(self.file_name or "a file")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _iter_range(field_file: FieldFile, start: int, length: int) -> Any:
    with field_file.open("rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(STREAM_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


SAFE_TYPES = {
    "video": ("video/mp4", {"video/mp4", "video/webm", "video/quicktime", "video/x-matroska", "video/mpeg",
                            "video/x-msvideo", "video/mp2t"}),
    "image": ("image/jpeg", {"image/png", "image/jpeg", "image/webp"}),
}


def safe_content_type(kind: str, name: str) -> str:
    """A video or image type only: an uploaded file named .html must never be served as a page."""
    default, allowed = SAFE_TYPES[kind]
    guessed = mimetypes.guess_type(name)[0]
    return guessed if guessed in allowed else default


def serve_made_file(request: HttpRequest, field_file: FieldFile, content_type: str, missing: str) -> HttpResponseBase:
    """A file the app made (poster, preview, derived video) inline, or 404 saying `missing` when there is none."""
    if not field_file:
        raise Http404(missing)
    return serve_file(request, field_file, content_type)


def serve_file(request: HttpRequest, field_file: FieldFile, content_type: str,
               download_name: str | None = None) -> HttpResponseBase:
    """The file inline (or as a download named `download_name`), with byte ranges so browsers can seek in videos.
    Straight from the bucket when the operator asks for it (config.delivery)."""
    redirect = signed_redirect(field_file, content_type, download_name)
    if redirect is not None:
        return redirect
    size = field_file.size
    match = RANGE_RE.match(request.headers.get("Range", ""))
    response: HttpResponseBase
    if match and (match.group(1) or match.group(2)):
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:
            start, end = max(0, size - int(last)), size - 1
        if start > end or start >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        response = StreamingHttpResponse(_iter_range(field_file, start, end - start + 1), status=206,
                                         content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(field_file.open("rb"), content_type=content_type)
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = disposition(download_name)
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response
