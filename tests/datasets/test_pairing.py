"""Pairing by file name (every convention the wizard promises) and by manifest, with leftovers named."""

from datasets.manifest import ManifestRow
from datasets.pairing import Media, pair_files, role_and_key


def videos(*names: str) -> list[Media]:
    return [Media(n, "video") for n in names]


def as_tuples(pairing):
    return [(p.name, p.target, p.reference) for p in pairing.pairs]


def test_it_pairs_ref_and_reference_suffixes():
    pairing = pair_files(videos("walk.mp4", "walk_ref.mp4", "run.mov", "run_reference.mov"))
    assert as_tuples(pairing) == [("run", "run.mov", "run_reference.mov"), ("walk", "walk.mp4", "walk_ref.mp4")]
    assert not pairing.has_orphans


def test_it_pairs_control_kind_suffixes_like_depth_and_pose():
    pairing = pair_files(videos("a.mp4", "a_depth.mp4", "b.mp4", "b_pose.mp4", "c.mp4", "c-ref.mp4"))
    assert [p.reference for p in pairing.pairs] == ["a_depth.mp4", "b_pose.mp4", "c-ref.mp4"]


def test_it_pairs_targets_and_references_folders():
    pairing = pair_files(videos("set/targets/walk.mp4", "set/references/walk.mp4", "targets/run.mp4",
                                "references/run.mp4"))
    assert as_tuples(pairing) == [
        ("run", "targets/run.mp4", "references/run.mp4"),
        ("set/walk", "set/targets/walk.mp4", "set/references/walk.mp4"),
    ]


def test_it_pairs_start_as_reference_and_end_as_target():
    pairing = pair_files(videos("shot_start.mp4", "shot_end.mp4"))
    assert as_tuples(pairing) == [("shot", "shot_end.mp4", "shot_start.mp4")]


def test_it_pairs_a_still_image_reference_for_identity():
    pairing = pair_files([Media("maya.mp4", "video"), Media("maya_ref.png", "image")])
    assert as_tuples(pairing) == [("maya", "maya.mp4", "maya_ref.png")]


def test_it_calls_out_orphans_on_both_sides():
    pairing = pair_files(videos("walk.mp4", "walk_ref.mp4", "lonely.mp4", "ghost_ref.mp4", "targets/solo.mp4"))
    assert [p.name for p in pairing.pairs] == ["walk"]
    assert sorted(pairing.targets_without_reference) == ["lonely.mp4", "targets/solo.mp4"]
    assert pairing.references_without_target == ["ghost_ref.mp4"]


def test_two_targets_with_the_same_name_are_not_silently_merged():
    pairing = pair_files(videos("walk.mp4", "walk.mov", "walk_ref.mp4"))
    assert len(pairing.pairs) == 1
    assert pairing.unused == [("walk.mov", "another target is also called “walk” (walk.mp4)")]


def test_it_attaches_txt_sidecar_captions_by_name():
    pairing = pair_files(videos("targets/walk.mp4", "references/walk.mp4", "run.mp4", "run_ref.mp4"),
                         captions=["targets/walk.txt", "run.txt"])
    assert {p.name: p.caption_file for p in pairing.pairs} == {"walk": "targets/walk.txt", "run": "run.txt"}


def test_a_manifest_pairs_by_path_or_unique_file_name_and_carries_captions():
    rows = [ManifestRow(1, "a sunny street", "clips/a.mp4", "clips/a_depth.mp4"),
            ManifestRow(2, "a rainy street", "b.mp4", "refs_b.mp4")]
    pairing = pair_files(videos("clips/a.mp4", "clips/a_depth.mp4", "upload/b.mp4", "upload/refs_b.mp4"),
                         manifest=rows)
    assert [(p.target, p.reference, p.caption) for p in pairing.pairs] == [
        ("clips/a.mp4", "clips/a_depth.mp4", "a sunny street"),
        ("upload/b.mp4", "upload/refs_b.mp4", "a rainy street"),
    ]


def test_manifest_paths_are_read_from_the_manifests_own_folder():
    # A zipped folder: the same file name under targets/ and references/, so only the full path tells them apart.
    rows = [ManifestRow(1, "a street", "targets/a.mp4", "references/a.mp4", folder="my-set")]
    pairing = pair_files(videos("my-set/targets/a.mp4", "my-set/references/a.mp4"), manifest=rows)
    assert [(p.target, p.reference) for p in pairing.pairs] == [("my-set/targets/a.mp4", "my-set/references/a.mp4")]


def test_manifest_rows_whose_files_were_not_uploaded_are_named():
    rows = [ManifestRow(1, "", "a.mp4", "a_in.mp4"), ManifestRow(2, "", "x.mp4", "y.mp4")]
    pairing = pair_files(videos("a.mp4"), manifest=rows)
    assert pairing.pairs == []
    assert pairing.targets_without_reference == ["a.mp4 (manifest row 1: a_in.mp4 was not uploaded)"]
    assert pairing.unused == [("manifest row 2", "neither x.mp4 nor y.mp4 was uploaded")]


def test_a_name_that_is_only_a_suffix_is_a_target():
    assert role_and_key("_ref.mp4") == ("target", "_ref")
    assert role_and_key("refs/clip.mp4") == ("reference", "clip")
