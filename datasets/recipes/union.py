from datasets.recipes.base import Recipe

RECIPE = Recipe(
    slug="union",
    name="Union control",
    summary="One adapter that follows depth, edges or pose, whichever you give it.",
    what_it_does=(
        "When you generate, you can give the adapter a depth, edge or pose video. It is the most flexible "
        "control adapter, and needs the most GPU memory when you use it."
    ),
    reference="a depth, edge or pose video of the target clip (mix the kinds across pairs)",
    what_to_upload=(
        "Just your clips (the targets): the server makes a depth, edge or pose video for each, taking turns "
        "so the kinds are mixed across the dataset (you can change the kind per clip). Your own control "
        "videos (clip_ref.mp4, or targets/ and references/ folders) are used instead when you upload them."
    ),
    good_pairs=(
        "A balanced mix of the three kinds of control.",
        "Each control video smooth over time and the same length, size and frame rate as its target.",
    ),
    caption_example="rainy neon street at night, reflections on wet asphalt, slow pan left",
    derive_methods=("depth", "canny", "pose"),
    derived_noun="depth, edge and pose videos",
    clips_recommended="40 pairs at least; 80–150 varied pairs across the three kinds work best.",
    base_notes=(("ltx-2.5", "On LTX-2.5 this recipe trains with the same settings as on LTX-2.3, and the depth, "
                            "edge and pose videos made here serve both: Lightricks' own LTX-2.5 training configs "
                            "change nothing for IC-LoRA."),),
)
