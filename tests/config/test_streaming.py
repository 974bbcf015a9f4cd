"""Downloads under ASGI leave the web process a chunk at a time, not read whole into memory first."""

import io
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.test import AsyncClient, AsyncRequestFactory, RequestFactory

from config.streaming import CHUNK, StreamChunksMiddleware
from tests.factories import make_ready_dataset


class CountingFile(io.BytesIO):
    """A file that counts how often it was read."""

    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


def _first_chunk_then_rest(response: Any, progress) -> tuple[bytes, object, bytes]:
    """The first chunk, what `progress()` says right after it arrives, and the rest."""

    async def consume() -> tuple[bytes, object, bytes]:
        chunks = aiter(response.streaming_content)
        first = await anext(chunks)
        seen = progress()
        rest = b"".join([chunk async for chunk in chunks])
        return first, seen, rest

    return async_to_sync(consume)()


@pytest.mark.backend_free
def test_a_file_under_asgi_is_read_a_chunk_at_a_time_as_it_is_sent():
    source = CountingFile(bytes(range(256)) * (40 * CHUNK // 256))
    response: Any = StreamChunksMiddleware(lambda request: FileResponse(source))(AsyncRequestFactory().get("/"))
    assert response.is_async
    first, reads, rest = _first_chunk_then_rest(response, lambda: source.reads)
    assert len(first) == CHUNK and reads == 1  # Django alone would have read all 40 chunks by now
    assert first + rest == source.getvalue()


@pytest.mark.backend_free
def test_a_generated_stream_under_asgi_is_produced_as_it_is_sent():
    produced = []

    def parts():
        for index in range(10):
            produced.append(index)
            yield f"part {index};".encode()

    middleware = StreamChunksMiddleware(lambda request: StreamingHttpResponse(parts()))
    response: Any = middleware(AsyncRequestFactory().get("/"))
    first, made, rest = _first_chunk_then_rest(response, lambda: len(produced))
    assert (first, made) == (b"part 0;", 1)
    assert rest.endswith(b"part 9;")


@pytest.mark.backend_free
def test_wsgi_and_ordinary_responses_are_left_as_they_are():
    streaming = StreamingHttpResponse(iter([b"a"]))
    assert StreamChunksMiddleware(lambda request: streaming)(RequestFactory().get("/")) is streaming
    assert not streaming.is_async
    page = HttpResponse(b"page")
    assert StreamChunksMiddleware(lambda request: page)(AsyncRequestFactory().get("/")) is page


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_clip_comes_whole_through_the_asgi_stack(creator, tmp_path):
    pair = make_ready_dataset(creator, tmp_path, count=1).pairs.get()
    clip = pair.dataset.files.create(name="clip0.mp4", kind="video", size=pair.target_file.size, sha256="0" * 64,
                                     file=pair.target_file.name)
    client = AsyncClient()

    async def download() -> tuple[int, bool, bytes]:
        await client.aforce_login(creator)
        response: Any = await client.get(f"/wizard/files/{clip.pk}/")
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response.status_code, response.is_async, body

    status, is_async, body = async_to_sync(download)()
    with pair.target_file.open("rb") as handle:
        assert (status, is_async, body) == (200, True, handle.read())
