from datasets.recipes.base import Recipe

RECIPE = Recipe(
    slug="canny",
    name="Canny edges control",
    summary="Re-render footage in a new style while keeping its outlines and composition.",
    what_it_does=(
        "When you generate, you give the adapter an edge-map video (white outlines on black). "
        "The new video follows those outlines, so composition and motion stay, and the style comes from your prompt."
    ),
    reference="an edge-map (Canny) video of the target clip",
    what_to_upload=(
        "Just your clips (the targets): the server makes an edge-map video of each one, with thresholds you "
        "can tune while watching a preview. Your own edge videos (clip_ref.mp4, or targets/ and references/ "
        "folders) are used instead when you upload them."
    ),
    good_pairs=(
        "Blur slightly before edge detection so the edges keep outlines, not texture noise.",
        "Keep the same thresholds for every clip so lines have a consistent thickness.",
        "Same resolution, length and frame rate as the target.",
    ),
    caption_example="architectural walk-through, white marble lobby, soft morning light, steady glide",
    derive_methods=("canny",),
    derived_noun="edge maps",
    clips_recommended="15 pairs to start; 40–150 varied pairs give strong control.",
    base_notes=(("ltx-2.5", "On LTX-2.5 this recipe trains with the same settings as on LTX-2.3, and the edge maps "
                            "made here serve both: Lightricks' own LTX-2.5 training configs change nothing for "
                            "IC-LoRA."),),
)
