import json
import re

import pytest

from datasets.manifest import ManifestError, parse_manifest


def test_it_reads_lightricks_csv_manifests():
    rows = parse_manifest("caption,video,reference_video\na street,a.mp4,a_ref.mp4\n", "pairs.csv")
    assert [(r.number, r.caption, r.video, r.reference) for r in rows] == [(1, "a street", "a.mp4", "a_ref.mp4")]


def test_each_row_knows_the_manifests_folder():
    text = "caption,video,reference_video\na street,a.mp4,a_ref.mp4\n"
    assert parse_manifest(text, "my-set/dataset.csv")[0].folder == "my-set"
    assert parse_manifest(text, "dataset.csv")[0].folder == ""


def test_it_reads_ltx_trainers_own_column_names():
    rows = parse_manifest('{"caption": "x", "media_path": "v.mp4", "reference_path": "r.mp4"}', "m.jsonl")
    assert (rows[0].video, rows[0].reference) == ("v.mp4", "r.mp4")


def test_it_reads_jsonl_with_the_older_column_names():
    text = json.dumps({"caption": "x", "media_path": "v.mp4", "ref_media_path": "r.mp4"}) + "\n\n"
    rows = parse_manifest(text, "pairs.jsonl")
    assert (rows[0].video, rows[0].reference) == ("v.mp4", "r.mp4")


def test_it_reads_json_lists_and_objects_with_pairs():
    row = {"caption": "x", "video": "v.mp4", "reference_video": "r.mp4"}
    assert len(parse_manifest(json.dumps([row, row]), "m.json")) == 2
    assert len(parse_manifest(json.dumps({"pairs": [row]}), "m.json")) == 1


@pytest.mark.parametrize(
    ("text", "name", "says"),
    [
        ("caption,video\nx,v.mp4\n", "m.csv", "reference column (reference_path, reference_video"),
        ("caption,reference_video\nx,r.mp4\n", "m.csv", "video column (media_path or video)"),
        ("{not json", "m.json", "could not be read"),
        ("caption,video,reference_video\n", "m.csv", "lists no pairs"),
        ("[" * 200_000, "m.json", "m.json is nested too deeply to be a list of clip pairs"),
        ('{"caption": ' + "[" * 200_000, "m.jsonl", "m.jsonl is nested too deeply to be a list of clip pairs"),
    ],
)
def test_it_explains_what_is_wrong_with_a_manifest(text, name, says):
    with pytest.raises(ManifestError, match=re.escape(says)):
        parse_manifest(text, name)
