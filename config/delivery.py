"""Sending stored files to browsers: through the app with byte ranges, or straight from the bucket.

With `S3_DIRECT_DOWNLOADS`, a view that has checked who may see a file answers with a redirect to a short-lived
signed link instead of passing every byte (and every seek of a video) through the web server. The link fixes the
type and disposition the browser gets, so an upload named `.html` is still never shown as a page.
"""

from __future__ import annotations

import mimetypes
import re
import shutil
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, cast

from django.conf import settings
from django.core.files import File
from django.db.models.fields.files import FieldFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from config.files import poster_name

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
STREAM_CHUNK = 256 * 1024


def signed_redirect(field_file: FieldFile, content_type: str, download_name: str | None = None
                    ) -> HttpResponseRedirect | None:
    """A redirect to a signed link for `field_file`, or None when files go through the web server."""
    if not settings.S3_DIRECT_DOWNLOADS:
        return None
    signer = _signer(field_file.storage)
    if signer is None:
        return None
    link = signer.url(field_file.name, expire=settings.S3_LINK_SECONDS, parameters={
        "ResponseContentType": content_type,
        "ResponseContentDisposition": disposition(download_name),
        "ResponseCacheControl": "private, max-age=3600",
    })
    response = HttpResponseRedirect(link)
    # The link expires; a cached redirect would outlive it.
    response["Cache-Control"] = "private, no-store"
    return response


def disposition(download_name: str | None) -> str:
    """`inline`, or an attachment named `download_name` (quoted or RFC 5987-encoded as the name needs)."""
    if download_name is None:
        return "inline"
    return content_disposition_header(True, download_name) or "attachment"


def _signer(storage: Any) -> Any | None:
    # storages pulls in boto3 (~0.3 s); loaded only once a file is served from S3
    from storages.backends.s3 import S3Storage

    if not isinstance(storage, S3Storage):
        return None
    return _public_storage(settings.S3_PUBLIC_ENDPOINT_URL) if settings.S3_PUBLIC_ENDPOINT_URL else storage


@lru_cache(maxsize=2)
def _public_storage(endpoint: str) -> Any:
    """The default storage with the bucket's address as browsers reach it: a signature covers the host, so a
    link made for the internal address (http://s3:9000 in the compose file) would not work from outside."""
    # storages pulls in boto3 (~0.3 s); loaded only once a file is served from S3
    from storages.backends.s3 import S3Storage

    options = cast("dict[str, Any]", settings.STORAGES["default"].get("OPTIONS", {}))
    return S3Storage(**{**options, "endpoint_url": endpoint})


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
    Straight from the bucket when the operator asks for it (S3_DIRECT_DOWNLOADS)."""
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


# What makes a poster: (video path, JPEG path to write), raising ValueError (engine.media.MediaError) when the video
# has no frame to show. The callers pass engine.media.write_poster: these shared helpers import no app or engine.
PosterMaker = Callable[[Path, Path], Any]


def stored_poster(video: FieldFile, make: PosterMaker, local: Path | None = None) -> FieldFile | None:
    """The poster of the stored `video`, made with `make` and stored beside it the first time it is asked for (from
    `local`, the video's own copy on this machine, when the caller has one); None when no frame can be shown."""
    if not video or not video.name:
        return None
    storage = video.storage
    name = poster_name(video.name)
    # No instance: the poster is no field's value, and must not become one (a FieldFile's save sets its field).
    poster = FieldFile(None, video.field, name)  # type: ignore[arg-type]
    if storage.exists(name):
        return poster
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "poster.jpg"
        try:
            make(local or _copy_here(video, Path(scratch)), out)
        except (ValueError, OSError):
            return None
        with out.open("rb") as handle:
            saved = storage.save(name, File(handle))
    if saved != name:  # another request made it meanwhile: theirs is the same picture
        storage.delete(saved)
    return poster


def _copy_here(video: FieldFile, folder: Path) -> Path:
    """A path ffmpeg can read: the stored file itself on local disk, else a copy in `folder`."""
    try:
        return Path(video.path)
    except NotImplementedError:  # a bucket: no path of its own
        pass
    copy = folder / f"video{PurePosixPath(video.name or '').suffix}"
    with video.open("rb") as source, copy.open("wb") as out:
        shutil.copyfileobj(source, out, STREAM_CHUNK)
    return copy


def serve_poster(request: HttpRequest, video: FieldFile, make: PosterMaker) -> HttpResponseBase:
    """The poster of `video` (made on first request), for a view that has checked who may see the video: 404 when
    there is no video or no frame to show."""
    poster = stored_poster(video, make)
    if poster is None:
        raise Http404("This video has no picture to show.")
    return serve_file(request, poster, "image/jpeg")
