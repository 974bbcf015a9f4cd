"""Validation samples laid out for comparing steps: a row per validation clip, newest step first."""

from types import SimpleNamespace

import pytest

from studio.sample_grid import sample_grid

pytestmark = pytest.mark.backend_free


def _sample(pk: int, step: int, prompt: str = "") -> SimpleNamespace:
    return SimpleNamespace(pk=pk, step=step, prompt=prompt)


def test_each_validation_clip_is_a_row_and_each_step_a_column_newest_first():
    samples = [_sample(1, 100), _sample(2, 100), _sample(3, 200), _sample(4, 200)]
    config = {"validation": {"prompts": ["street", "beach"], "reference_videos": ["a.mp4", "b.mp4"]}}
    grid = sample_grid(reversed(samples), [SimpleNamespace(step=200)], config)
    assert [c.step for c in grid.columns] == [200, 100]
    assert [c.checkpoint is not None for c in grid.columns] == [True, False]
    assert [(r.prompt, [s and s.pk for s in r.cells]) for r in grid.rows] == [("street", [3, 1]), ("beach", [4, 2])]
    assert all(r.has_reference and not r.reference_is_image for r in grid.rows)


def test_a_step_with_fewer_samples_leaves_a_gap_and_prompts_fall_back_to_the_samples():
    grid = sample_grid([_sample(1, 50, "first"), _sample(2, 50, "second"), _sample(3, 60, "first")], [], {})
    assert [[s.pk if s else None for s in r.cells] for r in grid.rows] == [[3, 1], [None, 2]]
    assert [r.prompt for r in grid.rows] == ["first", "second"]
    assert not any(r.has_reference for r in grid.rows)


def test_an_identity_runs_still_reference_is_shown_as_an_image_and_no_samples_make_an_empty_grid():
    config = {"validation": {"reference_videos": ["faces/me.heic"]}}
    assert sample_grid([_sample(1, 10)], [], config).rows[0].reference_is_image
    assert not sample_grid([], [], config)
