"""Adapter uploads are checked before use; checkpoints become adapters the Studio can try."""

from __future__ import annotations

import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from safetensors.torch import save, save_file

from studio.adapters import UploadRejected, adapter_for_checkpoint, base_transformer_skeleton, upload_adapter
from studio.models import Adapter
from studio.views.runs import file_stem
from tests.factories import make_run
from training.models import Checkpoint

MODULES = ("attn1.to_q", "attn1.to_k", "ff.net.2")


@pytest.fixture(scope="module")
def skeleton():
    return base_transformer_skeleton()  # the configured (tiny) model's transformer, without weights


def lora_tensors(skeleton, rank=4, prefix="diffusion_model.", a="lora_A", b="lora_B", widen=0):
    tensors = {}
    for i, block in enumerate(skeleton.transformer_blocks):
        for name in MODULES:
            layer = block.get_submodule(name)
            tensors[f"{prefix}transformer_blocks.{i}.{name}.{a}.weight"] = torch.zeros(rank, layer.in_features + widen)
            tensors[f"{prefix}transformer_blocks.{i}.{name}.{b}.weight"] = torch.zeros(layer.out_features, rank)
    return tensors


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def as_file(tensors, metadata=None) -> bytes:
    return save({k: v.to(torch.bfloat16) for k, v in tensors.items()}, metadata=metadata)


def test_a_comfyui_form_ic_lora_is_accepted_with_its_metadata(creator, skeleton):
    content = as_file(lora_tensors(skeleton), {"reference_downscale_factor": "2", "trigger": "DEBLUR",
                                               "base_model": "tiny", "rank": "4"})
    adapter = upload_adapter(creator, upload("deblur.safetensors", content), name="Deblur")
    assert (adapter.name, adapter.source, adapter.kind) == ("Deblur", "uploaded", "iclora")
    assert (adapter.rank, adapter.reference_downscale_factor, adapter.trigger_phrase) == (4, 2, "DEBLUR")
    assert adapter.file.size == len(content) and adapter.owner == creator


def test_a_diffusers_form_lora_without_metadata_is_accepted_as_downscale_one(creator, skeleton):
    content = as_file(lora_tensors(skeleton, prefix="transformer."))
    adapter = upload_adapter(creator, upload("plain.safetensors", content), kind="effect")
    assert adapter.reference_downscale_factor == 1 and adapter.kind == "effect" and adapter.name == "plain"


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("notes.txt", lambda s: b"hello", "is not a .safetensors file"),
        ("empty.safetensors", lambda s: b"", "is empty"),
        ("broken.safetensors", lambda s: b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", "not a readable"),
        ("cut.safetensors", lambda s: as_file(lora_tensors(s))[:200], "not a readable"),
        ("kohya.safetensors", lambda s: as_file(lora_tensors(s, a="lora_down", b="lora_up")), "kohya key format"),
        ("sdxl.safetensors", lambda s: as_file({
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 320),
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(320, 4)}), "kohya key format"),
        ("flux.safetensors", lambda s: as_file({
            "transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight": torch.zeros(4, 3072),
            "transformer.single_transformer_blocks.0.attn.to_q.lora_B.weight": torch.zeros(3072, 4)}),
         "not a LoRA for LTX-2's video transformer"),
        ("peft.safetensors", lambda s: as_file(lora_tensors(s, prefix="")), "not a LoRA for LTX-2"),
        ("bigger.safetensors", lambda s: as_file(lora_tensors(s, widen=64)), "made for a different model"),
        ("tensors.safetensors", lambda s: as_file({"weight": torch.zeros(3)}), "not a LoRA for LTX-2"),
    ],
)
def test_malformed_and_foreign_uploads_are_rejected_with_a_plain_message(creator, skeleton, name, make, message):
    with pytest.raises(UploadRejected) as rejected:
        upload_adapter(creator, upload(name, make(skeleton)))
    assert message in str(rejected.value)
    assert not Adapter.objects.filter(owner=creator).exists()


def test_a_layer_the_model_does_not_have_is_rejected(creator, skeleton):
    tensors = lora_tensors(skeleton)
    tensors["diffusion_model.transformer_blocks.99.attn1.to_q.lora_A.weight"] = torch.zeros(4, 128)
    tensors["diffusion_model.transformer_blocks.99.attn1.to_q.lora_B.weight"] = torch.zeros(128, 4)
    with pytest.raises(UploadRejected, match="made for a different model"):
        upload_adapter(creator, upload("deeper.safetensors", as_file(tensors)))


def test_the_upload_page_shows_the_reason_and_keeps_nothing(client, creator):
    client.force_login(creator)
    response = client.post(reverse("studio_adapter_upload"), {"kind": "iclora", "name": "x",
                                                               "file": upload("x.safetensors", b"garbage!")})
    assert response.status_code == 400
    assert "not a readable .safetensors file" in response.content.decode()
    assert Adapter.objects.count() == 0


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "iclora", "name": "x"}, "Choose a .safetensors file to upload."),
    ({"kind": "checkpoint", "name": "x", "file": "a file"}, "Say what kind of LoRA this is."),
    ({"name": "x", "file": "a file"}, "Say what kind of LoRA this is."),
])
def test_the_upload_form_asks_for_the_file_and_its_kind_in_plain_words(client, creator, fields, message):
    client.force_login(creator)
    if "file" in fields:
        fields = {**fields, "file": upload("x.safetensors", b"garbage!")}
    response = client.post(reverse("studio_adapter_upload"), fields)
    page = response.content.decode()
    assert response.status_code == 400 and message in page and 'value="x"' in page  # what was typed stays
    assert Adapter.objects.count() == 0


