"""`python -m training`: build-tiny-model, probe, prepare, train, generate, as a power user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from diffusers import LTX2InContextPipeline

from engine.media import probe
from training.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_python_m_training_builds_a_tiny_model_that_from_pretrained_loads(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "training", "build-tiny-model", str(tmp_path / "tiny")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tiny LTX-2 pipeline written" in done.stdout
    pipe = LTX2InContextPipeline.from_pretrained(tmp_path / "tiny")
    assert pipe.vae_spatial_compression_ratio == 32


def test_prepare_says_how_many_training_clips_whole_clips_make(
    tmp_path: Path, tiny_model_dir: Path, raw_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.synthetic import make_pairs

    manifest = make_pairs(tmp_path / "long", 2, seconds=2.0)  # 48 frames each: two clips of 17
    raw = raw_config(tmp_path, manifest, tiny_model_dir, data={"whole_clips": True})
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(raw))

    assert main(["prepare", str(config)]) == 0

    out = capsys.readouterr().out
    assert "pair 1 (target_000.mp4 from 0.71 s): " in out
    assert "2 pairs ready as 4 training clips in" in out


@pytest.mark.training
def test_prepare_train_and_generate_from_a_yaml_config(
    tmp_path: Path, three_pairs: Path, tiny_model_dir: Path, raw_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = raw_config(tmp_path, three_pairs, tiny_model_dir, optim={"steps": 4}, data={"trigger": "RESTORE"})
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(raw))

    assert main(["prepare", str(config), "--json"]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["index"] for r in reports] == [0, 1, 2] and reports[0]["actions"]

    assert main(["train", str(config), "--print-every", "2"]) == 0
    out = capsys.readouterr().out
    assert "step 4/4" in out and "finished after 4 steps" in out
    adapter = tmp_path / "run" / "adapter.safetensors"
    assert adapter.exists()

    video = tmp_path / "generated.mp4"
    reference = json.loads(three_pairs.read_text().splitlines()[0])["reference_video"]
    code = main(
        [
            "generate",
            "--model",
            str(tiny_model_dir),
            "--adapter",
            str(adapter),
            "--reference",
            reference,
            "--prompt",
            "a clip",
            "--out",
            str(video),
            "--steps",
            "2",
            "--max-sequence-length",
            "32",
        ]
    )
    assert code == 0
    info = probe(video)
    assert (info.width, info.height, info.frames) == (128, 128, 17)  # the adapter's bucket by default


def test_probe_prints_json_and_bad_input_is_a_one_line_error(
    tmp_path: Path, three_pairs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = json.loads(three_pairs.read_text().splitlines()[0])["video"]
    assert main(["probe", clip]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 24
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    assert main(["probe", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("error: bad.mp4: not a readable video")


def test_generate_accepts_a_still_image_reference_for_an_identity_adapter(tmp_path: Path, tiny_model_dir: Path) -> None:
    still = tmp_path / "face.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x128", "-frames:v", "1",
                    str(still)], check=True)
    video = tmp_path / "identity.mp4"
    code = main(["generate", "--model", str(tiny_model_dir), "--reference", str(still), "--prompt", "a face",
                 "--out", str(video), "--steps", "2", "--max-sequence-length", "32", "--width", "128",
                 "--height", "96", "--frames", "9"])
    assert code == 0
    assert (probe(video).width, probe(video).height, probe(video).frames) == (128, 96, 9)


def test_build_demo_model_refuses_a_file_as_its_folder_in_plain_words(tmp_path, capsys):
    from training.cli import main

    target = tmp_path / "model.bin"
    target.write_text("not a folder")
    assert main(["build-demo-model", str(target)]) == 2
    assert "is a file: give a folder for the demo model" in capsys.readouterr().err
    assert target.read_text() == "not a folder"  # nothing written beside or into it
