from datasets.recipes.base import Recipe

RECIPE = Recipe(
    slug="pose",
    name="Pose control",
    summary="Move any character exactly like a performer, without motion capture.",
    what_it_does=(
        "When you generate, you give the adapter a pose-skeleton video (stick figures on black). "
        "The people in the new video move like the skeletons, and look like what your prompt describes."
    ),
    reference="a pose-skeleton video (body keypoints joined by lines on black)",
    what_to_upload=(
        "Your clips of people moving (the targets): the server finds the people and draws a skeleton video "
        "of each clip. Your own skeleton videos (clip_ref.mp4, or targets/ and references/ folders) are used "
        "instead when you upload them."
    ),
    good_pairs=(
        "Skeletons extracted at the same frame rate you will generate at.",
        "A skeleton on every frame: fill short occlusions by interpolating instead of leaving gaps.",
        "Many different people, outfits, moves and camera angles.",
    ),
    caption_example="a dancer in a red coat on a rooftop at dusk, city lights behind, handheld camera",
    derive_methods=("pose",),
    derived_noun="pose skeletons",
    clips_recommended="15 pairs to start; 80–150 varied pairs give strong, reliable control.",
    sources=("OpenPose", "MediaPipe Pose", "DWPose"),
    base_notes=(("ltx-2.5", "On LTX-2.5 this recipe trains with the same settings as on LTX-2.3, and the pose "
                            "skeletons made here serve both: Lightricks' own LTX-2.5 training configs change "
                            "nothing for IC-LoRA."),),
)
