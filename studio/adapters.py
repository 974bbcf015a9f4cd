"""Adapters in the Studio: check uploaded `.safetensors` files, and turn checkpoints into Adapter rows.

An upload is checked before it is stored: it must be a safetensors file whose LoRA keys are in a form
`LTX2InContextPipeline.load_lora_weights` loads (ComfyUI `diffusion_model.` or diffusers `transformer.`
prefix, `lora_A`/`lora_B`), with shapes that fit the base model it is for: the base its metadata records
(`engine.bases`; refused when this server does not run it), or the Studio's default base when it records none. The
checks themselves are the training engine's (`read_adapter`); this module turns its reasons into words a creator can
act on. Every stored adapter records its base, and the Studio tries it on that base only.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q

from config.files import delete_unreferenced_on_commit
from engine.bases import BASES, get_base
from engine.export import AdapterError, AdapterInfo, read_adapter
from engine.model_paths import SMALL_MODELS
from studio.models import Adapter, Generation
from training.models import Checkpoint, TrainingRun
from training.models_config import available_bases, default_base, model_paths

MAX_UPLOAD_BYTES = 4 * 1024**3
# The engine's refusal of an adapter recorded for another base (engine.export.read_adapter).
OTHER_BASE = re.compile(r"trained for ([\w.-]+), but this base model is ([\w.-]+)")
MAX_HEADER_BYTES = 100 * 1024**2


class UploadRejected(ValueError):
    """An uploaded adapter file that cannot be used; the message says why and what to do."""


def base_transformer_skeleton(base: str | None = None) -> Any:
    """The transformer of `base` (the default base when not given) as configured here, with no weights (meta
    device): enough to check shapes, and the base an adapter records."""
    base = base or default_base()
    return _skeleton(str(model_paths(base=base).configs / "transformer"), base)


@lru_cache(maxsize=4)
def _skeleton(config_folder: str, base: str) -> Any:
    # diffusers/accelerate (seconds, with torch): loaded only to check an adapter, not by the web process
    from accelerate import init_empty_weights
    from diffusers import LTX2VideoTransformer3DModel

    # A single file's configs are the shipped LTX-2.3 ones: the base's own switches make them its transformer.
    config = {**LTX2VideoTransformer3DModel.load_config(config_folder), **get_base(base).transformer}
    with init_empty_weights():
        return LTX2VideoTransformer3DModel.from_config(config)


def base_title(base: str) -> str:
    """How pages name a base model: LTX-2.3, LTX-2.5."""
    return BASES[base].title if base in BASES else base


def names_base_in_files() -> bool:
    """Whether downloaded adapter files carry their base model in their name: always for the real models (a ComfyUI
    user must load each with its own base), and for the small demonstration models when they come in two bases."""
    return settings.MODEL_PRESET not in SMALL_MODELS or len(available_bases()) > 1


def download_stem(name: str, base: str) -> str:
    """The name an adapter file downloads under (without .safetensors), its base added where it must be said."""
    return f"{name}-{base}" if names_base_in_files() else name


def unavailable_reason(name: str, base: str) -> str | None:
    """Why an adapter of `base` cannot be tried here, in plain words; None when it can."""
    if base in available_bases():
        return None
    offered = " and ".join(base_title(b) for b in available_bases())
    return (f"“{name}” was made for {base_title(base)}, and an adapter only works with the base model it was trained "
            f"on; this Studio runs {offered}. Ask an operator to set up {base_title(base)}, or train the adapter "
            f"again on {offered}.")


def plain_reason(error: AdapterError, filename: str) -> str:
    """The engine's technical reason, said for a creator."""
    text = str(error)
    if "not a safetensors file" in text or "contains no tensors" in text:
        return (f"“{filename}” is not a readable .safetensors file (it may be damaged, incomplete, or another "
                "format renamed). Download it again and upload the .safetensors file itself.")
    if "kohya-style" in text:
        return (f"“{filename}” uses the older kohya key format (lora_down/lora_up/alpha), which diffusers cannot "
                "load for LTX-2. Convert it to the ComfyUI/diffusers form (lora_A/lora_B), or export it again "
                "from the trainer.")
    if "lacks the diffusion_model. prefix" in text or "unexpected key" in text:
        key = text.split("key ", 1)[-1].split(" ", 1)[0]
        return (f"“{filename}” is not a LoRA for LTX-2's video transformer (found “{key}”). It may be a LoRA "
                "for another model, such as an image model.")
    other_base = OTHER_BASE.search(text)
    if other_base:
        trained, running = other_base.groups()
        return (f"“{filename}” was trained on {base_title(trained)}, and an adapter only works with the base model it "
                f"was trained on: it cannot be used with {base_title(running)}.")
    if "does not exist in this base model" in text or "but the base model has" in text:
        detail = text.split(": ", 1)[-1]
        return (f"“{filename}” was made for a different model than the one this Studio runs ({detail}). "
                "Adapters only work with the model version they were trained on.")
    if "without its pair" in text or "mismatched" in text or "mixed ranks" in text:
        return f"“{filename}” is an incomplete or inconsistent LoRA ({text.split(': ', 1)[-1]})."
    return f"“{filename}” cannot be used: {text.split(': ', 1)[-1]}."


def check_file(path: str | Path, filename: str, transformer: Any | None = None) -> AdapterInfo:
    """Check a local adapter file against the base model it records (the default base when it records none, or
    `transformer`); raise UploadRejected with a plain reason."""
    try:
        if transformer is None:
            recorded = read_adapter(path).base
            problem = unavailable_reason(filename, recorded) if recorded in BASES else None
            if problem:
                raise UploadRejected(problem)
            transformer = base_transformer_skeleton(recorded if recorded in BASES else None)
        return read_adapter(path, transformer)
    except AdapterError as error:
        raise UploadRejected(plain_reason(error, filename)) from error


