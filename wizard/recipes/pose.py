from wizard.recipes.base import Recipe

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
        "Your clips of people moving (the targets) and a skeleton video for each, "
        "named clip.mp4 + clip_ref.mp4 or kept in targets/ and references/ folders."
    ),
    good_pairs=(
        "Skeletons extracted at the same frame rate you will generate at.",
        "A skeleton on every frame: fill short occlusions by interpolating instead of leaving gaps.",
        "Many different people, outfits, moves and camera angles.",
    ),
    caption_example="a dancer in a red coat on a rooftop at dusk, city lights behind, handheld camera",
    reference_derivable=True,
    derived_noun="pose skeletons",
    clips_recommended="15 pairs to start; 80–150 varied pairs give strong, reliable control.",
    sources=("OpenPose", "MediaPipe Pose", "DWPose"),
)
