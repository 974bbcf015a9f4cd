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
    voice_upload=(
        "Optional: a voice clip for each clip, so the adapter learns the person's voice with their face and the "
        "Studio makes them speak in it. Name it after its clip: clip.mp4 + clip_voice.wav (or clip_audio.m4a), or "
        "put voices/clip.wav in a voices/ folder. WAV, MP3, M4A, AAC, OGG, Opus or a video whose sound is used. "
        "Give either every clip a voice or none, and keep each clip's own sound: with voices, the adapter learns "
        "to make the sound of your clips too."
    ),
    good_voice=(
        "5 to 15 seconds of the same person speaking alone (only the first 15 s are used).",
        "Clear and close to the microphone: a phone held near the mouth in a quiet room is fine.",
        "No music, no other voices, no background noise or echo.",
        "Natural speech, as the person talks; not whispered, shouted or sung.",
        "Any sample rate is fine: it is converted. Very quiet or silent recordings are refused.",
        "Only use the voice of someone who agreed to have it copied, as for their face.",
    ),
    voice_training=(
        "Your clips come with voice clips, so the adapter also learns the person's voice from your clips' own sound, "
        "and the Studio will ask for a voice clip beside the still."
    ),
    base_notes=(("ltx-2.5", "On LTX-2.5 identity adapters train with the same settings as on LTX-2.3 (rank 128, "
                            "learning rate 0.0001): Lightricks' own LTX-2.5 training configs change nothing for "
                            "IC-LoRA."),),
)
