"""Which base models this server offers (TINY_MODEL_BASES on the tiny preset, the demo model's own, the configured
real ones) and the files each base is loaded from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.model_paths import ModelPaths
from training.models_config import (
    ImproperlyConfiguredModel,
    available_bases,
    default_base,
    model_paths,
    speed_model,
    tiny_model_dir,
    training_model,
)

ROOT = Path(__file__).resolve().parents[2]


def _built(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")  # counts as built
    return folder


def test_the_tiny_preset_offers_the_bases_the_operator_lists_each_in_its_own_folder(settings: Any,
                                                                                    tmp_path: Path) -> None:
    settings.MODEL_PRESET, settings.TINY_MODEL_DIR = "tiny", tmp_path / "tiny"
    settings.TINY_MODEL_BASES = ("ltx-2.3",)
    assert available_bases() == ("ltx-2.3",) and default_base() == "ltx-2.3"
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    assert available_bases() == ("ltx-2.3", "ltx-2.5") and default_base() == "ltx-2.3"

    assert (tiny_model_dir("ltx-2.3"), tiny_model_dir("ltx-2.5")) == (tmp_path / "tiny", tmp_path / "tiny-ltx-2.5")
    _built(tmp_path / "tiny")
    _built(tmp_path / "tiny-ltx-2.5")
    assert model_paths(base="ltx-2.5") == ModelPaths(path=tmp_path / "tiny-ltx-2.5", name="tiny")
    assert training_model("ltx-2.5") == str(tmp_path / "tiny-ltx-2.5")
    assert training_model() == str(tmp_path / "tiny")
    assert (speed_model("ltx-2.3"), speed_model("ltx-2.5")) == ("tiny", "tiny+ltx-2.5")


def test_the_demo_preset_offers_ltx_2_3_alone_and_says_why_there_is_no_demo_ltx_2_5(settings: Any) -> None:
    settings.MODEL_PRESET, settings.TINY_MODEL_BASES = "demo", ("ltx-2.3", "ltx-2.5")
    assert available_bases() == ("ltx-2.3",)
    with pytest.raises(ImproperlyConfiguredModel, match=r"demo model is an LTX-2.3 model; there is no demo LTX-2.5\. "
                       r"An operator sets MODEL_PRESET=ltx-2.3 and LTX25_MODEL_PATH"):
        model_paths(base="ltx-2.5")
    assert speed_model("ltx-2.3") == "demo"


def test_the_real_preset_offers_each_configured_base_and_reads_its_own_settings(settings: Any, tmp_path: Path) -> None:
    settings.MODEL_PRESET = "ltx-2.3"
    settings.MODEL_BASES = ()
    assert available_bases() == ("ltx-2.3",)  # nothing set up: the console names LTX_MODEL_PATH
    ltx25 = _built(tmp_path / "ltx-2.5")
    distilled = _built(tmp_path / "ltx-2.5-distilled")
    settings.MODEL_BASES = ("ltx-2.5",)
    settings.LTX25_MODEL_PATH, settings.LTX25_TEXT_ENCODER_PATH = str(ltx25), None
    settings.LTX25_DISTILLED_MODEL_PATH = str(distilled)
    assert available_bases() == ("ltx-2.5",) and default_base() == "ltx-2.5"
    assert model_paths() == ModelPaths(path=ltx25, name="ltx-2.5")
    assert model_paths(distilled=True) == ModelPaths(path=distilled, distilled=True, name="ltx-2.5")
    assert speed_model("ltx-2.5") == "ltx-2.5"

    settings.LTX_MODEL_PATH = None
    with pytest.raises(ImproperlyConfiguredModel, match=r"LTX_MODEL_PATH is not set"):
        model_paths(base="ltx-2.3")
    settings.LTX25_MODEL_PATH = str(tmp_path / "gone")
    with pytest.raises(ImproperlyConfiguredModel, match=r"LTX25_MODEL_PATH is .*gone, but nothing is there"):
        model_paths(base="ltx-2.5")


@pytest.mark.parametrize(("value", "message"), [
    ("ltx-2.3,ltx-3", "TINY_MODEL_BASES='ltx-2.3,ltx-3': 'ltx-3' is not one of: ltx-2.3, ltx-2.5"),
    ("ltx-2.5,ltx-2.5", "TINY_MODEL_BASES='ltx-2.5,ltx-2.5' names the same one twice"),
], ids=["unknown", "twice"])
def test_a_bad_list_of_tiny_bases_stops_the_app_naming_the_setting(value: str, message: str) -> None:
    environ = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    done = subprocess.run([sys.executable, "-m", "config.stack", "--check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**environ, "TINY_MODEL_BASES": value})
    assert done.returncode == 2
    assert message in done.stderr
