"""`LTX2InContextPipeline` with what Lightricks' IC-LoRA conditioning (ltx-core) has and diffusers' pipeline lacks: a
reference at a lower frame rate, the reference temporal scale factor S (ltx-trainer's
`--reference-temporal-scale-factor`).

The reference keeps every S-th frame over the same time, and its tokens' time positions are spread by S and moved so
its last patch ends with the target's (`inference.spread_reference_time`, the same function the training step
uses). Everything else is diffusers' own pipeline; with S = 1 it is that pipeline exactly.

And a reference voice (issue 19, identity with a voice; ltx-core's `AudioConditionByReferenceLatent`): diffusers'
pipeline has no reference audio. `reference_audio_latents` (raw audio VAE latents of the voice) are packed and
normalised as the pipeline treats audio latents (`audio.pack_audio`), and every transformer call of the denoising
loop gets them appended after the audio stream's tokens, clean: per-token audio timestep 0 and time positions from
`audio.reference_audio_coords`; their predictions are dropped before the scheduler steps, so the loop only ever sees
the clip's own audio. Nothing of the model is re-implemented: two hooks on the transformer call, the same
appending the training step does (`train.build_step_inputs`, a test compares both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers import LTX2InContextPipeline
from diffusers.models.transformers.transformer_ltx2 import AudioVisualModelOutput

from .audio import ReferenceAudioPlacement, pack_audio, reference_audio_coords
from .inference import spread_reference_time


@dataclass
class ReferenceAudio:
    """A reference voice joining every transformer call's audio stream: tokens (1, Ra, Ca) normalised, positions
    (1, 1, Ra, 2). `clip_tokens` is the audio stream's own length in the call under way."""

    tokens: torch.Tensor
    coords: torch.Tensor
    clip_tokens: int = 0

    def before(
        self, _module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Forward pre-hook: append the voice's clean tokens to the audio stream (B, A, Ca) -> (B, A + Ra, Ca)."""
        audio = kwargs["audio_hidden_states"]
        b, self.clip_tokens = audio.shape[0], audio.shape[1]
        ra = self.tokens.shape[1]
        timestep = kwargs["audio_timestep"]
        if timestep.ndim == 1:  # the pipeline's one audio timestep per sample -> one per token
            timestep = timestep.unsqueeze(-1).expand(b, self.clip_tokens)
        coords = kwargs.get("audio_coords")
        if coords is None:  # diffusers' loop always passes them; a caller that does not gets a clear failure
            raise ValueError("the transformer call has no audio positions to append the reference voice's to")
        kwargs = {
            **kwargs,
            "audio_hidden_states": torch.cat([audio, self.tokens.to(audio.device, audio.dtype).expand(b, -1, -1)],
                                             dim=1),
            "audio_timestep": torch.cat([timestep, timestep.new_zeros(b, ra)], dim=1),
            "audio_coords": torch.cat([coords, self.coords.to(coords.device, coords.dtype).expand(b, -1, -1, -1)],
                                      dim=2),
            "audio_num_frames": self.clip_tokens + ra,
        }
        return args, kwargs

    def after(self, _module: Any, _args: tuple[Any, ...], _kwargs: dict[str, Any], output: Any) -> Any:
        """Forward hook: drop the voice's predictions, so the scheduler steps the clip's audio only."""
        if isinstance(output, AudioVisualModelOutput):
            output.audio_sample = output.audio_sample[:, : self.clip_tokens]
            return output
        video, audio = output
        return video, audio[:, : self.clip_tokens]


class ICLoRAPipeline(LTX2InContextPipeline):
    # Set for the length of one call (`__call__`): diffusers encodes the references inside it.
    reference_temporal_scale_factor = 1

    def __call__(
        self,
        *args: Any,
        reference_temporal_scale_factor: int = 1,
        reference_audio_latents: torch.Tensor | None = None,
        reference_audio_placement: ReferenceAudioPlacement = "before",
        **kwargs: Any,
    ) -> Any:
        """diffusers' call, plus the reference temporal scale factor S and an optional reference voice:
        `reference_audio_latents` (Ca, Lr, Ma) raw audio VAE latents (`audio.encode_voice`), placed in time by
        `reference_audio_placement` (see `audio.reference_audio_coords`)."""
        self.reference_temporal_scale_factor = reference_temporal_scale_factor
        handles = []
        if reference_audio_latents is not None:
            device = self._execution_device
            tokens = pack_audio(self, reference_audio_latents[None].float().to(device))
            coords = reference_audio_coords(self.transformer, 1, tokens.shape[1], reference_audio_placement, device)
            voice = ReferenceAudio(tokens, coords)
            handles = [
                self.transformer.register_forward_pre_hook(voice.before, with_kwargs=True),
                self.transformer.register_forward_hook(voice.after, with_kwargs=True),
            ]
        try:
            return super().__call__(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
            self.reference_temporal_scale_factor = 1

    def _encode_reference_conditions(self, *args: Any, **kwargs: Any) -> Any:
        latents, coords, cross_mask, token_counts = super()._encode_reference_conditions(*args, **kwargs)
        scale = self.reference_temporal_scale_factor
        if scale != 1:
            coords = spread_reference_time(coords, scale, kwargs["frame_rate"])
        return latents, coords, cross_mask, token_counts
