from datasets.recipes.base import Recipe

RECIPE = Recipe(
    slug="custom",
    name="Custom pairs",
    summary="Any other consistent “this reference → that result” relation.",
    what_it_does=(
        "When you generate, you give the adapter a reference video of your kind, and it produces the matching "
        "result, the way your examples showed it."
    ),
    reference="any video that relates to the target the same way in every pair",
    what_to_upload="Pairs of clips: the result you want (target) and what it is made from (reference).",
    good_pairs=(
        "The same relation in every pair.",
        "Reference and target frame-aligned: same length, frame rate and aspect ratio.",
    ),
    caption_example="a red vintage car driving along a coastal road, late afternoon sun",
    base_notes=(("ltx-2.5", "On LTX-2.5 your pairs train with the same settings as on LTX-2.3: Lightricks' own "
                            "LTX-2.5 training configs change nothing for IC-LoRA."),),
)
