"""Serving uploaded files: the file with byte ranges, its poster and its browser-playable preview."""

from __future__ import annotations

import tempfile

import pytest

from datasets.models import ClipPair
from engine.media import probe
from tests.helpers import hdr_copy, viewed_pixels
from tests.wizard.flow import pairs, reference_of, start, target_of, upload

pytestmark = pytest.mark.django_db


def test_an_hdr_phone_clip_is_shown_in_standard_colours_and_said_to_be_converted(maya, clips, tmp_path):
    draft = start(maya)
    upload(maya, draft, {"sdr.mp4": clips("t.mp4"), "sdr_ref.mp4": clips.ref(),
                         "hdr.mp4": hdr_copy(clips("t.mp4"), tmp_path / "hdr.mp4", "hlg"), "hdr_ref.mp4": clips.ref()})
    found = pairs(draft)
    assert found["hdr"].status == ClipPair.Status.OK
    assert "HDR video (HLG" in maya.get(f"/wizard/{draft.pk}/clips/").content.decode()

    def poster(pair: ClipPair):
        return viewed_pixels(b"".join(maya.get(f"/wizard/files/{pair.target_source_id}/poster/").streaming_content))

    # ~18 levels apart after HEVC and two JPEG encodes; read as if it were standard video, ~68.
    assert abs(poster(found["hdr"]).astype(float) - poster(found["sdr"])).mean() < 25


def test_a_clip_browsers_may_not_play_gets_a_small_h264_preview_and_training_keeps_the_original(
    maya, clips, tmp_path
):
    draft = start(maya)
    hevc = hdr_copy(clips("t.mp4"), tmp_path / "phone.mov", "hlg")  # an iPhone's HEVC HDR
    upload(maya, draft, {"phone.mov": hevc, "phone_ref.mp4": clips.ref()})
    pair = pairs(draft)["phone"]
    target, reference = target_of(pair), reference_of(pair)
    assert target.preview and not reference.preview  # the reference is H.264 already
    assert pair.target_file.name == target.file.name  # training reads the original

    response = maya.get(f"/wizard/files/{target.pk}/preview/")
    assert response["Content-Type"] == "video/mp4"
    with target.preview.open("rb") as handle, tempfile.NamedTemporaryFile(suffix=".mp4") as copy:
        copy.write(handle.read())
        copy.flush()
        made = probe(copy.name)
    assert (made.codec, made.hdr, made.frames, made.width) == ("h264", "", 48, 160)
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert f'src="/wizard/files/{target.pk}/preview/"' in page and f'src="/wizard/files/{reference.pk}/"' in page
    assert maya.get(f"/wizard/files/{reference.pk}/preview/").status_code == 404


def test_clip_files_are_served_with_byte_ranges_for_seeking(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    source = target_of(pairs(draft)["a"])
    whole = maya.get(f"/wizard/files/{source.pk}/")
    assert whole["Content-Type"] == "video/mp4" and whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == clips("t.mp4").read_bytes()
    part = maya.get(f"/wizard/files/{source.pk}/", HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 0-99/{source.size}"
    assert b"".join(part.streaming_content) == clips("t.mp4").read_bytes()[:100]


def test_an_uploaded_file_is_only_ever_served_as_video_or_image(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"page.html": clips("t.mp4"), "page_ref.mp4": clips.ref()})
    response = maya.get(f"/wizard/files/{target_of(pairs(draft)['page']).pk}/")
    assert response["Content-Type"] == "video/mp4"
    assert response["X-Content-Type-Options"] == "nosniff" and "sandbox" in response["Content-Security-Policy"]
