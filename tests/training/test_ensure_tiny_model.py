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


def test_make_run_checks_the_demo_model_and_says_how_to_rebuild_a_missing_one(settings, tmp_path: Path):
    import pytest
    from django.core.management.base import CommandError

    settings.MODEL_PRESET = "demo"
    call_command("ensure_model")  # the shipped folder is there: nothing to do
    settings.DEMO_MODEL_DIR = tmp_path / "gone"
    with pytest.raises(CommandError, match="python -m training build-demo-model DIR"):
        call_command("ensure_model")
    settings.MODEL_PRESET, settings.TINY_MODEL_DIR = "tiny", tmp_path / "tiny"
    call_command("ensure_model")
    assert (tmp_path / "tiny" / "model_index.json").exists()


def test_make_run_builds_the_tiny_model_of_every_base_the_tiny_preset_offers(settings, tmp_path: Path):
    import json

    settings.MODEL_PRESET, settings.TINY_MODEL_DIR = "tiny", tmp_path / "models" / "tiny"
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    call_command("ensure_model")
    assert sorted(path.name for path in (tmp_path / "models").iterdir()) == ["tiny", "tiny-ltx-2.5"]
    bases = [json.loads((tmp_path / "models" / name / "iclora_preset.json").read_text())["base"]
             for name in ("tiny", "tiny-ltx-2.5")]
    assert bases == ["ltx-2.3", "ltx-2.5"]
