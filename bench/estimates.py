"""The wizard's estimate against the measured launch-to-ready time, per preset, on this machine.

    .venv/bin/python bench/estimates.py                          # demo model, every preset, two runs each
    .venv/bin/python bench/estimates.py --model tiny --presets quick balanced

For each preset, on a fresh data folder with MODEL_PRESET set: a ready dataset of generated restoration pairs
(probed like uploads are), the preset's settings fitted to it by the wizard (`preset_settings`) and its trainer
config (`to_train_config`), then `--runs` real runs through the worker's own code (`training.runner.execute`, in
this process: no queue, so no waiting). Before each run the wizard's estimate is read (`estimate_for`, as the
Settings and Launch pages show it, with where its figures come from); the run's launch-to-ready time is from the
worker taking it to the adapter stored (its `started_at` to `finished_at`). The first run of a preset is estimated
from the benchmark tables (nothing measured here yet); the later ones from the speeds the earlier runs recorded.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(model: str) -> Path:
    data = Path(tempfile.mkdtemp(prefix="iclora-bench-estimates-"))
    os.environ["ICLORA_DATA_DIR"] = str(data)
    os.environ["MODEL_PRESET"] = model
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Django is configured from the environment just set: imported here, not at the top, for that reason
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    # No Redis in this process: the run page's pushes go to an in-memory layer (the database is written as ever).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    call_command("migrate", verbosity=0)
    if model == "tiny":
        call_command("ensure_tiny_model")
    return data


def make_pairs(folder: Path, count: int, seconds: float) -> Any:
    """A creator and a dataset of `count` checked restoration pairs, probed as the upload checks probe them."""
    # These need Django set up (setup() above)
    from django.core.files import File

    from datasets.models import ClipPair
    from engine.media import probe
    from engine.synthetic import make_clip
    from tests.factories import make_dataset, make_user

    folder.mkdir(parents=True, exist_ok=True)
    user = make_user("bench", max_concurrent_runs=50)
    dataset = make_dataset(user, recipe="restoration", name="Bench pairs", trigger_phrase="RESTORE")
    for index in range(count):
        pair = ClipPair(dataset=dataset, name=f"clip{index}", position=index, caption=f"a generated scene {index}",
                        status=ClipPair.Status.OK)
        for field_name, degrade in (("target_file", False), ("reference_file", True)):
            path = make_clip(folder / f"{field_name}_{index}.mp4", seed=index, degrade=degrade, seconds=seconds)
            info = probe(path)
            meta = {"width": info.width, "height": info.height, "frames": info.frames, "fps": info.fps}
            setattr(pair, field_name.replace("_file", "_meta"), meta)
            with path.open("rb") as handle:
                getattr(pair, field_name).save(path.name, File(handle), save=False)
        pair.save()
    return user, dataset


def one_run(user: Any, dataset: Any, preset: str, index: int) -> dict[str, Any]:
    # Django models and the wizard's code: importable only after setup()
    from datasets.recipes import get_recipe
    from training import runner
    from training.models import TrainingRun
    from training.runs import transition
    from wizard.forms import estimate_for
    from wizard.plan import ClipFacts, preset_settings, to_train_config

    metas = [pair.target_meta for pair in dataset.pairs.all()]
    recipe = get_recipe(dataset.recipe)
    values = preset_settings(preset, recipe, ClipFacts.from_metas(metas))
    guess = estimate_for(values, metas)
    config = to_train_config(values, recipe, [], f"{preset}-{index}")
    run = TrainingRun.objects.create(owner=user, dataset=dataset, name=f"{preset} {index}", recipe=recipe.slug,
                                     config=config, total_steps=values.steps)
    transition(run, TrainingRun.State.QUEUED, "Bench.")
    t0 = time.monotonic()
    runner.execute(run.pk, "bench")
    wall = time.monotonic() - t0
    run.refresh_from_db()
    if run.state != TrainingRun.State.SUCCEEDED:
        raise SystemExit(f"run {run.pk} ended {run.state}: {run.state_reason}")
    assert run.started_at is not None and run.finished_at is not None
    measured = (run.finished_at - run.started_at).total_seconds()
    size = f"{values.largest.width}×{values.largest.height}×{values.frames}"
    return {"preset": preset, "run": index, "size": size, "rank": values.rank, "steps": values.steps,
            "estimate_s": guess.seconds, "said": guess.time_text, "basis": guess.basis, "measured_s": measured,
            "wall_s": wall, "error": guess.seconds / measured - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo", choices=["demo", "tiny"])
    parser.add_argument("--presets", nargs="+", default=["quick", "balanced", "high"])
    parser.add_argument("--runs", type=int, default=2, help="runs per preset (the first is estimated from tables)")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--clip-seconds", type=float, default=2.0)
    args = parser.parse_args()

    data = setup(args.model)
    user, dataset = make_pairs(data / "clips", args.pairs, args.clip_seconds)
    load = os.getloadavg()[0]
    print(f"model {args.model}, {args.pairs} pairs of {args.clip_seconds:g} s, {os.cpu_count()} cores "
          f"({platform.processor() or platform.machine()}), load {load:.1f} before", flush=True)
    rows = []
    for preset in args.presets:
        for index in range(1, args.runs + 1):
            row = one_run(user, dataset, preset, index)
            rows.append(row)
            print(f"{row['preset']:9} run {row['run']}  {row['size']:>12} rank {row['rank']:>3} {row['steps']:>4} steps"
                  f"  estimate {row['estimate_s']:7.1f} s ({row['said']}; {row['basis']})"
                  f"  measured {row['measured_s']:7.1f} s  error {row['error']:+.0%}", flush=True)
    later = [r for r in rows if r["run"] > 1]
    if later:
        worst = max(later, key=lambda r: abs(r["error"]))
        print(f"worst error once measured here: {worst['error']:+.0%} ({worst['preset']} run {worst['run']})")


if __name__ == "__main__":
    main()
