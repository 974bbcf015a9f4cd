"""A large clip goes up in pieces: a dropped connection is retried by itself, and after a reload the page lists
what is unfinished; the same file dropped again goes on from the last stored piece instead of starting over, or the
creator discards what arrived."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from datasets.models import DatasetFile, PartialUpload, UploadPiece
from tests.clips import make_clip
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIECE = 64 * 1024  # UPLOAD_CHUNK_KB in tests/environment.py


@pytest.fixture
def big_clip(tmp_path: Path) -> Path:
    clip = make_clip(tmp_path / "harbour.mp4", source="testsrc2", frames=97, width=320, height=256)
    assert clip.stat().st_size > 4 * PIECE
    return clip


def offsets_sent(page: Page) -> list[int]:
    sent: list[int] = []
    page.on("request", lambda request: sent.append(int(request.headers["upload-offset"]))
            if "upload-offset" in request.headers else None)
    return sent


def open_clips_step(page: Page, base: str, username: str) -> None:
    sign_in(page, base, username)
    page.get_by_role("link", name="New training").click()
    page.get_by_role("button", name="Use Restoration").click()
    expect(page.get_by_role("heading", name="Your clips")).to_be_visible()


def stored_bytes(name: str) -> bytes:
    record = DatasetFile.objects.get(name=name)
    with record.file.open("rb") as handle:
        return handle.read()


def test_a_dropped_connection_is_retried_from_the_last_stored_piece(
    page: Page, live_asgi_url: str, creator, big_clip: Path, screenshots_dir: Path
):
    open_clips_step(page, live_asgi_url, creator.username)
    dropped: list[int] = []

    def drop_the_third_piece_once(route: Route) -> None:
        if route.request.headers.get("upload-offset") == str(2 * PIECE) and not dropped:
            dropped.append(2 * PIECE)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/wizard/*/uploads/*/", drop_the_third_piece_once)
    sent = offsets_sent(page)
    page.locator("#id_files").set_input_files(big_clip)

    row = page.locator(".upload-list li").first
    expect(row).to_contain_text("connection lost, trying again", timeout=15_000)
    page.screenshot(path=screenshots_dir / "upload-retrying.png", full_page=True)
    expect(row.locator(".good")).to_have_text("uploaded", timeout=30_000)
    expect(page.locator(".orphans")).to_contain_text("harbour.mp4", timeout=30_000)  # its reference comes next

    assert dropped and sent.count(2 * PIECE) == 2 and sent.count(0) == 1
    assert hashlib.sha256(stored_bytes("harbour.mp4")).digest() == hashlib.sha256(big_clip.read_bytes()).digest()


def test_a_lost_answer_to_the_last_piece_is_asked_for_instead_of_failing(
    page: Page, live_asgi_url: str, creator, big_clip: Path
):
    # Putting a large file together can outlast a proxy's timeout: the server stores the file, the page never
    # hears so. Here the answer is really computed by the server, then dropped on its way to the page.
    open_clips_step(page, live_asgi_url, creator.username)
    last = (big_clip.stat().st_size - 1) // PIECE * PIECE
    lost: list[int] = []

    def lose_the_last_answer(route: Route) -> None:
        if route.request.headers.get("upload-offset") == str(last) and not lost:
            answer = route.fetch()
            lost.append(answer.status)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/wizard/*/uploads/*/", lose_the_last_answer)
    sent = offsets_sent(page)
    page.locator("#id_files").set_input_files(big_clip)

    expect(page.locator(".upload-list li .good")).to_have_text("uploaded", timeout=30_000)
    assert lost == [200] and sent.count(last) == 1
    assert stored_bytes("harbour.mp4") == big_clip.read_bytes()


def cut_off_after_two_pieces(route: Route) -> None:
    offset = route.request.headers.get("upload-offset")
    if offset is not None and int(offset) >= 2 * PIECE:
        route.abort("internetdisconnected")
    else:
        route.continue_()


def leave_an_upload_half_done(page: Page, url: str, username: str, clip: Path) -> None:
    """Two pieces of `clip` arrive, the connection drops, and the creator reloads the clips page."""
    open_clips_step(page, url, username)
    page.route("**/wizard/*/uploads/*/", cut_off_after_two_pieces)
    page.locator("#id_files").set_input_files(clip)
    expect(page.locator(".upload-list li").first).to_contain_text("connection lost", timeout=15_000)
    page.unroute("**/wizard/*/uploads/*/")
    page.reload()


def test_after_a_reload_the_page_lists_the_unfinished_upload_and_the_same_file_goes_on_where_it_stopped(
    page: Page, live_asgi_url: str, creator, big_clip: Path, screenshots_dir: Path
):
    leave_an_upload_half_done(page, live_asgi_url, creator.username, big_clip)
    # The page says what is left unfinished, how much of it arrived and how to finish it.
    unfinished = page.locator("#unfinished")
    expect(unfinished).to_contain_text("harbour.mp4")
    expect(unfinished).to_contain_text(f"128 KB of {round(big_clip.stat().st_size / 1024)} KB")
    expect(unfinished).to_contain_text("Drop or choose the same file again to finish it; the part already sent is "
                                       "kept.")
    page.screenshot(path=screenshots_dir / "upload-unfinished-after-reload.png", full_page=True)
    sent = offsets_sent(page)
    page.locator("#id_files").set_input_files(big_clip)
    expect(unfinished).to_be_hidden()  # the upload going on below says it all

    row = page.locator(".upload-list li").first
    expect(row.locator(".good")).to_have_text("uploaded", timeout=30_000)
    expect(page.locator("#unfinished")).not_to_contain_text("harbour.mp4")
    assert sent[0] == 2 * PIECE, sent
    assert stored_bytes("harbour.mp4") == big_clip.read_bytes()


def test_an_unfinished_upload_can_be_discarded_from_the_clips_page(
    page: Page, live_asgi_url: str, creator, big_clip: Path, screenshots_dir: Path
):
    leave_an_upload_half_done(page, live_asgi_url, creator.username, big_clip)

    page.get_by_role("button", name="Discard the unfinished upload of harbour.mp4").click()

    expect(page.locator("#unfinished")).to_contain_text("The unfinished upload of harbour.mp4 was discarded.")
    expect(page.locator("#unfinished")).not_to_contain_text("Drop or choose the same file again")
    page.screenshot(path=screenshots_dir / "upload-unfinished-discarded.png", full_page=True)
    assert not PartialUpload.objects.exists() and not UploadPiece.objects.exists()
    assert not DatasetFile.objects.exists()
    sent = offsets_sent(page)
    page.locator("#id_files").set_input_files(big_clip)  # dropped again, it starts from the beginning
    expect(page.locator(".upload-list li").first.locator(".good")).to_have_text("uploaded", timeout=30_000)
    assert sent[0] == 0, sent


def test_a_file_too_large_for_the_dataset_is_refused_before_any_piece_is_sent(
    page: Page, live_asgi_url: str, creator, big_clip: Path, settings: Any
):
    open_clips_step(page, live_asgi_url, creator.username)
    sent = offsets_sent(page)
    page.evaluate("""() => {
        const form = document.querySelector("form[data-upload]");
        const input = form.querySelector("input[type=file]");
        const data = new DataTransfer();
        // 3 GB of nothing, never read: the start request alone is refused by size.
        data.items.add(new File([new Blob([new ArrayBuffer(8)])], "huge.mp4"));
        Object.defineProperty(data.files[0], "size", { value: 3 * 1024 ** 3 });
        input.files = data.files;
        input.dispatchEvent(new Event("change"));
    }""")

    row = page.locator(".upload-list li").first
    expect(row.locator(".bad").first).to_have_text("refused", timeout=15_000)
    expect(row).to_contain_text("huge.mp4 is 3072 MB; the limit is 2048 MB per file.")
    assert sent == []
