"""The Studio pairs an adapter only with the base model it was trained on: uploads are checked against the base they
record, generations run on the adapter's own base, and any other pairing is refused in plain words."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from safetensors.torch import save

from engine.synthetic import make_clip
from studio.adapters import UploadRejected, base_transformer_skeleton, check_file, upload_adapter
from studio.generation import GenerationRefused, create_generation, run_generation
from studio.models import Adapter, Generation
from tests.helpers import random_adapter_tensors
from tests.studio.test_generation import form, upload_of

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def two_bases(settings):
    """The tiny preset offering both tiny bases (TINY_MODEL_BASES=ltx-2.3,ltx-2.5)."""
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "ref.mp4", seed=3, width=160, height=128, seconds=1.0)


def adapter_file(base: str | None, trigger: str = "RESTORE") -> bytes:
    """A random IC-LoRA for the tiny models (both bases have the same shapes), recording `base` when given."""
    metadata = {"trigger": trigger, **({"base": base} if base else {})}
    return save(random_adapter_tensors(), metadata=metadata)


def stored_adapter(owner, base: str, kind: str = "iclora", recorded: str | None = None,
                   name: str = "Restore") -> Adapter:
    adapter = Adapter(owner=owner, name=name, source="trained", kind=kind, base=base, rank=4, trigger_phrase="RESTORE")
    adapter.file.save("adapter.safetensors", ContentFile(adapter_file(recorded or base)), save=False)
    adapter.save()
    return adapter


def test_the_engine_refuses_an_ltx_2_3_adapter_on_ltx_2_5_and_the_studio_says_so_plainly(tmp_path, two_bases):
    path = tmp_path / "restore.safetensors"
    path.write_bytes(adapter_file("ltx-2.3"))
    assert check_file(path, "restore.safetensors", base_transformer_skeleton("ltx-2.3")).base == "ltx-2.3"
    with pytest.raises(UploadRejected) as refused:
        check_file(path, "restore.safetensors", base_transformer_skeleton("ltx-2.5"))
    assert str(refused.value) == ("“restore.safetensors” was trained on LTX-2.3, and an adapter only works with the "
                                  "base model it was trained on: it cannot be used with LTX-2.5.")


def test_an_upload_is_stored_with_the_base_it_records_and_one_for_a_base_this_server_lacks_is_refused(
    creator, settings
):
    with pytest.raises(UploadRejected) as refused:
        upload_adapter(creator, SimpleUploadedFile("new.safetensors", adapter_file("ltx-2.5")))
    assert str(refused.value) == (
        "“new.safetensors” was made for LTX-2.5, and an adapter only works with the base model it was trained on; "
        "this Studio runs LTX-2.3. Ask an operator to set up LTX-2.5, or train the adapter again on LTX-2.3.")
    unsaid = upload_adapter(creator, SimpleUploadedFile("old.safetensors", adapter_file(None)))
    assert unsaid.base == "ltx-2.3"  # a file that does not say is taken as made for the default base

    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    adapter = upload_adapter(creator, SimpleUploadedFile("new.safetensors", adapter_file("ltx-2.5")))
    assert adapter.base == "ltx-2.5"


def test_the_adapter_page_and_its_download_name_the_base(client, creator, two_bases):
    adapter = stored_adapter(creator, "ltx-2.5")
    client.force_login(creator)
    page = client.get(reverse("studio_adapter", args=[adapter.pk])).content.decode()
    base = page.split('id="adapter-base">')[1].split("</dd>")[0]
    assert base.startswith("LTX-2.5. An adapter only works with the base model it was trained on")
    assert "Download .safetensors (for LTX-2.5)" in page
    download = client.get(reverse("adapter_download", args=[adapter.pk]))
    assert download["Content-Disposition"] == 'attachment; filename="Restore-ltx-2.5.safetensors"'
    studio = client.get(reverse("studio")).content.decode()
    assert "trained here · rank 4 · LTX-2.5" in studio


def test_the_studio_refuses_an_adapter_of_a_base_it_does_not_run_and_an_effect_lora_of_another_base(
    creator, clip, settings
):
    settings.TINY_MODEL_BASES = ("ltx-2.5",)
    on_23 = stored_adapter(creator, "ltx-2.3")
    with pytest.raises(GenerationRefused) as refused:
        create_generation(creator, on_23, form(), upload_of(clip))
    assert refused.value.errors["adapter"] == (
        "“Restore” was made for LTX-2.3, and an adapter only works with the base model it was trained on; this Studio "
        "runs LTX-2.5. Ask an operator to set up LTX-2.3, or train the adapter again on LTX-2.5.")

    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    effect = stored_adapter(creator, "ltx-2.5", kind="effect", name="Film look")
    with pytest.raises(GenerationRefused) as refused:
        create_generation(creator, on_23, form(), upload_of(clip), effect=effect)
    assert refused.value.errors == {"effect": (
        "“Film look” was made for LTX-2.5 and “Restore” for LTX-2.3: an adapter only works with the base model it "
        "was trained on, so both must be made for the same one.")}
    assert not Generation.objects.exists()


def test_a_generation_runs_on_its_adapters_base_and_a_file_made_for_another_base_fails_in_plain_words(
    creator, clip, two_bases
):
    from studio import generation as generation_module

    on_25 = stored_adapter(creator, "ltx-2.5")
    made = create_generation(creator, on_25, form(), upload_of(clip))
    run_generation(made.pk, "here")
    made.refresh_from_db()
    assert made.state == Generation.State.SUCCEEDED, made.error_message
    loaded = next(iter(generation_module._PIPELINES.values()))
    assert loaded.iclora_base == "ltx-2.5"

    # A row that says LTX-2.5 over a file trained on LTX-2.3: the engine's check on the worker refuses it.
    mislabelled = stored_adapter(creator, "ltx-2.5", recorded="ltx-2.3", name="Mislabelled")
    failed = create_generation(creator, mislabelled, form(), upload_of(clip))
    run_generation(failed.pk, "here")
    failed.refresh_from_db()
    assert failed.state == Generation.State.FAILED
    assert failed.error_message == ("“Mislabelled” was trained on LTX-2.3, and an adapter only works with the base "
                                    "model it was trained on: it cannot be used with LTX-2.5.")
