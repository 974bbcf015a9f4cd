"""Sending stored files to browsers straight from the bucket.

With `S3_DIRECT_DOWNLOADS`, a view that has checked who may see a file answers with a redirect to a short-lived
signed link instead of passing every byte (and every seek of a video) through the web server. The link fixes the
type and disposition the browser gets, so an upload named `.html` is still never shown as a page.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import HttpResponseRedirect
from django.utils.http import content_disposition_header


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
    from storages.backends.s3 import S3Storage

    if not isinstance(storage, S3Storage):
        return None
    return _public_storage(settings.S3_PUBLIC_ENDPOINT_URL) if settings.S3_PUBLIC_ENDPOINT_URL else storage


@lru_cache(maxsize=2)
def _public_storage(endpoint: str) -> Any:
    """The default storage with the bucket's address as browsers reach it: a signature covers the host, so a
    link made for the internal address (http://s3:9000 in the compose file) would not work from outside."""
    from storages.backends.s3 import S3Storage

    options = cast("dict[str, Any]", settings.STORAGES["default"].get("OPTIONS", {}))
    return S3Storage(**{**options, "endpoint_url": endpoint})
