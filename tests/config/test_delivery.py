"""Files sent straight from the bucket through signed links (config.delivery), against a real S3 server (moto)."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from config.files import poster_name
from datasets.models import DatasetFile
from engine.synthetic import make_clip
from studio.models import Adapter, Generation
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def direct(settings: Any, s3_storage: str) -> str:
    settings.S3_DIRECT_DOWNLOADS = True
    return s3_storage


def _adapter(owner: Any, content: bytes = b"adapter weights") -> Adapter:
    name = default_storage.save(f"users/{owner.pk}/adapters/edges.safetensors", ContentFile(content))
    return Adapter.objects.create(owner=owner, name="edges", source=Adapter.Source.UPLOADED, file=name)


def _fetch(link: str, **headers: str) -> Any:
    return urllib.request.urlopen(urllib.request.Request(link, headers=headers), timeout=10)


def test_an_adapter_download_sends_its_owner_to_a_signed_link_that_serves_the_file(direct: str, maya, creator):
    adapter = _adapter(creator)

    response = maya.get(f"/adapters/{adapter.pk}/download/")

    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    link = response["Location"]
    assert link.startswith(direct) and "X-Amz-Signature=" in link
    with _fetch(link) as answer:
        assert answer.read() == b"adapter weights"
        assert answer.headers["Content-Type"] == "application/octet-stream"
        assert answer.headers["Content-Disposition"] == 'attachment; filename="edges.safetensors"'


def test_another_creator_gets_404_and_no_link(direct: str, client, creator, other_creator):
    adapter = _adapter(creator)
    client.force_login(other_creator)

    response = client.get(f"/adapters/{adapter.pk}/download/")

    assert response.status_code == 404
    assert "Location" not in response


def test_a_clip_named_like_a_page_still_comes_as_a_video_and_seeks_by_range(direct: str, maya, creator):
    dataset = make_dataset(creator)
    name = default_storage.save("users/clips/page.html", ContentFile(b"<script>alert(1)</script>" + bytes(100)))
    record = DatasetFile.objects.create(dataset=dataset, name="page.html", file=name, kind=DatasetFile.Kind.VIDEO,
                                        sha256="0" * 64)

    link = maya.get(f"/wizard/files/{record.pk}/")["Location"]

    with _fetch(link, Range="bytes=0-7") as answer:
        assert answer.status == 206
        assert answer.read() == b"<script>"
        assert answer.headers["Content-Type"] == "video/mp4"
        assert answer.headers["Content-Disposition"] == "inline"


def test_links_are_signed_for_the_address_browsers_reach_the_bucket_at(direct: str, settings, maya, creator):
    # The compose file's workers reach MinIO as http://s3:9000; browsers need the public name, and a signature
    # covers the host, so the link must be made for that name.
    public = direct.replace("127.0.0.1", "localhost")
    settings.S3_PUBLIC_ENDPOINT_URL = public
    adapter = _adapter(creator)

    link = maya.get(f"/adapters/{adapter.pk}/download/")["Location"]

    assert link.startswith(public)
    with _fetch(link) as answer:
        assert answer.read() == b"adapter weights"


def test_without_direct_downloads_the_web_server_sends_the_file_itself(s3_storage: str, maya, creator):
    adapter = _adapter(creator)

    response = maya.get(f"/adapters/{adapter.pk}/download/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"adapter weights"
    assert response["Content-Disposition"] == 'attachment; filename="edges.safetensors"'


def test_a_poster_is_made_from_the_buckets_copy_kept_there_and_sent_from_there(direct: str, maya, creator, tmp_path):
    generation = Generation.objects.create(owner=creator, prompt="p", reference_file="users/1/clip.mp4",
                                           state=Generation.State.SUCCEEDED)
    generation.output_file.save("out.mp4", ContentFile(make_clip(tmp_path / "out.mp4", 1, 96, 64).read_bytes()))

    response = maya.get(f"/studio/generations/{generation.pk}/output.jpg")

    assert response.status_code == 302 and response["Location"].startswith(direct)
    assert default_storage.exists(poster_name(generation.output_file.name))
    with _fetch(response["Location"]) as answer:
        assert answer.headers["Content-Type"] == "image/jpeg" and answer.read(3) == b"\xff\xd8\xff"
