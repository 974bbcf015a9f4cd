"""Auto-captions for target clips with Qwen2.5-VL: a few frames of the clip in, one or two sentences out.

The model is a local folder (saved with `save_pretrained`) that an operator names in CAPTION_MODEL_PATH.
Frames go to the model as a sequence of images in order (Qwen2.5-VL reads several images natively). This
goes through the image processor only: transformers' video processors need torchvision, which this project
does not install. Decoding is greedy, so the same clip always gets the same caption.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from prep.extract.base import ExtractionError
from prep.extract.loading import FolderCache, model_folder_problem, resolve_device, short_reason
from prep.extract.video import clip_format, read_frames

if TYPE_CHECKING:  # torch is imported where it is used: the web process never needs it
    import torch

CAPTION_MODEL_TYPES = ("qwen2_5_vl",)
NOT_CONFIGURED = (
    "Automatic captions are not available on this server yet: an operator has to set up a captioning model "
    "(CAPTION_MODEL_PATH). You can type your captions yourself."
)
EMPTY_CAPTION = "The captioner returned nothing for this clip; type a caption instead."

# What the target looks like, never the reference: words about the control signal would teach the adapter to
# expect them in prompts, so the prompt does not even name it.
CAPTION_PROMPT = (
    "Write a caption for this video clip in one or two sentences of plain prose. Describe the scene and "
    "setting, the main subject and what it does, the visual style, colours and lighting, and the motion of the "
    "subject and of the camera. Write only the caption, with no introduction, list or quotation marks."
)
FRAMES_INTRO = "These {count} images are frames of one video clip, in order."

# Frames are shrunk to at most this many pixels before the processor: ~256 image tokens each, so 8 frames fit
# in ~2k tokens whatever the clip's resolution (the processor's own limit allows ~16k tokens per image).
FRAME_MAX_PIXELS = 448 * 448
SYSTEM_PROMPT = "You are a helpful assistant."
IMAGE_PAD, VISION_START, VISION_END = "<|image_pad|>", "<|vision_start|>", "<|vision_end|>"


# --- The model folder ------------------------------------------------------------------------------------------


def captioner_problem(path: str | Path | None) -> str | None:
    """Why the folder at `path` cannot serve as the captioner, in plain words; None when it looks usable.

    Cheap: reads config.json and lists files, never loads weights.
    """
    if path is None or str(path).strip() == "":
        return NOT_CONFIGURED
    return model_folder_problem(
        Path(path), "captioning model", CAPTION_MODEL_TYPES,
        "a Qwen2.5-VL model such as Qwen/Qwen2.5-VL-7B-Instruct",
        [(("tokenizer.json", "vocab.json"), "has no tokenizer; save the tokenizer there too "
          "(AutoTokenizer.save_pretrained)."),
         (("preprocessor_config.json",), "has no preprocessor_config.json; save the image processor there too "
          "(AutoImageProcessor.save_pretrained).")])


@dataclass
class Captioner:
    """A loaded Qwen2.5-VL model with its tokenizer and image processor."""

    path: Path
    device: torch.device
    model: Any
    tokenizer: Any
    image_processor: Any

    def describe(self, frames: list[np.ndarray], instruction: str, max_new_tokens: int) -> str:
        """The model's raw answer (special tokens removed) to `instruction` about `frames`, each (H, W, 3) uint8."""
        # torch: loaded only to run the model; the web process imports this module for its checks
        import torch

        vision = self.image_processor(images=frames, return_tensors="pt")
        grids = vision["image_grid_thw"]  # (N, 3): time, height, width in patches
        merge = int(getattr(self.image_processor, "merge_size", 2))
        tokens_per_image = (grids.prod(dim=-1) // (merge * merge)).tolist()
        text = self.tokenizer(chat_prompt(tokens_per_image, instruction), return_tensors="pt",
                              add_special_tokens=False)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=text["input_ids"].to(self.device),
                attention_mask=text["attention_mask"].to(self.device),
                pixel_values=vision["pixel_values"].to(self.device, dtype=self.model.dtype),
                image_grid_thw=grids.to(self.device),
                generation_config=self._greedy(max_new_tokens),
            )
        answer = out[0, text["input_ids"].shape[1]:]
        return str(self.tokenizer.decode(answer, skip_special_tokens=True))

    def _greedy(self, max_new_tokens: int) -> Any:
        # torch/transformers: loaded only to run the model; the web process imports this module for its checks
        from transformers import GenerationConfig

        eos = self.model.generation_config.eos_token_id
        # A fresh config rather than the folder's: Qwen's own samples at temperature > 0, captions must repeat.
        return GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, repetition_penalty=1.05,
            eos_token_id=eos if eos is not None else self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )


