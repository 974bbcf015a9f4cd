"""Uploads in pieces: stored as they come, resumed after a lost connection, put together and checked at the end."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from django.core.files.storage import default_storage
from django.core.handlers.wsgi import LimitedStream
from django.test import Client, RequestFactory
from django.utils import timezone

from datasets import resumable
from datasets.limits import Limits
from datasets.models import ClipPair, PartialUpload, UploadPiece
from datasets.services import UploadRefused, delete_dataset
from tests.wizard.flow import pairs, start, zip_bytes
from wizard import views_resumable
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db

PIECE = 16 * 1024  # the generated clips are about 80 KB: five pieces


@pytest.fixture(autouse=True)
def small_pieces(settings) -> None:
    settings.WIZARD_CHUNK_BYTES = PIECE


def begin(client: Client, draft: TrainingDraft, name: str, data: bytes, fingerprint: str = "1700000000000"):
    return client.post(f"/wizard/{draft.pk}/uploads/", {"name": name, "size": len(data),
                                                         "fingerprint": fingerprint})


def send(client: Client, url: str, data: bytes, offset: int, **extra):
    return client.post(url, data[offset:offset + PIECE], content_type="application/octet-stream",
                       headers={"Upload-Offset": str(offset)}, **extra)


def send_all(client: Client, draft: TrainingDraft, name: str, data: bytes):
    state = begin(client, draft, name, data).json()
    offset, answer = state["received"], None
    while offset < len(data):
        answer = send(client, state["url"], data, offset)
        assert answer.status_code == 200, answer.json()
        offset = answer.json().get("received", len(data))
    return answer


def stored_pieces() -> list[str]:
    return list(UploadPiece.objects.values_list("file", flat=True))


def first_piece(client: Client, draft: TrainingDraft, data: bytes) -> tuple[dict, str]:
    """Start walk.mp4 and send its first piece; the upload's state and the stored piece's name."""
    state = begin(client, draft, "walk.mp4", data).json()
    send(client, state["url"], data, 0)
    return state, stored_pieces()[0]


def send_rest(client: Client, url: str, data: bytes, offset: int) -> None:
    while offset < len(data):
        send(client, url, data, offset)
        offset += PIECE


def test_a_clip_sent_in_pieces_is_stored_whole_paired_and_checked(maya, clips):
    draft = start(maya)
    target, reference = clips("t.mp4").read_bytes(), clips.ref().read_bytes()
    assert len(target) > 2 * PIECE

    last = send_all(maya, draft, "walk.mp4", target)
    send_all(maya, draft, "walk_ref.mp4", reference)

    assert last is not None and last.json() == {"ok": True, "done": True, "added": ["walk.mp4"], "replaced": [],
                                                "ignored": []}
    pair = pairs(draft)["walk"]
    assert pair.status == ClipPair.Status.OK
    with pair.target_file.open("rb") as stored:
        assert stored.read() == target
    assert not stored_pieces()


def test_the_pieces_are_deleted_from_storage_once_the_file_is_whole(maya, clips, django_capture_on_commit_callbacks):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state, first = first_piece(maya, draft, data)
    assert default_storage.exists(first)

    with django_capture_on_commit_callbacks(execute=True):
        send_rest(maya, state["url"], data, PIECE)

    assert not default_storage.exists(first)


def test_a_piece_sent_twice_is_answered_with_where_to_go_on(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state = begin(maya, draft, "walk.mp4", data).json()
    send(maya, state["url"], data, 0)

    again = send(maya, state["url"], data, 0)

    assert again.status_code == 409 and again.json()["received"] == PIECE
    assert len(stored_pieces()) == 1


def test_a_file_dropped_again_after_a_reload_goes_on_where_it_stopped(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    first = begin(maya, draft, "walk.mp4", data).json()
    send(maya, first["url"], data, 0)
    send(maya, first["url"], data, PIECE)

    resumed = begin(maya, draft, "walk.mp4", data).json()

    assert resumed["url"] == first["url"] and resumed["received"] == 2 * PIECE
    assert maya.get(first["url"]).json()["received"] == 2 * PIECE


def test_a_changed_file_with_the_same_name_and_size_starts_over(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    first = begin(maya, draft, "walk.mp4", data, fingerprint="1").json()
    send(maya, first["url"], data, 0)

    other = begin(maya, draft, "walk.mp4", data, fingerprint="2").json()

    assert other["url"] != first["url"] and other["received"] == 0


def test_a_piece_that_arrives_incomplete_is_not_kept(maya, clips, creator):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state = begin(maya, draft, "walk.mp4", data).json()
    # A server that hands the view a body cut short: the connection dropped 10 bytes before the announced end.
    request = RequestFactory().post(state["url"], b"", content_type="application/octet-stream",
                                    headers={"Upload-Offset": "0"}, CONTENT_LENGTH=str(PIECE))
    request._stream = LimitedStream(io.BytesIO(data[:PIECE - 10]), PIECE)  # type: ignore[assignment]
    request.user = creator

    cut = views_resumable.upload_piece(request, draft.pk, UUID(state["url"].split("/")[-2]))  # type: ignore[arg-type]

    assert cut.status_code == 400 and "arrived incomplete" in json.loads(cut.content)["problems"][0]
    assert maya.get(state["url"]).json()["received"] == 0 and not stored_pieces()


def test_a_piece_larger_than_agreed_is_refused(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state = begin(maya, draft, "walk.mp4", data).json()

    response = maya.post(state["url"], data[:PIECE + 1], content_type="application/octet-stream",
                         headers={"Upload-Offset": "0"})

    assert response.status_code == 413 and not stored_pieces()


def test_files_over_the_limits_are_refused_before_any_piece_is_sent(maya, settings):
    draft = start(maya)
    settings.WIZARD_MAX_FILE_BYTES = 1000
    too_big = begin(maya, draft, "walk.mp4", bytes(1001))
    settings.WIZARD_MAX_FILE_BYTES, settings.WIZARD_MAX_DATASET_BYTES = 10**9, 500
    over_dataset = begin(maya, draft, "walk.mp4", bytes(501))
    empty = begin(maya, draft, "walk.mp4", b"")

    assert too_big.status_code == 400 and "the limit is 0 MB per file" in too_big.json()["problems"][0]
    assert over_dataset.status_code == 400 and "per dataset" in over_dataset.json()["problems"][0]
    assert empty.status_code == 400 and "walk.mp4 is empty." in empty.json()["problems"]
    assert not PartialUpload.objects.exists()


def test_a_whole_file_that_is_not_a_video_is_refused_and_nothing_is_kept(maya):
    draft = start(maya)
    data = b"<html>" + bytes(3 * PIECE)

    state = begin(maya, draft, "walk.mp4", data).json()
    for offset in range(0, len(data) - PIECE, PIECE):
        send(maya, state["url"], data, offset)
    last = send(maya, state["url"], data, len(data) - len(data) % PIECE)

    assert last.status_code == 400 and last.json()["done"] is True
    assert "walk.mp4" in last.json()["problems"][0]
    assert not draft.dataset.files.exists() and not stored_pieces()


def test_a_manifest_nested_too_deeply_sent_in_pieces_is_refused_and_its_pieces_are_removed(
        maya, settings, django_capture_on_commit_callbacks):
    draft = start(maya)
    data = b"[" * 200_000
    state = begin(maya, draft, "pairs.json", data).json()

    with django_capture_on_commit_callbacks(execute=True):
        for offset in range(0, len(data) - PIECE, PIECE):
            send(maya, state["url"], data, offset)
        last = send(maya, state["url"], data, len(data) - len(data) % PIECE)

    assert last.status_code == 400 and last.json()["done"] is True
    assert "pairs.json is nested too deeply to be a list of clip pairs" in last.json()["problems"][0]
    assert maya.get(state["url"]).json() == last.json()  # the page is answered, not left waiting for a finish
    assert not draft.dataset.files.exists() and not stored_pieces()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_a_browser_that_lost_the_last_answer_gets_it_when_it_asks(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state, _ = first_piece(maya, draft, data)
    send_rest(maya, state["url"], data, PIECE)  # the answer to the last piece never reached the page

    asked = maya.get(state["url"])
    resent = send(maya, state["url"], data, len(data) - len(data) % PIECE)

    assert asked.json() == {"ok": True, "done": True, "added": ["walk.mp4"], "replaced": [], "ignored": []}
    assert resent.json() == asked.json()
    assert draft.dataset.files.filter(name="walk.mp4").count() == 1


def test_a_whole_file_left_unanswered_by_a_request_that_died_is_put_together_when_asked(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state, _ = first_piece(maya, draft, data)
    upload = PartialUpload.objects.get()
    for offset in range(PIECE, len(data), PIECE):  # every piece stored; the last request died before finishing
        with io.BytesIO(data[offset:offset + PIECE]) as piece:
            upload = resumable.append(upload, offset, piece, len(data[offset:offset + PIECE]))

    still_busy = maya.get(state["url"]).json()
    PartialUpload.objects.update(updated_at=timezone.now() - resumable.FINISH_STALE - timedelta(seconds=1))
    answered = maya.get(state["url"]).json()

    assert still_busy["done"] is False and still_busy["received"] == len(data)
    assert answered == {"ok": True, "done": True, "added": ["walk.mp4"], "replaced": [], "ignored": []}
    assert draft.dataset.files.filter(name="walk.mp4").count() == 1


def test_the_same_file_dropped_again_after_it_was_stored_is_uploaded_anew(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state, _ = first_piece(maya, draft, data)
    send_rest(maya, state["url"], data, PIECE)

    again = begin(maya, draft, "walk.mp4", data).json()

    assert again["received"] == 0 and again["url"] != state["url"] and again["done"] is False
    assert maya.get(state["url"]).status_code == 404


def test_a_zip_sent_in_pieces_is_unpacked(maya, clips):
    draft = start(maya)
    archive = zip_bytes({"targets/walk.mp4": clips("t.mp4").read_bytes(),
                         "references/walk.mp4": clips.ref().read_bytes()})

    send_all(maya, draft, "clips.zip", archive)

    assert pairs(draft)["walk"].status == ClipPair.Status.OK


def test_another_creator_cannot_see_or_add_to_an_upload(maya, clips, other_creator):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state = begin(maya, draft, "walk.mp4", data).json()
    intruder = Client()
    intruder.force_login(other_creator)

    assert intruder.get(state["url"]).status_code == 404
    assert send(intruder, state["url"], data, 0).status_code == 404
    assert begin(intruder, draft, "walk.mp4", data).status_code == 404
    assert not stored_pieces()


def test_uploads_left_for_a_week_are_dropped_with_their_pieces(maya, clips, django_capture_on_commit_callbacks):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    old, recent = (begin(maya, draft, name, data).json() for name in ("old.mp4", "recent.mp4"))
    send(maya, old["url"], data, 0)
    piece = stored_pieces()[0]
    PartialUpload.objects.filter(name="old.mp4").update(updated_at=timezone.now() - timedelta(days=8))

    with django_capture_on_commit_callbacks(execute=True):
        dropped = resumable.drop_stale()

    assert dropped == 1 and list(PartialUpload.objects.values_list("name", flat=True)) == ["recent.mp4"]
    assert not default_storage.exists(piece)
    assert recent["received"] == 0


def test_deleting_a_dataset_deletes_its_unfinished_uploads(maya, clips, django_capture_on_commit_callbacks):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    _, piece = first_piece(maya, draft, data)

    with django_capture_on_commit_callbacks(execute=True):
        delete_dataset(draft.dataset)

    assert not PartialUpload.objects.exists() and not default_storage.exists(piece)


def test_pieces_must_come_in_order(creator, clips, tmp_path: Path):
    from tests.factories import make_dataset

    upload = resumable.start(make_dataset(creator), "walk.mp4", 10, "", Limits())
    with (tmp_path / "piece").open("w+b") as piece:
        piece.write(b"abcde")
        piece.seek(0)
        with pytest.raises(resumable.OffsetMismatch) as skipped:
            resumable.append(upload, 5, piece, 5)
    assert skipped.value.received == 0


def test_pieces_wait_in_the_bucket_so_any_web_process_can_take_the_next_one(s3_storage: str, maya, clips):
    from tests.s3 import bucket_keys

    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state, first = first_piece(maya, draft, data)
    assert first in bucket_keys(s3_storage)

    send_rest(maya, state["url"], data, PIECE)

    record = draft.dataset.files.get(name="walk.mp4")
    assert record.file.name in bucket_keys(s3_storage)
    with record.file.open("rb") as stored:
        assert stored.read() == data


def test_a_file_name_too_long_to_keep_is_refused_before_any_piece(maya):
    draft = start(maya)

    response = begin(maya, draft, "b" * 300 + ".mp4", bytes(10))

    assert response.status_code == 400 and "the limit is 255" in response.json()["problems"][0]
    assert not PartialUpload.objects.exists()


# --- Unfinished uploads on the clips page


def test_after_a_reload_the_clips_page_lists_an_unfinished_upload_with_how_much_arrived(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state = begin(maya, draft, "targets/walk.mp4", data).json()
    send_rest(maya, state["url"], data[:2 * PIECE], 0)

    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()

    assert "Unfinished upload" in page and "<code class=\"unfinished-name\">targets/walk.mp4</code>" in page
    assert f"32 KB of {round(len(data) / 1024)} KB" in page
    assert "Drop or choose the same file again to finish it; the part already sent is kept." in page
    assert f'action="{state["url"]}discard/"' in page


def test_a_stored_upload_is_not_listed_as_unfinished(maya, clips):
    draft = start(maya)
    send_all(maya, draft, "walk.mp4", clips("t.mp4").read_bytes())

    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    part = maya.get(f"/wizard/{draft.pk}/uploads/unfinished/", HTTP_HX_REQUEST="true").content.decode()

    assert "Unfinished upload" not in page and "Unfinished upload" not in part
    assert part.strip().startswith('<div id="unfinished"') and part.strip() in page


def test_discarding_an_unfinished_upload_deletes_what_arrived_and_stores_nothing(
    maya, clips, django_capture_on_commit_callbacks
):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state, piece = first_piece(maya, draft, data)

    with django_capture_on_commit_callbacks(execute=True):
        part = maya.post(f"{state['url']}discard/", HTTP_HX_REQUEST="true").content.decode()

    assert "The unfinished upload of walk.mp4 was discarded." in part and "Unfinished upload" not in part
    assert not PartialUpload.objects.exists() and not UploadPiece.objects.exists()
    assert not default_storage.exists(piece) and not draft.dataset.files.exists()
    assert maya.get(state["url"]).status_code == 404
    again = begin(maya, draft, "walk.mp4", data).json()  # the same file dropped again starts from nothing
    assert again["received"] == 0


def test_without_scripts_discarding_comes_back_to_the_clips_page_and_says_so(maya, clips):
    draft = start(maya)
    state, _ = first_piece(maya, draft, clips("t.mp4").read_bytes())

    response = maya.post(f"{state['url']}discard/", follow=True)

    assert response.redirect_chain == [(f"/wizard/{draft.pk}/clips/", 302)]
    assert "The unfinished upload of walk.mp4 was discarded." in response.content.decode()


def test_a_file_whose_every_byte_arrived_is_not_discarded_while_it_may_be_put_together(maya, clips):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state = begin(maya, draft, "walk.mp4", data).json()
    upload = PartialUpload.objects.get()
    for offset in range(0, len(data), PIECE):  # every piece in; the request putting it together is still at work
        with io.BytesIO(data[offset:offset + PIECE]) as piece:
            upload = resumable.append(upload, offset, piece, len(data[offset:offset + PIECE]))

    busy = maya.post(f"{state['url']}discard/", HTTP_HX_REQUEST="true").content.decode()
    PartialUpload.objects.update(updated_at=timezone.now() - resumable.FINISH_STALE - timedelta(seconds=1))
    abandoned = maya.post(f"{state['url']}discard/", HTTP_HX_REQUEST="true").content.decode()

    assert "All of walk.mp4 has arrived and is being stored" in busy
    assert "was discarded" in abandoned and not PartialUpload.objects.exists()


def test_a_piece_that_arrives_after_its_upload_was_discarded_is_refused_plainly(maya, clips, settings):
    draft = start(maya)
    data = clips("t.mp4").read_bytes()
    state = begin(maya, draft, "walk.mp4", data).json()
    upload = PartialUpload.objects.get()  # a request that read the upload just before the creator discarded it
    maya.post(f"{state['url']}discard/")

    with io.BytesIO(data[:PIECE]) as piece, pytest.raises(UploadRefused) as refused:
        resumable.append(upload, 0, piece, PIECE)

    assert refused.value.problems == ["The upload of walk.mp4 was discarded. Drop the file again to upload it anew."]
    assert not stored_pieces()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_another_creator_can_neither_see_nor_discard_my_unfinished_uploads(maya, clips, other_creator):
    draft = start(maya)
    state, _ = first_piece(maya, draft, clips("t.mp4").read_bytes())
    intruder = Client()
    intruder.force_login(other_creator)
    their_own = start(intruder)
    key = state["url"].split("/")[-2]

    assert intruder.get(f"/wizard/{draft.pk}/clips/").status_code == 404
    assert intruder.get(f"/wizard/{draft.pk}/uploads/unfinished/").status_code == 404
    assert intruder.post(f"{state['url']}discard/").status_code == 404
    assert intruder.post(f"/wizard/{their_own.pk}/uploads/{key}/discard/").status_code == 404
    assert "Unfinished upload" not in intruder.get(f"/wizard/{their_own.pk}/clips/").content.decode()
    assert PartialUpload.objects.get().received == PIECE and len(stored_pieces()) == 1


@pytest.mark.parametrize(
    ("received", "size", "says"),
    [
        (42 * 1024**2, 120 * 1024**2, "42 MB of 120 MB"),
        (0, 120 * 1024**2, "0 MB of 120 MB"),
        (int(119.9 * 1024**2), 120 * 1024**2, "119 MB of 120 MB"),  # never "all of it" before the last byte
        (int(0.55 * 1024**3), int(1.2 * 1024**3), "0.5 GB of 1.2 GB"),
        (32 * 1024, 400 * 1024, "32 KB of 400 KB"),
        (500, 900, "500 bytes of 900 bytes"),
    ],
)
def test_how_much_arrived_is_said_in_the_unit_of_the_whole_file(received, size, says):
    assert resumable.arrived_text(received, size) == says
