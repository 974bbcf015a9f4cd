from pathlib import Path

from django.core.management import call_command


def test_it_builds_the_tiny_model_once_and_keeps_it(settings, tmp_path: Path):
    settings.TINY_MODEL_DIR = tmp_path / "models" / "tiny"
    call_command("ensure_tiny_model")
    index = settings.TINY_MODEL_DIR / "model_index.json"
    assert "LTX2InContextPipeline" in index.read_text()
    built_at = index.stat().st_mtime_ns

    call_command("ensure_tiny_model")
    assert index.stat().st_mtime_ns == built_at
    assert [path.name for path in (tmp_path / "models").iterdir()] == ["tiny"]  # no scratch folder left behind
