"""Manifest column names the trainer and the wizard both read (no torch here: the web process imports it).

The first name of each is what this project writes; the others are what Lightricks' trainers have used:
`media_path` is ltx-trainer's default video column, `reference_path` the reference column its IC-LoRA guide
names, `ref_media_path` an older one.
"""

CAPTION_KEYS = ("caption",)
VIDEO_KEYS = ("media_path", "video")
REFERENCE_KEYS = ("reference_path", "reference_video", "ref_media_path")
# A pair's reference voice (Identity with a voice): ours first, then ltx-trainer's audio IC-LoRA column.
REFERENCE_AUDIO_KEYS = ("reference_audio_path", "reference_audio")
