from datasets.recipes.base import Recipe, TrainingDefaults

RECIPE = Recipe(
    slug="identity",
    name="Identity",
    summary="Keep one character or face consistent across clips and shots.",
    what_it_does=(
        "When you generate, you give the adapter one still image of your character. The new video shows that "
        "same character, doing and wearing what your prompt says. Works for people, animals, mascots and products."
    ),
    reference="one still image of the subject (a 1-frame reference) for each clip",
    reference_kind="image",
    what_to_upload=(
        "Clips of your subject (the targets) and, for each, one still image of the subject: "
        "clip.mp4 + clip_ref.png (or .jpg), or targets/ and references/ folders."
    ),
    good_pairs=(
        "Varied angles (front, three-quarter, profile), lighting and expressions.",
        "Clean, unobstructed views of one subject only.",
        "Only use images of people who agreed to it.",
        "Captions describe the action and scene, not the face.",
    ),
    caption_example="walking through a busy market, smiling, handheld camera, golden hour",
    trigger_phrase="",
    clips_recommended="15–40 clips with varied angles, light and expressions.",
    defaults=TrainingDefaults(rank=128, learning_rate=1e-4, steps=5000),
    base_notes=(("ltx-2.5", "On LTX-2.5 identity adapters train with the same settings as on LTX-2.3 (rank 128, "
                            "learning rate 0.0001): Lightricks' own LTX-2.5 training configs change nothing for "
                            "IC-LoRA."),),
)
