from datasets.recipes.base import Recipe

RECIPE = Recipe(
    slug="colorize",
    name="Colorize",
    summary="Bring black-and-white footage to colour.",
    what_it_does="When you generate, you give the adapter a black-and-white clip and it returns it in colour.",
    reference="the black-and-white version of the clip",
    what_to_upload="Colour clips (the targets) and a black-and-white copy of each (the references).",
    good_pairs=(
        "Make the black-and-white copy from the colour clip itself, so every frame lines up.",
        "Footage whose colours you like: skin tones, skies and light are what the adapter learns.",
    ),
    caption_example="a seaside town in summer, bright blue sky, people walking along the harbour",
    trigger_phrase="COLORIZE",
    base_notes=(("ltx-2.5", "On LTX-2.5 this recipe trains with the same settings as on LTX-2.3: Lightricks' own "
                            "LTX-2.5 training configs change nothing for IC-LoRA."),),
)
