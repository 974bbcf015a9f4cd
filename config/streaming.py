"""Downloads under ASGI, a chunk at a time.

Under ASGI, Django serves a streaming response over a synchronous iterator (every FileResponse) by reading the
whole iterator into a list first (`StreamingHttpResponse.__aiter__`): a 2 GB clip would sit whole in the web
process's memory before its first byte left. This middleware gives such responses an asynchronous iterator that
reads one chunk at a time in a worker thread, so a download holds one chunk of memory and disk or S3 reads never
block the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from django.http.response import HttpResponseBase, StreamingHttpResponse

CHUNK = 256 * 1024  # FileResponse's own 4 KB would cost a thread hop per 4 KB


class StreamChunksMiddleware:
    """First in MIDDLEWARE, so it also sees the responses WhiteNoise answers itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if isinstance(request, ASGIRequest) and isinstance(response, StreamingHttpResponse) and not response.is_async:
            response.streaming_content = read_in_threads(_sync_chunks(response))
        return response


def _sync_chunks(response: StreamingHttpResponse) -> Iterator[bytes]:
    filelike = getattr(response, "file_to_stream", None)
    if filelike is not None:
        return iter(lambda: filelike.read(CHUNK), b"")
    return iter(response.streaming_content)  # type: ignore[arg-type]


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


async def read_in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    read = sync_to_async(_next_chunk, thread_sensitive=False)
    while (chunk := await read(chunks)) is not None:
        yield chunk
