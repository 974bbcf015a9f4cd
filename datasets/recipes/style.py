from datasets.recipes.base import Recipe

RECIPE = Recipe(
    slug="style",
    name="Style / re-render",
    summary="Change a video in one consistent way: day to night, add water, remove a beard…",
    what_it_does=(
        "When you generate, you give the adapter an ordinary video and it returns the same video with your "
        "change applied: a new style, a new time of day, an added or removed element."
    ),
    reference="the source clip as it is, with no processing",
    what_to_upload="Source clips (the references) and, for each, the same clip with the change applied (the target).",
    good_pairs=(
        "Only the change you want differs between reference and target; everything else lines up frame by frame.",
        "The same change in every pair, on varied scenes.",
    ),
    caption_example="a quiet street at night, warm street lamps, parked cars, slow push in",
    trigger_phrase="RESTYLE",
    base_notes=(("ltx-2.5", "On LTX-2.5 this recipe trains with the same settings as on LTX-2.3: Lightricks' own "
                            "LTX-2.5 training configs change nothing for IC-LoRA."),),
)
