from datasets.recipes.base import Recipe

RECIPE = Recipe(
    slug="restoration",
    name="Restoration",
    summary="Turn blurred, noisy, compressed or low-resolution video into a clean one.",
    what_it_does="When you generate, you give the adapter a damaged clip and it produces a clean version of it.",
    reference="the degraded version of the clip (blurred, noisy, compressed or low-res)",
    what_to_upload=(
        "Clean clips (the targets) and a degraded copy of each (the references). Pairs are easy to make: "
        "degrade clean footage yourself, the way your real footage is damaged."
    ),
    good_pairs=(
        "The degradation looks like the footage you want to fix later.",
        "Reference and target frame-aligned: same length, frame rate and framing.",
        "Varied content, so the adapter learns the repair and not the scenes.",
    ),
    caption_example="a man talking in a car, daylight through the side window, natural colours",
    trigger_phrase="ENHANCE QUALITY",
    base_notes=(("ltx-2.5", "On LTX-2.5 this recipe trains with the same settings as on LTX-2.3: Lightricks' own "
                            "LTX-2.5 training configs change nothing for IC-LoRA."),),
)