def _spool(upload: UploadedFile, folder: Path) -> Path:
    path = folder / "upload.safetensors"
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        shutil.copyfile(temporary(), path)
        return path
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


def _int(value: Any, default: int | None) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def upload_adapter(owner: Any, upload: UploadedFile, name: str = "", kind: str = "iclora",
                   transformer: Any | None = None) -> Adapter:
    """Check and store an uploaded adapter for `owner`. Raises UploadRejected with a plain reason."""
    filename = Path(upload.name or "adapter").name
    if not filename.lower().endswith(".safetensors"):
        raise UploadRejected(f"“{filename}” is not a .safetensors file. Upload the adapter's .safetensors file.")
    if not upload.size:
        raise UploadRejected(f"“{filename}” is empty.")
    if upload.size > MAX_UPLOAD_BYTES:
        raise UploadRejected(f"“{filename}” is larger than {MAX_UPLOAD_BYTES // 1024**3} GB; that is no LoRA.")
    with tempfile.TemporaryDirectory() as scratch:
        path = _spool(upload, Path(scratch))
        info = check_file(path, filename, transformer)
        metadata = {key: str(value) for key, value in info.metadata.items()}
        adapter = Adapter(
            owner=owner, name=(name.strip() or Path(filename).stem)[:200], source=Adapter.Source.UPLOADED,
            kind=kind, base_model=metadata.get("base_model", "")[:100], rank=info.rank,
            base=info.base if info.base in BASES else default_base(),
            reference_downscale_factor=info.reference_downscale_factor,
            trigger_phrase=metadata.get("trigger", metadata.get("trigger_phrase", ""))[:100],
            recipe=metadata.get("recipe", "")[:40], metadata=metadata,
        )
        with path.open("rb") as handle:
            adapter.file.save(filename, File(handle), save=False)
    adapter.save()
    return adapter


def read_header_metadata(handle: IO[bytes]) -> dict[str, str]:
    """The `__metadata__` of a safetensors file read from its header (works on any storage backend)."""
    raw = handle.read(8)
    if len(raw) != 8:
        raise AdapterError("not a safetensors file (too short)")
    (length,) = struct.unpack("<Q", raw)
    if length > MAX_HEADER_BYTES:
        raise AdapterError("not a safetensors file (header too large)")
    try:
        header = json.loads(handle.read(length))
    except ValueError as error:
        raise AdapterError(f"not a safetensors file ({error})") from error
    return {str(k): str(v) for k, v in (header.get("__metadata__") or {}).items()}


def adapter_for_checkpoint(checkpoint: Checkpoint) -> Adapter:
    """The Adapter row of a checkpoint, created on first use; it shares the checkpoint's stored file.

    (A checkpoint with an adapter is kept when old checkpoints are pruned, so the file stays.)
    """
    existing = Adapter.objects.filter(checkpoint=checkpoint).first()
    if existing is not None:
        return existing
    run = checkpoint.run
    with checkpoint.adapter_file.open("rb") as handle:
        metadata = read_header_metadata(handle)
    adapter = Adapter(
        owner=run.owner, name=f"{run.name} · step {checkpoint.step}"[:200], source=Adapter.Source.TRAINED,
        checkpoint=checkpoint, run=run, recipe=run.recipe, metadata=metadata,
        base=metadata["base"] if metadata.get("base") in BASES else run.base,
        base_model=metadata.get("base_model", "")[:100], rank=_int(metadata.get("rank"), None) or None,
        reference_downscale_factor=_int(metadata.get("reference_downscale_factor"), 1) or 1,
        trigger_phrase=metadata.get("trigger", "")[:100],
    )
    adapter.file.name = checkpoint.adapter_file.name
    try:
        with transaction.atomic():
            adapter.save()
    except IntegrityError:  # created meanwhile by another request
        return Adapter.objects.get(checkpoint=checkpoint)
    return adapter


def store_trained(sender: Any, run: TrainingRun, path: Path, **kwargs: Any) -> Adapter:
    """The adapter a finished run wrote, stored for its owner (receiver of training.signals.adapter_trained)."""
    info = read_adapter(path)
    metadata = dict(info.metadata)
    adapter = Adapter(
        owner=run.owner, name=run.name, source=Adapter.Source.TRAINED, run=run, recipe=run.recipe,
        base=info.base if info.base in BASES else run.base,  # the engine records the base it trained on
        checkpoint=run.checkpoints.order_by("-step").first(), metadata=metadata,
        base_model=metadata.get("base_model", ""), rank=int(metadata.get("rank", 0)) or None,
        reference_downscale_factor=int(metadata.get("reference_downscale_factor", 1)),
        trigger_phrase=metadata.get("trigger", ""),
    )
    with path.open("rb") as handle:
        adapter.file.save(f"run-{run.pk}-{path.name}", File(handle), save=False)
    adapter.save()
    return adapter


class AdapterInUse(ValueError):
    """An adapter a Studio generation is still being made with."""


def delete_adapter(adapter: Adapter) -> None:
    """Delete an adapter; generations made with it stay (without it). Its file goes once the deletion commits,
    unless a checkpoint (an adapter tried from a run's page shares the checkpoint's file) or another adapter
    still uses it."""
    with transaction.atomic():
        busy = Generation.objects.filter(Q(adapter=adapter) | Q(effect_adapter=adapter),
                                         state__in=Generation.ACTIVE_STATES)
        if busy.exists():
            raise AdapterInUse("A Studio generation is still being made with this adapter. Delete it once that "
                               "generation is done, or cancel it.")
        name = adapter.file.name
        adapter.delete()
        delete_unreferenced_on_commit([name])
