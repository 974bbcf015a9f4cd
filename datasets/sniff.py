"""What a file really is, from its first bytes: the extension a browser or a ZIP claims is not trusted."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import IO

HEADER_BYTES = 4096


class Kind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"
    ZIP = "zip"
    TEXT = "text"
    UNKNOWN = "unknown"


# ISO base media files that hold stills: HEIC/HEIF (iPhones' default photo format) and AVIF.
STILL_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
# ISO base media files that hold sound only: .m4a (iPhone voice memos, iTunes), .m4b and .m4p.
AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}


def _is_video(head: bytes) -> bool:
    if len(head) >= 12 and head[4:8] == b"ftyp":  # MP4, MOV, M4V (ISO base media)
        return head[8:12] not in STILL_BRANDS and head[8:12] not in AUDIO_BRANDS
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):  # old QuickTime without ftyp
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return True
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return True
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):  # MPEG program / video stream
        return True
    # MPEG transport stream: a sync byte every 188 bytes.
    return len(head) >= 188 * 3 and all(head[i * 188] == 0x47 for i in range(3))


def _is_image(head: bytes) -> bool:
    return (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith(b"\xff\xd8\xff")
        or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")
        or (len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in STILL_BRANDS)
    )


def _is_audio(head: bytes) -> bool:
    """Sound files a voice comes in: WAV, AIFF, MP3, AAC (ADTS), M4A, Ogg (Vorbis, Opus), FLAC, Apple's CAF.
    WebM sound is Matroska, which says nothing about its streams in its header: it sniffs as video, and a video's
    soundtrack serves as a voice too."""
    return (
        (head.startswith((b"RIFF", b"RF64")) and head[8:12] == b"WAVE")
        or (head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"))
        or head.startswith((b"ID3", b"OggS", b"fLaC", b"caff"))
        or (len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in AUDIO_BRANDS)
        # MPEG audio (MP3) and ADTS (AAC) frames start with 11 set bits; a JPEG's FF D8 does not.
        or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    )


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the header is still text.
        return err.start >= len(head) - 3
    return True


def sniff_bytes(head: bytes) -> Kind:
    if _is_video(head):
        return Kind.VIDEO
    if _is_image(head):
        return Kind.IMAGE
    if _is_audio(head):
        return Kind.AUDIO
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return Kind.ZIP
    if head and _is_text(head):
        return Kind.TEXT
    return Kind.UNKNOWN


def sniff_stream(stream: IO[bytes]) -> Kind:
    position = stream.tell()
    head = stream.read(HEADER_BYTES)
    stream.seek(position)
    return sniff_bytes(head)


def sniff_path(path: str | Path) -> Kind:
    with open(path, "rb") as handle:
        return sniff_bytes(handle.read(HEADER_BYTES))


TEXT_ROLES = {".txt": "caption", ".csv": "manifest", ".json": "manifest", ".jsonl": "manifest"}


def text_role(name: str) -> str | None:
    """Text files are captions or manifests by their extension; any other text file is not used."""
    return TEXT_ROLES.get(Path(name).suffix.lower())