def chat_prompt(tokens_per_image: list[int], instruction: str) -> str:
    """Qwen2.5-VL's chat format: one image placeholder run per frame, then the instruction, then the answer cue.

    Each image's placeholder is repeated as many times as the image has merged patches, as the model expects.
    """
    vision = "".join(f"{VISION_START}{IMAGE_PAD * count}{VISION_END}" for count in tokens_per_image)
    return (f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n"
            f"<|im_start|>user\n{vision}{instruction}<|im_end|>\n<|im_start|>assistant\n")


_CACHE: FolderCache[Captioner] = FolderCache()


def load_captioner(path: str | Path, device: str = "cpu") -> Captioner:
    """The captioner in folder `path` on `device` ("cpu", "cuda", "cuda:N" or "auto"), loaded once per worker.

    A broken folder raises ExtractionError with a plain message.
    """
    problem = captioner_problem(path)
    if problem is not None:
        raise ExtractionError(problem)
    return _CACHE.get(Path(path), resolve_device(device), _load_uncached)


def _load_uncached(folder: Path, device: torch.device) -> Captioner:
    # torch/transformers: loaded only to run the model; the web process imports this module for its checks
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    dtype = torch.float32
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # Anything can go wrong in a copied folder (truncated safetensors, hand-edited JSON, a newer format): every
    # failure gets the same plain sentence, with the library's reason for the operator.
    try:
        model: Any = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder, dtype=dtype)
        model = model.to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder)
        image_processor = AutoImageProcessor.from_pretrained(folder)
    except Exception as err:
        raise ExtractionError(f"The captioning model in {folder} could not be loaded ({short_reason(err)}).") from err
    return Captioner(folder, device, model, tokenizer, image_processor)


# --- Captioning ------------------------------------------------------------------------------------------------


def sample_frames(src: Path, count: int) -> list[np.ndarray]:
    """`count` frames spread evenly over the clip, first and last included, each (h, w, 3) uint8 RGB shrunk
    to at most FRAME_MAX_PIXELS. A clip with fewer frames gives all of them."""
    if count < 1:
        raise ExtractionError("At least one frame is needed to caption a clip.")
    fmt = clip_format(src)
    total = fmt.frames
    if total < 1:
        raise ExtractionError(f"{src.name} has no frames to caption.")
    wanted = set(np.linspace(0, total - 1, num=min(count, total)).round().astype(int).tolist())
    picked = [_shrink(frame) for index, frame in enumerate(read_frames(src, fmt)) if index in wanted]
    if not picked:
        raise ExtractionError(f"{src.name} has no frames to caption.")
    return picked


def _shrink(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    scale = (FRAME_MAX_PIXELS / (height * width)) ** 0.5
    if scale >= 1:
        return frame.copy()  # read_frames' buffers are read-only views
    size = (max(28, round(width * scale)), max(28, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def caption_clip(captioner: Captioner, src: Path, frames: int = 8, max_new_tokens: int = 120) -> str:
    """One or two sentences describing the clip at `src` (scene, subject, style, motion) from `frames` frames.

    Raises ExtractionError when the clip cannot be read or the model answers nothing usable.
    """
    images = sample_frames(Path(src), frames)
    instruction = f"{FRAMES_INTRO.format(count=len(images))} {CAPTION_PROMPT}"
    try:
        raw = captioner.describe(images, instruction, max_new_tokens)
    except (RuntimeError, ValueError) as err:
        raise ExtractionError(f"The captioner failed on this clip ({short_reason(err)}).") from err
    caption = clean_caption(raw, instruction)
    if not caption:
        raise ExtractionError(EMPTY_CAPTION)
    return caption


_SPECIAL = re.compile(r"<\|[^|<>]*\|>")
_LABEL = re.compile(r"^(?:assistant\s*:?|caption\s*:|description\s*:)\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def clean_caption(text: str, prompt: str = "") -> str:
    """The model's answer as a caption: special tokens, an echoed prompt, labels, control characters, quotes
    and a sentence cut off by the token limit removed, whitespace collapsed. May return ""."""
    text = _SPECIAL.sub(" ", text)
    if prompt and prompt in text:
        text = text.split(prompt, 1)[1]
    # Unreadable bytes and control characters are what a model emits when it has nothing sensible to say.
    text = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch
                   for ch in text.replace("\ufffd", " "))
    text = " ".join(text.split())
    previous = None
    while previous != text:  # "assistant", then "Caption:", then quotes: peel until nothing changes
        previous = text
        text = _LABEL.sub("", text).strip().strip("\"'“”‘’` ").strip()
    return _drop_unfinished_sentence(text)


def _drop_unfinished_sentence(text: str) -> str:
    """Cut after the last full sentence when the answer stopped mid-sentence (max_new_tokens reached)."""
    if not text or text[-1] in ".!?":
        return text
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()] if ends else text
