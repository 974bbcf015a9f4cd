"""The file type comes from the content, never from the name."""

import io
import zipfile

import pytest

from datasets.sniff import Kind, sniff_bytes, sniff_path, sniff_stream
from tests.clips import NO_REAL_MEDIA, REAL_MEDIA


def test_it_recognises_an_mp4_by_content_even_named_txt(clips, tmp_path):
    renamed = tmp_path / "notes.txt"
    renamed.write_bytes(clips("t.mp4").read_bytes())
    assert sniff_path(renamed) is Kind.VIDEO


def test_it_recognises_webm_and_mkv(tmp_path):
    assert sniff_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 60) is Kind.VIDEO


def test_it_recognises_images(clips):
    assert sniff_path(clips.image("a.png")) is Kind.IMAGE
    assert sniff_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20) is Kind.IMAGE


def test_it_recognises_zip_archives():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    buffer.seek(0)
    assert sniff_stream(buffer) is Kind.ZIP
    assert buffer.tell() == 0  # the stream is left where it was


def test_text_named_like_a_video_is_text_and_binary_junk_is_unknown():
    assert sniff_bytes("a caption with ünïcode\n".encode()) is Kind.TEXT
    assert sniff_bytes(bytes(range(256)) * 4) is Kind.UNKNOWN
    assert sniff_bytes(b"") is Kind.UNKNOWN


def test_heic_and_avif_stills_are_images_not_video():
    for brand in (b"heic", b"mif1", b"avif"):
        assert sniff_bytes(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 20) is Kind.IMAGE


@pytest.mark.skipif(not REAL_MEDIA.is_dir(), reason=NO_REAL_MEDIA)
def test_real_mp4_and_mpeg_program_streams_are_videos():
    assert sniff_path(REAL_MEDIA / "bikes.mp4") is Kind.VIDEO
    assert sniff_path(REAL_MEDIA / "cityCC0.mpg") is Kind.VIDEO
