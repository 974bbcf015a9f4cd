"""The demo model: a trained LTX-2 of the real diffusers classes that makes pictures, not static, on a CPU.

The shipped folder (models/demo) is what `make run` uses; these tests judge it on footage it was never built
from: `tests/media/carphone_*` (a real restoration pair) and clips ffmpeg generates.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import LTX2InContextPipeline
from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition

from engine.buckets import Bucket
from engine.demo_model import (
    DEMO_BUCKET,
    BuildSettings,
    demo_components,
    psnr,
    reconstruct,
    train_transformer,
    video_from_frames,
)
from engine.loader import SHIPPED_DEMO_MODEL, load_pipeline, resolve_model
from engine.media import conform

pytestmark = pytest.mark.backend_free

HELD_OUT = Path(__file__).resolve().parents[1] / "media"
# Recorded in docs/benchmarks.md: blurry is fine, static is not. A flat grey guess scores 11.6 dB on the car clip
# and a perfect 1/8-resolution thumbnail 20.6 dB.
PSNR_TARGET_DB = 20.0


def spatial_autocorrelation(video: np.ndarray) -> float:
    """Correlation of horizontally neighbouring pixels in (F, H, W, 3) frames: ~0 for static, ~1 for pictures."""
    a = video[:, :, :-1].astype(np.float64).ravel()
    b = video[:, :, 1:].astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def held_out_clip(name: str) -> np.ndarray:
    b = DEMO_BUCKET
    return conform(HELD_OUT / name, b.fps, b.width, b.height, 17)


def test_the_shipped_demo_folder_matches_its_recorded_checksums() -> None:
    sums = (SHIPPED_DEMO_MODEL / "SHA256SUMS").read_text().splitlines()
    assert len(sums) >= 8
    for line in sums:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((SHIPPED_DEMO_MODEL / name).read_bytes()).hexdigest() == digest, name
    marker = json.loads((SHIPPED_DEMO_MODEL / "iclora_preset.json").read_text())
    assert marker["preset"] == "demo" and marker["bucket"] == DEMO_BUCKET.label()


def test_the_demo_preset_resolves_to_the_shipped_folder_and_names_itself_demo() -> None:
    paths = resolve_model("demo")
    assert paths.path == SHIPPED_DEMO_MODEL and paths.name == "demo"
    assert resolve_model(str(SHIPPED_DEMO_MODEL)).name == "demo"  # the folder's marker says so too


def test_diffusers_own_pipeline_loads_the_demo_folder_and_makes_pictures_where_the_tiny_model_makes_static(
    tiny_model_dir: Path,
) -> None:
    reference = held_out_clip("carphone_distorted.mp4").astype(np.float32) / 255.0
    outputs = {}
    for name, folder in (("demo", SHIPPED_DEMO_MODEL), ("tiny", tiny_model_dir)):
        pipe = LTX2InContextPipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        video, _audio = pipe(
            reference_conditions=[LTX2ReferenceCondition(frames=reference, strength=1.0)],
            prompt="a man talking in a car",
            height=DEMO_BUCKET.height, width=DEMO_BUCKET.width, num_frames=17, frame_rate=DEMO_BUCKET.fps,
            num_inference_steps=8, guidance_scale=1.0, audio_guidance_scale=1.0, max_sequence_length=64,
            generator=torch.Generator().manual_seed(0), output_type="np", return_dict=False,
        )
        outputs[name] = np.asarray(video[0])
    demo, tiny = spatial_autocorrelation(outputs["demo"]), spatial_autocorrelation(outputs["tiny"])
    assert outputs["demo"].shape == (17, 160, 256, 3)
    assert demo > 0.9, demo  # neighbouring pixels agree, as in camera footage
    assert tiny < demo - 0.3, (tiny, demo)  # the measure tells static from pictures
    assert outputs["demo"].std() > 0.05  # and it is not one flat colour either


def test_the_demo_vae_reconstructs_a_real_clip_it_was_not_built_from_to_the_recorded_target() -> None:
    pipe = load_pipeline(SHIPPED_DEMO_MODEL, device="cpu", with_text_encoder=False, with_transformer=False)
    video = video_from_frames(held_out_clip("carphone_pristine.mp4"))
    grey = video.mean().expand_as(video)
    assert psnr(reconstruct(pipe.vae, video), video) >= PSNR_TARGET_DB > psnr(grey, video) + 8


def test_the_demo_vae_is_nearly_linear_so_latents_can_be_mixed_like_pictures() -> None:
    pipe = load_pipeline(SHIPPED_DEMO_MODEL, device="cpu", with_text_encoder=False, with_transformer=False)
    a = video_from_frames(held_out_clip("carphone_pristine.mp4"))
    b = video_from_frames(held_out_clip("carphone_distorted.mp4")).flip(-1)
    with torch.no_grad():
        encode = lambda v: pipe.vae.encode(v).latent_dist.mode()  # noqa: E731
        mixed = encode(0.5 * a + 0.5 * b)
        assert torch.allclose(mixed, 0.5 * encode(a) + 0.5 * encode(b), atol=0.01)


@pytest.mark.training
def test_an_interrupted_transformer_build_continues_to_the_same_weights_as_one_straight_run(tmp_path: Path) -> None:
    from diffusers import LTX2InContextPipeline as Pipeline

    from engine.dataset import CachedPair

    def fresh() -> Any:
        pipe = Pipeline(**demo_components(0))
        return pipe

    gen = torch.Generator().manual_seed(0)
    video_text, audio_text = torch.randn(8, 192, generator=gen), torch.randn(8, 16, generator=gen)
    pairs = [CachedPair(torch.randn(128, 3, 5, 8, generator=gen), torch.zeros(128, 0, 5, 8), video_text, audio_text,
                        torch.ones(8, dtype=torch.int64), caption="c", bucket=DEMO_BUCKET) for _ in range(3)]
    settings = BuildSettings(transformer_steps=3, transformer_batch=2, checkpoint_every=1)
    straight, split, resumed = fresh(), fresh(), fresh()
    train_transformer(straight, pairs, settings, tmp_path / "straight.pt", print)
    train_transformer(split, pairs, settings, tmp_path / "split.pt", print, until=2)
    assert torch.load(tmp_path / "split.pt", weights_only=True)["step"] == 2
    train_transformer(resumed, pairs, settings, tmp_path / "split.pt", print)  # a new process: the checkpoint alone
    changed = 0
    for (name, a), b, c in zip(straight.transformer.state_dict().items(), resumed.transformer.state_dict().values(),
                               split.transformer.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
        changed += not torch.equal(a, c)
    assert changed > 0  # the third step changed the weights: the comparison is not between untouched models


def _edge_pairs(restoration_manifest: Path, root: Path) -> Path:
    """The same targets with Canny edge references, made by the Canny recipe's own extraction."""
    from engine.dataset import Pair, read_manifest, write_manifest
    from prep.extract.canny import CannySettings, extract_canny

    rows = []
    for pair in read_manifest(restoration_manifest):
        edges = root / f"{pair.video.stem}_canny.mp4"
        extract_canny(pair.video, edges, CannySettings())
        rows.append(Pair(pair.index, pair.caption, pair.video, edges))
    return write_manifest(rows, root / "manifest.jsonl")


