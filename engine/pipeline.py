"""`LTX2InContextPipeline` with what Lightricks' IC-LoRA conditioning (ltx-core) has and diffusers' pipeline lacks: a
reference at a lower frame rate, the reference temporal scale factor S (ltx-trainer's
`--reference-temporal-scale-factor`).

The reference keeps every S-th frame over the same time, and its tokens' time positions are spread by S and moved so
its last patch ends with the target's (`inference.spread_reference_time`, the same function the training step
uses). Everything else is diffusers' own pipeline; with S = 1 it is that pipeline exactly.
"""

from __future__ import annotations

from typing import Any

from diffusers import LTX2InContextPipeline

from .inference import spread_reference_time


class ICLoRAPipeline(LTX2InContextPipeline):
    # Set for the length of one call (`__call__`): diffusers encodes the references inside it.
    reference_temporal_scale_factor = 1

    def __call__(self, *args: Any, reference_temporal_scale_factor: int = 1, **kwargs: Any) -> Any:
        self.reference_temporal_scale_factor = reference_temporal_scale_factor
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self.reference_temporal_scale_factor = 1

    def _encode_reference_conditions(self, *args: Any, **kwargs: Any) -> Any:
        latents, coords, cross_mask, token_counts = super()._encode_reference_conditions(*args, **kwargs)
        scale = self.reference_temporal_scale_factor
        if scale != 1:
            coords = spread_reference_time(coords, scale, kwargs["frame_rate"])
        return latents, coords, cross_mask, token_counts
