"""Our LTX-2.3 transformer, video VAE and text connectors (diffusers' classes, our shipped configs, our key renames)
compute exactly what Lightricks' own models compute.

No machine here has the real checkpoint, so this checks what loading it depends on and no tensor shape reveals:
`single_file`'s renames from Lightricks' names to diffusers', and the values of `ltx23_configs/` (the transformer's
RoPE layout and precision, timestep multipliers, gated attention, prompt and cross-attention modulation; the VAE's
stages, padding and latent statistics; the connectors' registers, RoPE and per-modality projections). Lightricks'
`ltx-core` builds its models from the config a checkpoint carries in its metadata; CHECKPOINT, CHECKPOINT_VAE and
the connector keys below hold the LTX-2.3 checkpoint's values as independent loaders of that file quote them, and
the keys `ltx-core` insists on. Both sides get the same random weights at small widths and the same inputs.

`ltx-core` is not a dependency of the app: `make test` installs it without its dependencies into bench/.ltx-core.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from diffusers import AutoencoderKLLTX2Video, LTX2InContextPipeline, LTX2VideoTransformer3DModel
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

from engine.config import LORA_TARGETS
from engine.dataset import Bucket, CachedPair
from engine.export import comfy_state_dict
from engine.lora import add_lora
from engine.single_file import CONFIG_FILES, LTX23_CONFIGS, to_diffusers
from engine.train import StepInputs, build_step_inputs

LTX_CORE = Path(__file__).resolve().parents[2] / "bench" / ".ltx-core"
CHECKPOINT = {
    "attention_head_dim": 128, "num_attention_heads": 32, "num_layers": 48, "in_channels": 128, "out_channels": 128,
    "cross_attention_dim": 4096, "caption_channels": 3840, "norm_eps": 1e-06,
    "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "audio_out_channels": 128,
    "audio_cross_attention_dim": 2048, "audio_positional_embedding_max_pos": [20],
    "use_middle_indices_grid": True, "apply_gated_attention": True, "cross_attention_adaln": True,
    "caption_proj_before_connector": True, "rope_type": "split", "frequencies_precision": "float64",
    "positional_embedding_theta": 10000.0, "positional_embedding_max_pos": [20, 2048, 2048],
    "timestep_scale_multiplier": 1000, "av_ca_timestep_scale_multiplier": 1000,
    # ltx-core refuses a config without these (they are the same in every LTX-2 checkpoint).
    "dropout": 0.0, "attention_bias": True, "num_vector_embeds": None, "activation_fn": "gelu-approximate",
    "num_embeds_ada_norm": 1000, "use_linear_projection": False, "only_cross_attention": False,
    "cross_attention_norm": True, "double_self_attention": False, "upcast_attention": False,
    "standardization_norm": "rms_norm", "norm_elementwise_affine": False, "qk_norm": "rms_norm",
    "positional_embedding_type": "rope", "use_audio_video_cross_attention": True, "share_ff": False,
    "av_cross_ada_norm": True,
}
# Small widths, two layers: everything else is the real model's.
SMALL = {"num_attention_heads": 4, "attention_head_dim": 16, "cross_attention_dim": 64, "audio_num_attention_heads": 2,
         "audio_attention_head_dim": 8, "audio_cross_attention_dim": 16, "in_channels": 16, "out_channels": 16,
         "audio_in_channels": 8, "audio_out_channels": 8, "num_layers": 2}
TEXT_TOKENS = 32
CHECKPOINT_VAE = {
    "dims": 3, "in_channels": 3, "out_channels": 3, "latent_channels": 128, "patch_size": 4,
    "encoder_blocks": [["res_x", {"num_layers": 4}], ["compress_space_res", {"multiplier": 2}],
                       ["res_x", {"num_layers": 6}], ["compress_time_res", {"multiplier": 2}],
                       ["res_x", {"num_layers": 4}], ["compress_all_res", {"multiplier": 2}],
                       ["res_x", {"num_layers": 2}], ["compress_all_res", {"multiplier": 1}],
                       ["res_x", {"num_layers": 2}]],
    "decoder_blocks": [["res_x", {"num_layers": 4}], ["compress_space", {"multiplier": 2}],
                       ["res_x", {"num_layers": 6}], ["compress_time", {"multiplier": 2}],
                       ["res_x", {"num_layers": 4}], ["compress_all", {"multiplier": 1}],
                       ["res_x", {"num_layers": 2}], ["compress_all", {"multiplier": 2}],
                       ["res_x", {"num_layers": 2}]],
    "decoder_base_channels": 128, "latent_log_var": "uniform", "norm_layer": "pixel_norm",
    "spatial_padding_mode": "zeros", "timestep_conditioning": False, "causal_decoder": False,
}
GEMMA_WIDTH, GEMMA_LAYERS = 32, 49  # Gemma-3 12B: 3840 wide, 48 layers + the embeddings
VAE_WIDTH = 16  # latent (and first stage) channels instead of 128: every stage's width scales with it

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def ltx_core() -> Any:
    if str(LTX_CORE) not in sys.path:
        sys.path.insert(0, str(LTX_CORE))
    return pytest.importorskip("ltx_core", reason="ltx-core is installed by `make test` into bench/.ltx-core")


def shipped_config(component: str) -> dict[str, Any]:
    """Our LTX-2.3 config of `component` as the loader reads it, without diffusers' bookkeeping keys."""
    shipped = json.loads((LTX23_CONFIGS / CONFIG_FILES[component]).read_text())
    return {k: v for k, v in shipped.items() if not k.startswith("_")}


