"""The run page's validation samples as a grid: one row per validation clip, one column per step, newest first.

A creator picks a checkpoint by comparing what the adapter made of the same reference at different steps, so the
samples of one clip sit side by side, beside the reference itself, with the checkpoint of each step where it was
kept. Samples of one step are stored in the order of the run's validation clips (training/storage.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from studio.masks import STILL_SUFFIXES


@dataclass(frozen=True)
class Column:
    step: int
    checkpoint: Any | None  # the Checkpoint kept at this step, if any


@dataclass(frozen=True)
class Row:
    index: int  # the validation clip's position in the run's config
    prompt: str
    has_reference: bool
    reference_is_image: bool  # an Identity run's reference is a still
    cells: list[Any | None]  # the ValidationSample of each column, None where that step has none for this clip


@dataclass(frozen=True)
class SampleGrid:
    columns: list[Column]
    rows: list[Row]

    def __bool__(self) -> bool:
        return bool(self.rows)


def sample_grid(samples: Iterable[Any], checkpoints: Iterable[Any], config: dict[str, Any]) -> SampleGrid:
    """`samples` and `checkpoints` of one run (any order), `config` its training config."""
    by_step: dict[int, list[Any]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: (s.step, s.pk)):
        by_step[sample.step].append(sample)
    kept = {checkpoint.step: checkpoint for checkpoint in checkpoints}
    columns = [Column(step, kept.get(step)) for step in sorted(by_step, reverse=True)]
    validation = config.get("validation", {})
    prompts, references = list(validation.get("prompts", [])), list(validation.get("reference_videos", []))
    count = max((len(found) for found in by_step.values()), default=0)
    rows = []
    for index in range(count):
        cells = [by_step[c.step][index] if index < len(by_step[c.step]) else None for c in columns]
        prompt = prompts[index] if index < len(prompts) else next((s.prompt for s in cells if s), "")
        reference = references[index] if index < len(references) else ""
        rows.append(Row(index=index, prompt=prompt, has_reference=bool(reference),
                        reference_is_image=PurePosixPath(reference).suffix.lower() in STILL_SUFFIXES, cells=cells))
    return SampleGrid(columns=columns, rows=rows)
