from datasets.recipes.base import Recipe, TrainingDefaults

RECIPE = Recipe(
    slug="tracks",
    name="Motion tracks control",
    summary="Make things move exactly where you draw them: along paths of coloured dots.",
    what_it_does=(
        "When you generate, you give the adapter a video of coloured dots on black, each leaving a trail behind "
        "it as it moves. Whatever sits under a dot in the new video moves along that dot's path, while your "
        "prompt decides what the things are and how they look."
    ),
    reference="a motion-track video of the target clip (moving dots with fading trails on black)",
    what_to_upload=(
        "Just your clips (the targets): the server makes the track video of each one. A track is one point on "
        "something in the clip (a wheel, a hand, the corner of a window) followed from frame to frame, and drawn "
        "as a dot with a trail of where it has just been: blue where it is now, then green, then red. You choose "
        "how many tracks, how far a point must move to count, how long the trails are and how big the dots, "
        "while watching a preview. Your own track videos (clip_ref.mp4, or targets/ and references/ folders) "
        "are used instead when you upload them."
    ),
    good_pairs=(
        "Clear, steady motion of distinct things: a cyclist crossing the street, a car turning, a hand "
        "reaching, a ball rolling. Each dot then follows one thing from start to end.",
        "Camera moves teach too: a slow pan, a push in or a drone glide makes every dot drift together.",
        "Leave out still shots (nothing to follow, so nothing to learn) and shaky handheld footage, fast "
        "whip pans, heavy blur or flicker: points get lost and the dots jitter instead of tracing a path.",
        "About 20 to 80 tracks per clip: enough to cover what moves, few enough that each trail stays readable.",
        "Keep the same settings for every clip, so the dots and trails look the same across the whole dataset.",
    ),
    caption_example="a red vintage car turns left at a sunny crossroads, camera slowly pans to follow it",
    derive_methods=("tracks",),
    derived_noun="motion-track videos",
    clips_recommended="15 pairs to start; 40–100 varied pairs, with different things moving in different "
                      "directions and speeds, give reliable control.",
    sources=("Lightricks' LTXVDrawTracks node in ComfyUI-LTXVideo", "point trackers such as CoTracker"),
    # Lightricks' LTX-2.3 Motion-Track Control IC-LoRA takes its reference at half size (its file is
    # ltx-2.3-22b-ic-lora-motion-track-control-ref0.5.safetensors, MODELS-LTX-2.3.md in Lightricks/LTX-2): dots and
    # trails need no fine detail, and a quarter of the reference's tokens saves memory and time.
    defaults=TrainingDefaults(reference_downscale_factor=2),
    base_notes=(("ltx-2.5", "On LTX-2.5 this recipe trains with the same settings as on LTX-2.3, and the motion-track "
                            "videos made here serve both: Lightricks' own LTX-2.5 training configs change nothing for "
                            "IC-LoRA."),),
)
