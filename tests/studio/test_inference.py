"""The Studio's pipeline call on the tiny model: adapter, strength, mask, effect LoRA, baseline, snapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine.inference import GenerationSpec, SettingsError, check_spec, fit_to_reference, generate, snap_settings
from studio import masks

MODULES = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "ff.net.0.proj", "ff.net.2")


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    from django.conf import settings
    from django.core.management import call_command

    call_command("ensure_tiny_model")  # the same model the worker uses
    return Path(settings.TINY_MODEL_DIR)


@pytest.fixture(scope="module")
def pipe(tiny_dir: Path):
    from engine.loader import load_pipeline

    return load_pipeline(tiny_dir, device="cpu")


def write_adapter(transformer, path: Path, seed: int, rank: int = 4, modules=MODULES, metadata=None) -> Path:
    """A random (untrained) LoRA in ComfyUI form: enough to change what the model makes."""
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for i, block in enumerate(transformer.transformer_blocks):
        for name in modules:
            layer = block.get_submodule(name)
            layer = getattr(layer, "base_layer", layer)
            key = f"diffusion_model.transformer_blocks.{i}.{name}"
            tensors[f"{key}.lora_A.weight"] = (torch.randn(rank, layer.in_features, generator=g) * 0.2).bfloat16()
            tensors[f"{key}.lora_B.weight"] = (torch.randn(layer.out_features, rank, generator=g) * 0.2).bfloat16()
    save_file(tensors, str(path), metadata=metadata or {"reference_downscale_factor": "1", "trigger": "RESTORE"})
    return path


def reference(frames: int = 9, height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.random((frames, height // 16, width // 16, 3))
    return (np.kron(coarse, np.ones((1, 16, 16, 1))) * 255).astype(np.uint8)


def spec(**overrides: Any) -> GenerationSpec:
    values: dict[str, Any] = dict(
        prompt="RESTORE a sunny street", num_frames=9, height=96, width=128, num_inference_steps=3,
        max_sequence_length=32, seed=7,
    )
    values.update(overrides)
    return GenerationSpec(**values)


def test_the_adapter_changes_the_output_and_the_baseline_is_the_same_call_without_it(pipe, tmp_path):
    adapter = write_adapter(pipe.transformer, tmp_path / "a.safetensors", seed=1)
    steps: list[tuple[int, int]] = []
    result = generate(pipe, spec(), reference(), adapter, with_baseline=True, on_step=lambda d, t: steps.append((d, t)))
    assert result.output.shape == (9, 96, 128, 3) and result.baseline is not None
    assert result.output.min() >= 0.0 and result.output.max() <= 1.0
    assert np.abs(result.output - result.baseline).mean() > 1e-3
    assert steps == [(i, 6) for i in range(1, 7)]  # both passes report progress

    plain = generate(pipe, spec(), reference(), None)
    np.testing.assert_allclose(plain.output, result.baseline, atol=1e-6)  # baseline = no adapter, same seed
    assert pipe.get_list_adapters() == {}  # LoRAs unloaded: the cached pipeline is clean for the next one

    again = generate(pipe, spec(), reference(), adapter)
    np.testing.assert_allclose(again.output, result.output, atol=1e-6)  # same seed, same result


def test_adapter_scale_attention_strength_and_mask_each_change_the_result(pipe, tmp_path):
    adapter = write_adapter(pipe.transformer, tmp_path / "a.safetensors", seed=1)
    full = generate(pipe, spec(), reference(), adapter).output
    half_scale = generate(pipe, spec(adapter_scale=0.5), reference(), adapter).output
    weak = generate(pipe, spec(attention_strength=0.3), reference(), adapter).output
    fade = masks.fade_in(9, 96, 128, over=8)
    faded = generate(pipe, spec(), reference(), adapter, mask=fade).output
    ones = generate(pipe, spec(), reference(), adapter, mask=masks.whole_frame(9, 96, 128)).output
    for other in (half_scale, weak, faded):
        assert np.abs(other - full).mean() > 1e-4
    np.testing.assert_allclose(ones, full, atol=1e-4)  # a mask of ones at strength 1 is the training setup


def test_an_effect_lora_stacks_beside_the_ic_lora_and_stays_in_the_baseline(pipe, tmp_path):
    adapter = write_adapter(pipe.transformer, tmp_path / "a.safetensors", seed=1)
    effect = write_adapter(pipe.transformer, tmp_path / "e.safetensors", seed=2, modules=("ff.net.2",))
    alone = generate(pipe, spec(), reference(), adapter, with_baseline=True)
    stacked = generate(pipe, spec(effect_scale=0.8), reference(), adapter, effect_path=effect, with_baseline=True)
    assert np.abs(stacked.output - alone.output).mean() > 1e-4
    assert stacked.baseline is not None and alone.baseline is not None
    assert np.abs(stacked.baseline - alone.baseline).mean() > 1e-4  # the effect LoRA is still on in the baseline
    assert pipe.get_list_adapters() == {}


def test_a_downscaled_reference_uses_half_size_frames(pipe, tmp_path):
    adapter = write_adapter(pipe.transformer, tmp_path / "a.safetensors", seed=1,
                            metadata={"reference_downscale_factor": "2"})
    out = generate(pipe, spec(height=128, width=128, reference_downscale_factor=2), reference(9, 64, 64), adapter)
    assert out.output.shape == (9, 128, 128, 3)


@pytest.mark.parametrize(
    ("asked", "downscale", "expected", "note"),
    [
        ((17, 96, 128), 1, (17, 96, 128), None),
        ((16, 96, 128), 1, (17, 96, 128), "Frames: 16 → 17"),
        ((12, 100, 130), 1, (9, 96, 128), "Height: 100 → 96"),
        ((1, 10, 40), 1, (1, 32, 32), "Width: 40 → 32"),
        ((33, 96, 128), 2, (33, 128, 128), "multiple of 64"),
    ],
)
def test_frames_and_size_are_snapped_to_valid_values_with_a_note(asked, downscale, expected, note):
    frames, height, width = asked
    snapped = snap_settings(frames, height, width, downscale=downscale)
    assert (snapped.num_frames, snapped.height, snapped.width) == expected
    if note is None:
        assert snapped.notes == []
    else:
        assert any(note in n for n in snapped.notes), snapped.notes


def test_frames_are_snapped_down_to_what_the_reference_has():
    snapped = snap_settings(121, 96, 128, available_frames=30)
    assert snapped.num_frames == 25 and "only 30 frames" in snapped.notes[0]


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ((0, 96, 128), "at least 1"),
        ((-8, 96, 128), "at least 1"),
        ((9999, 96, 128), "At most 257 frames"),
        (("abc", 96, 128), "whole number"),
        ((9.5, 96, 128), "whole number"),
        ((9, 0, 128), "positive number of pixels"),
        ((9, 96, 100_000), "at most 2048"),
    ],
)
def test_impossible_frames_and_sizes_are_refused_with_a_message(asked, message):
    with pytest.raises(SettingsError) as error:
        snap_settings(*asked)
    assert message in error.value.message


@pytest.mark.parametrize(
    ("asked", "reference", "unit", "trained", "expected"),
    [
        ((768, 448), (1080, 1920), 32, (), (448, 768)),  # a portrait phone clip stays portrait, same pixels
        ((768, 448), (1920, 1080), 32, (), (768, 448)),  # already its shape: unchanged
        ((768, 448), (1000, 1000), 32, (), (576, 576)),  # square
        ((768, 448), (1080, 1920), 64, (), (448, 768)),  # downscale 2: multiples of 64
        ((768, 448), (1080, 1920), 32, ((768, 448), (448, 768)), (448, 768)),  # the adapter's portrait bucket
        ((768, 448), (720, 1280), 32, ((768, 448), (512, 896)), (448, 768)),  # its bucket is far larger: not taken
        ((128, 96), (3, 2000), 32, (), (32, 2048)),  # a thin strip: sides stay within the limits
    ],
)
def test_the_size_follows_the_reference_shape_at_about_the_asked_pixels(asked, reference, unit, trained, expected):
    (width, height), (ref_width, ref_height) = asked, reference
    assert fit_to_reference(width, height, ref_width, ref_height, unit, trained) == expected


def test_the_pipeline_is_never_called_with_values_it_would_crash_on(pipe, tmp_path):
    adapter = write_adapter(pipe.transformer, tmp_path / "a.safetensors", seed=1)
    with pytest.raises(SettingsError, match="8n\\+1"):
        generate(pipe, spec(num_frames=10), reference(10), adapter)
    with pytest.raises(SettingsError, match="multiple of 32"):
        generate(pipe, spec(height=100), reference(9, 100, 128), adapter)
    with pytest.raises(SettingsError, match="reference video is"):
        generate(pipe, spec(), reference(9, 64, 64), adapter)
    with pytest.raises(SettingsError, match="mask has 5 frames"):
        generate(pipe, spec(), reference(), adapter, mask=torch.ones(1, 1, 5, 96, 128))
    with pytest.raises(SettingsError, match="between 0 and 1"):
        generate(pipe, spec(), reference(), adapter, mask=torch.full((1, 1, 9, 96, 128), 2.0))
    with pytest.raises(SettingsError, match="Attention strength"):
        check_spec(spec(attention_strength=1.5))
    assert pipe.get_list_adapters() == {}