def lightricks_model(ltx_core: Any) -> torch.nn.Module:
    """ltx-core's model as it is built for the checkpoint, every weight random (none left at an identity init)."""
    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

    torch.manual_seed(0)
    model = LTXModelConfigurator.from_config({"transformer": CHECKPOINT | SMALL}).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.05)
    return model


def our_model(lightricks: torch.nn.Module, **config_changes: Any) -> Any:
    """Our shipped LTX-2.3 config at the same widths, loaded with Lightricks' weights through our renames (an
    `LTX2VideoTransformer3DModel`, typed Any: diffusers' lazy imports hide that it is a torch module)."""
    config = shipped_config("transformer") | SMALL | config_changes
    model: Any = LTX2VideoTransformer3DModel(**config)
    model.eval()
    weights = {to_diffusers("transformer", "model.diffusion_model." + k): v for k, v in lightricks.state_dict().items()}
    model.load_state_dict(weights, strict=True)
    return model


FRAMES, HEIGHT, WIDTH = 17, 128, 256
LATENT_SHAPE = ((FRAMES - 1) // 8 + 1, HEIGHT // 32, WIDTH // 32)  # (f, h, w)


def random_pair(downscale: int) -> CachedPair:
    """A cached 256×128×17 pair of random latents and text, the reference `downscale`× smaller on each side."""
    f, h, w = LATENT_SHAPE
    channels = SMALL["in_channels"]
    generator = torch.Generator().manual_seed(downscale)
    return CachedPair(
        target_latents=torch.randn(channels, f, h, w, generator=generator),
        reference_latents=torch.randn(channels, f, h // downscale, w // downscale, generator=generator),
        video_prompt_embeds=torch.randn(TEXT_TOKENS, SMALL["cross_attention_dim"], generator=generator),
        audio_prompt_embeds=torch.randn(TEXT_TOKENS, SMALL["audio_cross_attention_dim"], generator=generator),
        prompt_attention_mask=(torch.arange(TEXT_TOKENS) < 20).long(),  # padded prompt
        caption="", bucket=Bucket(WIDTH, HEIGHT, FRAMES, 24.0),
    )


def step_inputs(model: Any, downscale: int, first_frame: bool, pair: CachedPair | None = None) -> StepInputs:
    """The training step's transformer inputs for `pair` (a random one by default) at sigma 0.7."""
    channels = SMALL["in_channels"]
    pipe = SimpleNamespace(  # latent statistics 0 and 1: the cached latents go in as they are
        transformer=model,
        vae=SimpleNamespace(latents_mean=torch.zeros(channels), latents_std=torch.ones(channels),
                            config=SimpleNamespace(scaling_factor=1.0)),
        _pack_latents=LTX2InContextPipeline._pack_latents, _normalize_latents=LTX2InContextPipeline._normalize_latents,
        transformer_spatial_patch_size=1, transformer_temporal_patch_size=1,
    )
    noise = torch.randn(1, math.prod(LATENT_SHAPE), channels, generator=torch.Generator().manual_seed(9))
    pair = pair or random_pair(downscale)
    return build_step_inputs(pipe, [pair], torch.tensor([0.7]), noise, torch.tensor([first_frame]), 24.0, downscale)


def lightricks_video(kw: dict[str, Any]) -> Any:
    """The same video tokens as ltx-core's input (its sigmas and timesteps are ours / 1000)."""
    from ltx_core.model.transformer import Modality

    return Modality(latent=kw["hidden_states"], sigma=kw["sigma"] / 1000, timesteps=kw["timestep"] / 1000,
                    positions=kw["video_coords"], context=kw["encoder_hidden_states"],
                    context_mask=kw["encoder_attention_mask"])


def no_perturbations() -> Any:
    from ltx_core.guidance.perturbations import BatchedPerturbationConfig

    return BatchedPerturbationConfig.empty(1)


@pytest.mark.parametrize(("downscale", "first_frame"), [(1, False), (2, True)])
def test_the_training_steps_prediction_equals_lightricks_model(ltx_core: Any, downscale: int, first_frame: bool):
    lightricks = lightricks_model(ltx_core)
    ours = our_model(lightricks)
    kw = step_inputs(ours, downscale, first_frame).model_kwargs
    with torch.no_grad():
        prediction = ours(**kw)[0]
        expected, _ = lightricks(lightricks_video(kw), None, no_perturbations())  # video only, as we train
    # The same operations in the same order on the same inputs: equal to the last bit, not merely close.
    torch.testing.assert_close(prediction, expected, rtol=0, atol=0)


def test_the_audio_and_video_prediction_equals_lightricks_model(ltx_core: Any):
    """The Studio's path: audio tokens beside the video, which then attend to each other."""
    from ltx_core.model.transformer import Modality

    lightricks = lightricks_model(ltx_core)
    ours = our_model(lightricks)
    kw = dict(step_inputs(ours, 1, False).model_kwargs)
    tokens = 6
    generator = torch.Generator().manual_seed(3)
    kw |= {
        "audio_hidden_states": torch.randn(1, tokens, SMALL["audio_in_channels"], generator=generator),
        "audio_encoder_hidden_states": torch.randn(1, TEXT_TOKENS, SMALL["audio_cross_attention_dim"],
                                                   generator=generator),
        "audio_coords": ours.audio_rope.prepare_audio_coords(1, tokens, torch.device("cpu")),
        "audio_num_frames": tokens, "audio_timestep": torch.full((1, tokens), 700.0),
        "audio_sigma": torch.tensor([700.0]), "isolate_modalities": False,
    }
    audio = Modality(latent=kw["audio_hidden_states"], sigma=kw["audio_sigma"] / 1000,
                     timesteps=kw["audio_timestep"] / 1000, positions=kw["audio_coords"],
                     context=kw["audio_encoder_hidden_states"], context_mask=kw["audio_encoder_attention_mask"])
    with torch.no_grad():
        video, sound = ours(**kw)[:2]
        expected_video, expected_sound = lightricks(lightricks_video(kw), audio, no_perturbations())
        video_alone = ours(**(kw | {"isolate_modalities": True}))[0]
    assert (video - video_alone).abs().max() > 1e-3  # the audio really reached the video: the path was exercised
    torch.testing.assert_close(video, expected_video, rtol=0, atol=0)
    torch.testing.assert_close(sound, expected_sound, rtol=0, atol=0)


@pytest.mark.parametrize("change", [{"rope_type": "interleaved"}, {"rope_double_precision": False},
                                    {"rope_theta": 20000.0}])
def test_a_wrong_value_in_our_config_would_show(ltx_core: Any, change: dict[str, Any]):
    lightricks = lightricks_model(ltx_core)
    ours = our_model(lightricks, **change)
    kw = step_inputs(ours, 1, False).model_kwargs
    with torch.no_grad():
        prediction = ours(**kw)[0]
        expected, _ = lightricks(lightricks_video(kw), None, no_perturbations())
    assert not torch.equal(prediction, expected)


def vae_pair(ltx_core: Any, **config_changes: Any) -> tuple[Any, Any, Any]:
    """ltx-core's encoder and decoder built for the checkpoint, and our VAE loaded with their weights."""
    from ltx_core.model.video_vae.model_configurator import VideoDecoderConfigurator, VideoEncoderConfigurator

    small = CHECKPOINT_VAE | {"latent_channels": VAE_WIDTH, "decoder_base_channels": VAE_WIDTH}
    torch.manual_seed(0)
    encoder = VideoEncoderConfigurator.from_config({"vae": small}).eval()
    decoder = VideoDecoderConfigurator.from_config({"vae": small}).eval()
    mean, std = torch.randn(VAE_WIDTH) * 0.3, torch.rand(VAE_WIDTH) + 0.5  # the file's latent statistics
    weights = {}
    with torch.no_grad():
        for prefix, part in (("vae.encoder.", encoder), ("vae.decoder.", decoder)):
            for parameter in part.parameters():
                parameter.copy_(torch.randn_like(parameter) / parameter[0].numel() ** 0.5)
            getattr(part.per_channel_statistics, "mean-of-means").copy_(mean)
            getattr(part.per_channel_statistics, "std-of-means").copy_(std)
            for key, value in part.state_dict().items():
                in_file = "vae." + key if key.startswith("per_channel_statistics.") else prefix + key
                if (name := to_diffusers("vae", in_file)) is not None:  # None: statistics diffusers has no place for
                    weights[name] = value
    config = shipped_config("vae") | config_changes
    config["latent_channels"] = VAE_WIDTH
    for key in ("block_out_channels", "decoder_block_out_channels"):
        config[key] = [width * VAE_WIDTH // 128 for width in config[key]]
    ours: Any = AutoencoderKLLTX2Video(**config)
    ours.eval()
    ours.load_state_dict(weights, strict=True)
    return encoder, decoder, ours


def test_the_vae_encodes_and_decodes_as_lightricks_model_does(ltx_core: Any):
    """Training's latents (encode, then the pipeline's normalisation) and the Studio's frames (decode)."""
    encoder, decoder, ours = vae_pair(ltx_core)
    video = torch.rand(1, 3, 9, 64, 96, generator=torch.Generator().manual_seed(1)) * 2 - 1
    mean = ours.latents_mean.view(1, -1, 1, 1, 1)
    std = ours.latents_std.view(1, -1, 1, 1, 1)
    with torch.no_grad():
        latents = (ours.encode(video).latent_dist.mode() - mean) / std
        expected = encoder(video)
        frames = ours.decode(expected * std + mean).sample
        expected_frames = decoder(expected)
    assert latents.shape == (1, VAE_WIDTH, 2, 2, 3)  # 8x fewer frames (plus the first), 32x smaller sides
    torch.testing.assert_close(latents, expected, rtol=0, atol=0)
    torch.testing.assert_close(frames, expected_frames, rtol=0, atol=0)


@pytest.mark.parametrize("half", ["encoder", "decoder"])
def test_a_wrong_padding_in_our_vae_config_would_show(ltx_core: Any, half: str):
    encoder, decoder, ours = vae_pair(ltx_core, **{f"{half}_spatial_padding_mode": "reflect"})
    video = torch.rand(1, 3, 9, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    mean, std = ours.latents_mean.view(1, -1, 1, 1, 1), ours.latents_std.view(1, -1, 1, 1, 1)
    with torch.no_grad():
        expected = encoder(video)
        if half == "encoder":
            assert not torch.equal((ours.encode(video).latent_dist.mode() - mean) / std, expected)
        else:
            assert not torch.equal(ours.decode(expected * std + mean).sample, decoder(expected))


def connector_pair(ltx_core: Any) -> tuple[Any, Any]:
    """ltx-core's text path after Gemma (per-token norm, two projections, two connectors) built for the checkpoint,
    and our `LTX2TextConnectors` loaded with its weights. Connector widths and layer counts are small."""
    from ltx_core.text_encoders.gemma.embeddings_connector import (
        AudioEmbeddings1DConnectorConfigurator,
        Embeddings1DConnectorConfigurator,
    )
    from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessor
    from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV2

    heads = {"video_connector_num_attention_heads": 4, "video_connector_attention_head_dim": 16,
             "audio_connector_num_attention_heads": 2, "audio_connector_attention_head_dim": 8,
             "video_connector_num_layers": 2, "audio_connector_num_layers": 2}
    checkpoint = {"transformer": {  # the checkpoint's connector keys, at the widths above
        "connector_num_attention_heads": 4, "connector_attention_head_dim": 16, "connector_num_layers": 2,
        "audio_connector_num_attention_heads": 2, "audio_connector_attention_head_dim": 8,
        "connector_positional_embedding_max_pos": [4096], "connector_apply_gated_attention": True,
        "rope_type": "split", "frequencies_precision": "float64"}}
    flat = GEMMA_WIDTH * GEMMA_LAYERS
    torch.manual_seed(0)
    theirs = EmbeddingsProcessor(
        feature_extractor=FeatureExtractorV2(video_aggregate_embed=torch.nn.Linear(flat, 64), embedding_dim=GEMMA_WIDTH,
                                             audio_aggregate_embed=torch.nn.Linear(flat, 16)),
        video_connector=Embeddings1DConnectorConfigurator.from_config(checkpoint),
        audio_connector=AudioEmbeddings1DConnectorConfigurator.from_config(checkpoint),
    ).eval()
    in_file = {"feature_extractor.": "text_embedding_projection.",
               "video_connector.": "model.diffusion_model.video_embeddings_connector.",
               "audio_connector.": "model.diffusion_model.audio_embeddings_connector."}
    weights = {}
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.1)
        for key, value in theirs.state_dict().items():
            prefix = next(p for p in in_file if key.startswith(p))
            weights[to_diffusers("connectors", in_file[prefix] + key.removeprefix(prefix))] = value
    config = shipped_config("connectors") | heads
    config |= {"caption_channels": GEMMA_WIDTH, "video_hidden_dim": 64, "audio_hidden_dim": 16}
    ours: Any = LTX2TextConnectors(**config)
    ours.eval()
    ours.load_state_dict(weights, strict=True)
    return theirs, ours


def test_the_text_connectors_turn_gemmas_hidden_states_into_the_same_embeddings(ltx_core: Any):
    theirs, ours = connector_pair(ltx_core)
    tokens = 128  # the connectors' learnable registers fill the padding, 128 at a time
    hidden = torch.randn(1, tokens, GEMMA_WIDTH, GEMMA_LAYERS, generator=torch.Generator().manual_seed(2))
    mask = (torch.arange(tokens) >= 28).long()[None]  # a 100-token prompt, padded on the left as Gemma pads
    with torch.no_grad():
        video, audio, attention = ours(hidden, mask, padding_side="left")
        expected_video, expected_audio, expected_attention = theirs.process_hidden_states(hidden, mask, "left")
    torch.testing.assert_close(video, expected_video, rtol=0, atol=0)
    torch.testing.assert_close(audio, expected_audio, rtol=0, atol=0)
    assert torch.equal(attention.long(), expected_attention.long())


@pytest.mark.parametrize("downscale", [1, 2])
def test_training_lays_out_tokens_as_lightricks_ic_lora_inference_does(ltx_core: Any, downscale: int):
    """Adapters trained here meet at inference (ComfyUI, ltx-core) the layout they learnt: reference tokens after
    the target's, clean (timestep 0), at positions scaled by the downscale factor."""
    from ltx_core.components.patchifiers import VideoLatentPatchifier
    from ltx_core.conditioning.types.reference_video_cond import VideoConditionByReferenceLatent
    from ltx_core.tools import VideoLatentTools
    from ltx_core.types import VideoLatentShape

    ours = our_model(lightricks_model(ltx_core))
    pair = random_pair(downscale)
    inputs = step_inputs(ours, downscale, False, pair)
    f, h, w = LATENT_SHAPE
    tools = VideoLatentTools(patchifier=VideoLatentPatchifier(patch_size=1), fps=24.0,
                             target_shape=VideoLatentShape(batch=1, channels=SMALL["in_channels"], frames=f, height=h,
                                                           width=w))
    reference = VideoConditionByReferenceLatent(pair.reference_latents[None], downscale_factor=downscale)
    state = reference.apply_to(tools.create_initial_state("cpu", torch.float32), tools)
    kw = inputs.model_kwargs
    assert inputs.num_target_tokens == f * h * w
    torch.testing.assert_close(kw["video_coords"], state.positions, rtol=0, atol=0)
    start = inputs.num_target_tokens  # the reference's tokens follow the target's, as they are
    torch.testing.assert_close(kw["hidden_states"][:, start:], state.latent[:, start:], rtol=0, atol=0)
    # ltx-core's per-token timestep is sigma times its denoise mask: 1 on the target, 0 on a clean reference.
    torch.testing.assert_close(kw["timestep"] / 1000, 0.7 * state.denoise_mask.squeeze(-1), rtol=0, atol=1e-7)


def test_an_exported_adapter_changes_lightricks_model_as_it_changed_ours_in_training(ltx_core: Any):
    """The file's keys (ComfyUI form) find their weights through ltx-core's own LoRA loading, with A and B the
    right way round and alpha / rank baked in; the adapted predictions then agree."""
    from ltx_core.loader.fuse_loras import _prepare_deltas  # the public apply_loras fuses into bf16/fp8 weights only
    from ltx_core.loader.primitives import LoraStateDictWithStrength, StateDict
    from ltx_core.loader.sd_ops import LTXV_LORA_COMFY_RENAMING_MAP

    lightricks = lightricks_model(ltx_core)
    ours = our_model(lightricks)
    add_lora(ours, rank=4, alpha=8.0, targets=list(LORA_TARGETS))  # alpha / rank = 2, baked into lora_B on export
    with torch.no_grad():
        for name, parameter in ours.named_parameters():
            if "lora_" in name:  # values bf16 holds exactly, so the bf16 file carries exactly what was trained
                parameter.copy_((torch.randn_like(parameter) * 0.05).bfloat16().float())
    exported = comfy_state_dict(ours, alpha=8.0, rank=4)
    adapter = {LTXV_LORA_COMFY_RENAMING_MAP.apply_to_key(key): value.float() for key, value in exported.items()}
    weights = {key: value.clone() for key, value in lightricks.state_dict().items()}
    assert {key.rsplit(".lora_", 1)[0] + ".weight" for key in adapter} <= set(weights)
    loras = [LoraStateDictWithStrength(StateDict(adapter, torch.device("cpu"), 0, {torch.float32}), 1.0)]
    kw = step_inputs(ours, 1, False).model_kwargs
    with torch.no_grad():
        before, _ = lightricks(lightricks_video(kw), None, no_perturbations())
        fused = {}
        for key, weight in weights.items():
            delta = _prepare_deltas(loras, key, torch.float32, torch.device("cpu")) if key.endswith(".weight") else None
            fused[key] = weight if delta is None else weight + delta
        lightricks.load_state_dict(fused)
        after, _ = lightricks(lightricks_video(kw), None, no_perturbations())
        prediction = ours(**kw)[0]
    assert sum(not torch.equal(fused[k], weights[k]) for k in weights) == len(adapter) // 2  # every pair applied
    assert (after - before).abs().max() > 1e-2  # the adapter matters here
    torch.testing.assert_close(prediction, after, rtol=0, atol=1e-5)  # W x + B(A x) against (W + BA) x