def test_an_uploaded_adapter_opens_the_studio_with_it_selected(client, creator, skeleton):
    client.force_login(creator)
    content = as_file(lora_tensors(skeleton), {"trigger": "DEBLUR"})
    response = client.post(reverse("studio_adapter_upload"), {"kind": "iclora", "name": "Mine",
                                                               "file": upload("m.safetensors", content)})
    adapter = Adapter.objects.get(owner=creator)
    assert response.status_code == 302 and response["Location"].endswith(f"?adapter={adapter.pk}")
    page = client.get(response["Location"]).content.decode()
    assert f'value="adapter-{adapter.pk}" data-trigger="DEBLUR" selected' in page
    assert ">DEBLUR </textarea>" in page  # the trigger is prepended, editable


def test_a_checkpoint_becomes_an_adapter_once_sharing_its_file(creator, skeleton, tmp_path):
    run = make_run(creator, name="Restore v2")
    path = tmp_path / "export.safetensors"
    save_file({k: v.bfloat16() for k, v in lora_tensors(skeleton).items()}, str(path),
              metadata={"reference_downscale_factor": "1", "trigger": "RESTORE", "rank": "4", "base_model": "tiny"})
    checkpoint = Checkpoint(run=run, step=250)
    checkpoint.adapter_file.save("export.safetensors", ContentFile(path.read_bytes()), save=False)
    checkpoint.save()
    adapter = adapter_for_checkpoint(checkpoint)
    assert adapter.name == "Restore v2 · step 250" and adapter.checkpoint == checkpoint and adapter.run == run
    assert (adapter.rank, adapter.trigger_phrase, adapter.owner) == (4, "RESTORE", creator)
    assert adapter.file.name == checkpoint.adapter_file.name
    assert adapter_for_checkpoint(checkpoint) == adapter and Adapter.objects.count() == 1


def _stored_adapter(owner, name="Street restore", file_name="street.safetensors", **extra):
    adapter = Adapter(owner=owner, name=name, source=Adapter.Source.UPLOADED, trigger_phrase="RESTORE", rank=16,
                      **extra)
    adapter.file.save(file_name, ContentFile(b"adapter bytes"), save=True)
    return adapter


def test_an_adapter_page_says_what_it_is_and_offers_the_studio_and_the_download(maya, creator):
    adapter = _stored_adapter(creator)
    page = maya.get(f"/studio/adapters/{adapter.pk}/").content.decode()
    assert "“RESTORE” (start your prompts with it)" in page and "<dd>16</dd>" in page
    assert f'href="/studio/?adapter={adapter.pk}"' in page and f'href="/adapters/{adapter.pk}/download/"' in page
    assert f'href="/studio/adapters/{adapter.pk}/"' in maya.get("/dashboard/").content.decode()


def test_deleting_an_adapter_keeps_what_was_made_with_it(maya, creator, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    from studio.models import Generation

    adapter = _stored_adapter(creator)
    made = Generation.objects.create(owner=creator, adapter=adapter, prompt="p", state=Generation.State.SUCCEEDED)
    name = adapter.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = maya.post(f"/studio/adapters/{adapter.pk}/delete/", follow=True)
    assert "was deleted; what you made with it stays in the gallery" in response.content.decode()
    assert not Adapter.objects.exists() and not default_storage.exists(name)
    made.refresh_from_db()
    assert made.adapter is None


def test_an_adapter_is_not_deleted_while_a_generation_is_made_with_it(maya, creator):
    from studio.models import Generation

    adapter = _stored_adapter(creator)
    Generation.objects.create(owner=creator, adapter=adapter, prompt="p", state=Generation.State.RUNNING)
    response = maya.post(f"/studio/adapters/{adapter.pk}/delete/", follow=True)
    assert "still being made with this adapter" in response.content.decode()
    assert Adapter.objects.filter(pk=adapter.pk).exists()


def test_a_file_an_adapter_shares_with_a_checkpoint_stays(maya, creator, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    checkpoint = Checkpoint.objects.create(run=make_run(creator), step=50, size_bytes=5)
    adapter = _stored_adapter(creator, checkpoint=checkpoint)
    checkpoint.adapter_file.name = adapter.file.name
    checkpoint.save()
    with django_capture_on_commit_callbacks(execute=True):
        maya.post(f"/studio/adapters/{adapter.pk}/delete/")
    assert not Adapter.objects.exists() and default_storage.exists(checkpoint.adapter_file.name)


def test_another_creator_cannot_see_or_delete_an_adapter(creator, other_creator):
    from django.test import Client

    adapter = _stored_adapter(creator)
    otto = Client()
    otto.force_login(other_creator)
    assert otto.get(f"/studio/adapters/{adapter.pk}/").status_code == 404
    assert otto.post(f"/studio/adapters/{adapter.pk}/delete/").status_code == 404
    assert Adapter.objects.filter(pk=adapter.pk).exists()


@pytest.mark.parametrize(("name", "stem"), [
    ("Walks · step 250", "Walks_step_250"), ("Canny v1-step250", "Canny_v1-step250"), ("Café crème", "Cafe_creme"),
    ("../../etc", "etc"), ("···", "adapter"),
])
def test_downloaded_adapters_have_one_word_names_for_comfyui(name, stem):
    assert file_stem(name) == stem
