"""Auto-captions: the tiny Qwen2.5-VL round trip, frame sampling, the prompt, cleaning, plain refusals."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from prep.extract.base import ExtractionError
from prep.extract.captions import (
    CAPTION_PROMPT,
    EMPTY_CAPTION,
    FRAME_MAX_PIXELS,
    caption_clip,
    captioner_problem,
    clean_caption,
    load_captioner,
    sample_frames,
)
from prep.extract.tiny_models import build_tiny_captioner
from prep.extract.video import clip_format, read_frames
from tests.prep.conftest import LavfiClip, TrimClip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_captioner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_captioner(tmp_path_factory.mktemp("caption-model"))


# --- The round trip ------------------------------------------------------------------------------------------------


def test_it_captions_a_real_clip_with_the_tiny_model_the_same_way_twice(
        shared_media: Path, trim_clip: TrimClip, tiny_captioner: Path) -> None:
    assert captioner_problem(tiny_captioner) is None
    captioner = load_captioner(tiny_captioner)
    assert load_captioner(str(tiny_captioner)) is captioner
    assert type(captioner.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    clip = trim_clip(shared_media / "bikes.mp4", 17)
    first = caption_clip(captioner, clip, frames=4, max_new_tokens=16)
    assert isinstance(first, str) and first.strip() == first and first
    assert "<|" not in first and "\n" not in first
    assert caption_clip(captioner, clip, frames=4, max_new_tokens=16) == first


def test_it_captions_a_generated_clip_without_the_shared_footage(lavfi_clip: LavfiClip,
                                                                 tiny_captioner: Path) -> None:
    clip = lavfi_clip("testsrc", 96, 64, Fraction(25), 10)
    assert caption_clip(load_captioner(tiny_captioner), clip, frames=3, max_new_tokens=8)


def test_it_captions_a_whole_clip_with_the_default_frames(shared_media: Path, tiny_captioner: Path) -> None:
    caption = caption_clip(load_captioner(tiny_captioner), shared_media / "carphone_pristine.mp4", max_new_tokens=8)
    assert caption


def test_it_samples_frames_evenly_from_first_to_last(shared_media: Path, trim_clip: TrimClip) -> None:
    clip = trim_clip(shared_media / "carphone_pristine.mp4", 9)  # 176x144: small enough to stay as is
    every = list(read_frames(clip, clip_format(clip)))
    picked = sample_frames(clip, 3)
    assert [frame.shape for frame in picked] == [(144, 176, 3)] * 3
    for frame, index in zip(picked, (0, 4, 8), strict=True):
        assert np.array_equal(frame, every[index])
    assert len(sample_frames(clip, 50)) == 9  # a short clip gives all it has
    with pytest.raises(ExtractionError, match="At least one frame"):
        sample_frames(clip, 0)


def test_it_shrinks_large_frames_before_the_model_sees_them(shared_media: Path, trim_clip: TrimClip) -> None:
    clip = trim_clip(shared_media / "cityCC0.mpg", 3)  # 720x405 is more than 448x448 pixels
    for frame in sample_frames(clip, 2):
        height, width = frame.shape[:2]
        assert height * width <= FRAME_MAX_PIXELS * 1.01
        assert width / height == pytest.approx(720 / 405, rel=0.01)


# --- What is asked and what comes back ------------------------------------------------------------------------------


def test_it_asks_about_scene_subject_style_and_motion_and_never_names_a_control_signal() -> None:
    prompt = CAPTION_PROMPT.lower()
    for topic in ("scene", "subject", "style", "motion", "one or two sentences"):
        assert topic in prompt
    # Naming the control signal, even to forbid it, would invite the model to write about it.
    words = set(re.findall(r"[a-z]+", prompt))
    assert not words & {"depth", "edge", "edges", "canny", "skeleton", "skeletons", "pose", "poses", "map",
                        "maps", "control", "keypoints", "outline", "outlines"}


@pytest.mark.parametrize(("raw", "caption"), [
    ("  A cyclist rides  past parked cars\n on a sunny road. ", "A cyclist rides past parked cars on a sunny road."),
    ("<|im_start|>assistant\nCaption: \"Night skyline, slow pan right.\"<|im_end|>", "Night skyline, slow pan right."),
    ("A man talks in a car. The camera is still. He wav", "A man talks in a car. The camera is still."),
    ("A man talks in a car, the camera", "A man talks in a car, the camera"),
    ("\ufffd\x00\x1f", ""),
    ("<|endoftext|><|im_end|>", ""),
])
def test_it_cleans_what_the_model_answers(raw: str, caption: str) -> None:
    assert clean_caption(raw) == caption


def test_it_drops_the_prompt_when_the_model_repeats_it() -> None:
    echoed = f"system You are a helpful assistant. user {CAPTION_PROMPT} assistant\nA red tram in the rain."
    assert clean_caption(echoed, CAPTION_PROMPT) == "A red tram in the rain."


def test_it_says_plainly_when_the_model_answers_nothing(shared_media: Path, trim_clip: TrimClip,
                                                        tiny_captioner: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captioner = load_captioner(tiny_captioner)
    tokenizer = captioner.tokenizer
    silence = [tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")]

    def generate(input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.cat([input_ids, torch.tensor([silence])], dim=1)  # only special tokens after the prompt

    monkeypatch.setattr(captioner.model, "generate", generate)
    with pytest.raises(ExtractionError) as caught:
        caption_clip(captioner, trim_clip(shared_media / "carphone_pristine.mp4", 3), frames=2)
    assert str(caught.value) == EMPTY_CAPTION == "The captioner returned nothing for this clip; type a caption instead."


# --- Plain reasons ----------------------------------------------------------------------------------------------


def test_it_says_plainly_that_captions_need_an_operator_when_no_model_is_configured() -> None:
    for nothing in (None, "", "  "):
        reason = captioner_problem(nothing)
        assert reason is not None
        assert "CAPTION_MODEL_PATH" in reason and "type your captions yourself" in reason


def test_it_explains_why_a_folder_is_not_a_usable_captioner(tmp_path: Path) -> None:
    assert "does not exist" in (captioner_problem(tmp_path / "missing") or "")
    assert "no config.json" in (captioner_problem(tmp_path) or "")
    (tmp_path / "config.json").write_text("{not json")
    assert "could not be read" in (captioner_problem(tmp_path) or "")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "depth_anything"}))
    reason = captioner_problem(tmp_path) or ""
    assert "'depth_anything' model" in reason and "Qwen2.5-VL" in reason
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    assert "no weights" in (captioner_problem(tmp_path) or "")
    (tmp_path / "model.safetensors.index.json").write_text("{}")
    assert "no tokenizer" in (captioner_problem(tmp_path) or "")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert "preprocessor_config.json" in (captioner_problem(tmp_path) or "")


def test_it_refuses_to_load_a_broken_folder_with_a_plain_message(tmp_path: Path, tiny_captioner: Path) -> None:
    for source in tiny_captioner.iterdir():
        (tmp_path / source.name).write_bytes(source.read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"half a download")
    with pytest.raises(ExtractionError, match=r"The captioning model in .* could not be loaded"):
        load_captioner(tmp_path)
    with pytest.raises(ExtractionError, match="CAPTION_MODEL_PATH"):
        load_captioner("")
