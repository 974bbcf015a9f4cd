"""Pairing reference voices (Identity) with their clips by name and by manifest, with leftovers named."""

from datasets.manifest import ManifestRow, parse_manifest
from datasets.pairing import Media, pair_files, voice_key


def identity(*names: str) -> list[Media]:
    kinds = {".mp4": "video", ".mov": "video", ".webm": "video", ".png": "image", ".jpg": "image"}
    return [Media(n, kinds.get(n[n.rfind("."):], "audio")) for n in names]


def voices_of(pairing) -> dict[str, str]:
    return {p.name: p.voice for p in pairing.pairs}


def test_each_clip_gets_its_still_and_its_voice_named_voice_or_audio():
    pairing = pair_files(identity("walk.mp4", "walk_ref.png", "walk_voice.wav",
                                  "talk.mp4", "talk_ref.jpg", "talk_audio.m4a"), voices=True)
    assert [(p.name, p.target, p.reference, p.voice) for p in pairing.pairs] == [
        ("talk", "talk.mp4", "talk_ref.jpg", "talk_audio.m4a"),
        ("walk", "walk.mp4", "walk_ref.png", "walk_voice.wav"),
    ]
    assert not pairing.voices_without_target and not pairing.targets_without_voice and not pairing.unused


def test_voices_in_a_voices_folder_pair_by_the_clips_name():
    pairing = pair_files(identity("targets/walk.mp4", "references/walk.png", "voices/walk.mp3", "run.mp4",
                                  "run_ref.png", "voice/run.ogg", "sit.mp4", "sit_ref.png", "audio/sit.opus"),
                         voices=True)
    assert voices_of(pairing) == {"run": "voice/run.ogg", "sit": "audio/sit.opus", "walk": "voices/walk.mp3"}


def test_a_sound_file_with_the_clips_own_name_is_its_voice():
    pairing = pair_files(identity("walk.mp4", "walk_ref.png", "walk.wav"), voices=True)
    assert voices_of(pairing) == {"walk": "walk.wav"}


def test_a_video_named_as_a_voice_gives_its_sound_and_is_not_taken_for_a_clip():
    pairing = pair_files(identity("walk.mp4", "walk_ref.png", "walk_voice.webm", "voices/run.mov", "run.mp4",
                                  "run_ref.png"), voices=True)
    assert voices_of(pairing) == {"run": "voices/run.mov", "walk": "walk_voice.webm"}
    assert not pairing.targets_without_reference


def test_voice_key_reads_suffixes_and_folders_and_leaves_other_files_alone():
    assert voice_key("walk_voice.wav", "audio") == "walk"
    assert voice_key("set/voices/walk.m4a", "audio") == "set/walk"
    assert voice_key("walk-audio.mp4", "video") == "walk"
    assert voice_key("walk.mp4", "video") is None
    assert voice_key("walk_ref.png", "image") is None


def test_a_dataset_without_voices_is_an_ordinary_identity_dataset():
    pairing = pair_files(identity("walk.mp4", "walk_ref.png", "run.mp4", "run_ref.png"), voices=True)
    assert voices_of(pairing) == {"run": "", "walk": ""}
    assert not pairing.targets_without_voice and not pairing.voices_without_target


def test_voices_without_a_clip_and_clips_without_a_voice_are_named_when_others_have_one():
    pairing = pair_files(identity("walk.mp4", "walk_ref.png", "walk_voice.wav", "run.mp4", "run_ref.png",
                                  "ghost_voice.wav"), voices=True)
    assert voices_of(pairing) == {"run": "", "walk": "walk_voice.wav"}
    assert pairing.voices_without_target == ["ghost_voice.wav"]
    assert pairing.targets_without_voice == ["run.mp4"]
    assert [p.name for p in pairing.pairs] == ["run", "walk"]  # kept, with its caption: the page says what is missing


def test_two_voices_for_one_clip_are_not_silently_merged():
    pairing = pair_files(identity("walk.mp4", "walk_ref.png", "walk_voice.wav", "voices/walk.mp3"), voices=True)
    assert voices_of(pairing) == {"walk": "walk_voice.wav"}
    assert pairing.unused == [("voices/walk.mp3", "another voice clip is also for “walk” (walk_voice.wav)")]


def test_sound_files_are_unused_by_recipes_without_voices():
    pairing = pair_files(identity("walk.mp4", "walk_ref.mp4", "walk_voice.wav"))
    assert voices_of(pairing) == {"walk": ""}
    assert pairing.unused == [("walk_voice.wav", "a sound file: only the Identity recipe uses voice clips")]


def test_a_manifests_reference_audio_column_gives_the_voice():
    rows = parse_manifest('{"caption": "hi", "media_path": "clips/a.mp4", "reference_path": "stills/a.png", '
                          '"reference_audio": "speech/a_take2.wav"}\n', "set/dataset.jsonl")
    assert rows[0].voice == "speech/a_take2.wav"
    pairing = pair_files(identity("set/clips/a.mp4", "set/stills/a.png", "set/speech/a_take2.wav"), manifest=rows,
                         voices=True)
    assert [(p.target, p.reference, p.voice) for p in pairing.pairs] == [
        ("set/clips/a.mp4", "set/stills/a.png", "set/speech/a_take2.wav")]
    assert not pairing.voices_without_target


def test_a_manifest_row_whose_voice_was_not_uploaded_is_named():
    rows = [ManifestRow(1, "hi", "a.mp4", "a.png", voice="a.wav"), ManifestRow(2, "yo", "b.mp4", "b.png")]
    pairing = pair_files(identity("a.mp4", "a.png", "b.mp4", "b.png"), manifest=rows, voices=True)
    assert voices_of(pairing) == {"a": "", "b": ""}
    assert pairing.targets_without_voice == ["a.mp4 (manifest row 1: a.wav was not uploaded)"]
