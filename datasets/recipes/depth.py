from datasets.recipes.base import Recipe

RECIPE = Recipe(
    slug="depth",
    name="Depth control",
    summary="Keep the layout and camera move of a shot, change everything about its look.",
    what_it_does=(
        "When you generate, you give the adapter a depth video (near things bright, far things dark). "
        "The new video keeps that shot's geometry and camera motion, while your prompt decides the look."
    ),
    reference="a depth-map video of the target clip",
    what_to_upload=(
        "Just your clips (the targets): the server makes a smooth depth-map video of each one for you. "
        "Already have depth videos? Upload them too, named clip_depth.mp4 (or clip_ref.mp4), or in targets/ and "
        "references/ folders, and they are used instead."
    ),
    good_pairs=(
        "One consistent depth range for the whole clip: no pumping brightness from frame to frame.",
        "Smooth over time: depth that flickers teaches flicker.",
        "Same resolution, length and frame rate as the target.",
        "Varied scenes and camera moves: interiors, landscapes, close-ups.",
    ),
    caption_example="ornate cathedral interior, warm candlelight, slow dolly forward",
    derive_methods=("depth",),
    derived_noun="depth maps",
    clips_recommended="15 pairs to start; 80–150 varied pairs give strong, reliable control.",
    sources=("DepthCrafter", "Depth Anything", "renders from 3D software"),
    base_notes=(("ltx-2.5", "On LTX-2.5 this recipe trains with the same settings as on LTX-2.3, and the depth "
                            "maps made here serve both: Lightricks' own LTX-2.5 training configs change nothing "
                            "for IC-LoRA."),),
)
