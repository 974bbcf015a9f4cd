"""Streaming upload plumbing: a per-file size cap applied while the bytes arrive, not after."""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest


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