# Measured by bench/demo_model.py (docs/benchmarks.md), restoration, 400 steps: the loss form of the gain
# (held-out flow-matching loss with a swapped reference / with the true one, the transformer called as
# LTX2InContextPipeline calls it) 8.69 with the adapter, 1.48 without; the pixel form (the Studio's outputs against
# the targets) 2.27 with, 1.29 without, where the VAE's own reconstruction of these targets caps it at about 2.7.
# Edge maps are not guarded: 1.04 (see docs/benchmarks.md for why the thumbnail VAE leaves nothing to learn there).
LOSS_GAIN_TARGETS = {"restoration": 4.0}
PIXEL_GAIN_TARGETS = {"restoration": 2.0}
GAIN_BUCKET = Bucket(256, 160, 17, 24.0)  # the demo model's quick preset


@pytest.mark.training
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("recipe", sorted(LOSS_GAIN_TARGETS))
def test_an_adapter_trained_on_the_demo_model_follows_its_reference_in_the_pipeline(
    recipe: str, tmp_path: Path
) -> None:
    """Conditioning gain in LTX2InContextPipeline, as the Studio generates: 21 synthetic pairs (ffmpeg scenes the
    demo model never saw), 400 steps, judged on 3 held-out pairs, in both forms: the loss (what the issue's target
    is set in) and the Studio's outputs against the targets."""
    from engine.config import TrainConfig
    from engine.dataset import load_cache, read_manifest
    from engine.gain import HeldOutPair, conditioning_gain
    from engine.synthetic import make_pairs
    from engine.train import evaluate, train

    manifest = make_pairs(tmp_path / "pairs", 24, width=256, height=160, seconds=1.0)
    if recipe == "edges":
        manifest = _edge_pairs(manifest, tmp_path / "edges")
    held_out = [21, 22, 23]
    cfg = TrainConfig.model_validate({
        "model": str(SHIPPED_DEMO_MODEL), "output_dir": str(tmp_path / "run"), "device": "cpu",
        "bucket": {"width": 256, "height": 160, "frames": 17, "fps": 24},
        "data": {"manifest": str(manifest), "max_sequence_length": 128, "validation_indices": held_out},
        "lora": {"rank": 32}, "optim": {"steps": 400, "learning_rate": 2e-3}, "diffusion": {"audio": "silence"},
        "checkpoint": {"every": 100_000}, "validation": {"every": 0},
    })
    result = train(cfg)
    assert result.status == "finished" and result.adapter_path is not None
    base = load_pipeline(SHIPPED_DEMO_MODEL, device="cpu")
    pipe = load_pipeline(SHIPPED_DEMO_MODEL, device="cpu")
    pipe.load_lora_weights(str(result.adapter_path))  # the exported file, as a creator would load it

    # The form: "silence" is the regime the pipeline generates in (the step-equivalence test shows the
    # transformer call is the pipeline's), so these are the pipeline's losses on the held-out pairs.
    cached = load_cache(cfg.cache_dir, held_out)
    loss_gain = {
        name: evaluate(p, cached, 1, swap_references=True, audio="silence") / evaluate(p, cached, 1, audio="silence")
        for name, p in (("adapter", pipe), ("base", base))
    }
    assert loss_gain["adapter"] >= LOSS_GAIN_TARGETS[recipe] > loss_gain["base"] + 1.0, loss_gain

    b = GAIN_BUCKET
    rows = read_manifest(manifest)
    pairs = [HeldOutPair(conform(rows[i].reference, b.fps, b.width, b.height, 17),
                         conform(rows[i].video, b.fps, b.width, b.height, 17), rows[i].caption) for i in held_out]
    untrained = conditioning_gain(base, pairs, GAIN_BUCKET)
    trained = conditioning_gain(pipe, pairs, GAIN_BUCKET)
    assert trained.gain >= PIXEL_GAIN_TARGETS[recipe] > untrained.gain + 0.5, (trained, untrained)
    assert trained.true_psnr > untrained.true_psnr + 2.5  # the outputs get closer to the targets (measured +3.2 dB)
