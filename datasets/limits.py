"""Upload limits. Operators can override each in settings (WIZARD_<NAME>); tests do with the settings fixture."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 2048 * MB  # one clip
    max_dataset_bytes: int = 20 * 1024 * MB  # all files of one dataset
    max_zip_entries: int = 2000
    max_zip_ratio: float = 100.0  # uncompressed / compressed, per entry and overall; video barely compresses
    max_pairs: int = 1000
    inline_check_bytes: int = 16 * MB  # pairs up to this size are checked during the upload itself
    chunk_bytes: int = 8 * MB  # larger files are sent in pieces of this size, and resume after a lost connection


def current() -> Limits:
    defaults = Limits()
    values = {
        name: getattr(settings, f"WIZARD_{name.upper()}", getattr(defaults, name))
        for name in Limits.__dataclass_fields__
    }
    return Limits(**values)
