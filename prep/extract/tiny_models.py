"""Tiny random stand-ins for the depth model and the captioner, for tests and machines without real models.

They are the same classes as the real ones (DepthAnythingForDepthEstimation with a DINOv2 backbone and a DPT
image processor; Qwen2_5_VLForConditionalGeneration with a Qwen2 tokenizer and a Qwen2-VL image processor),
only narrow, seeded, and saved with `save_pretrained` so `load_depth_model` / `load_captioner` read them exactly
like an operator's folder. Their output is meaningless but deterministic; each folder is well under 1 MB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

# Qwen2.5-VL's special tokens, in the order real tokenizers number them.
QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                       "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")


def build_tiny_depth_model(folder: Path, seed: int = 0) -> Path:
    """Save a ~70 k-parameter Depth Anything V2 model and its image processor (56 px working size) in `folder`."""
    # transformers (~1 s): loaded only when a tiny model is built, not when the tests import this module
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    # A wider initialisation than the default 0.02: with it the random network's disparity is ~1e-7 and half
    # zeros after the final ReLU; at 0.1 it spans ~0..0.05 and follows the picture.
    init = 0.1
    backbone_args: dict[str, Any] = {
        "image_size": 56, "patch_size": 14, "hidden_size": 16, "num_hidden_layers": 4, "num_attention_heads": 2,
        "mlp_ratio": 2, "out_indices": [1, 2, 3, 4], "reshape_hidden_states": False, "initializer_range": init}
    backbone = Dinov2Config(**backbone_args)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, neck_hidden_sizes=[8, 16, 16, 16],
                                 fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="relative",
                                 initializer_range=init)
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(config).eval()
    # The processor settings of Depth-Anything-V2-Small-hf, at 56 px instead of 518.
    processor = DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
                                  resample=3, do_pad=False, image_mean=[0.485, 0.456, 0.406],
                                  image_std=[0.229, 0.224, 0.225])
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _tiny_qwen_tokenizer() -> Any:
    """A byte-level BPE without merges over printable ASCII, newline and tab, plus Qwen's special tokens.

    Only printable characters are in the vocabulary so that the random model's answers are visible text.
    """
    # transformers (~1 s): loaded only when a tiny model is built, not when the tests import this module
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    to_symbol = ByteLevel(add_prefix_space=False, use_regex=False)
    chars = [chr(9), chr(10)] + [chr(code) for code in range(32, 127)]
    symbols = [to_symbol.pre_tokenize_str(char)[0][0] for char in chars]
    vocab = {symbol: index for index, symbol in enumerate(symbols)}
    # Like Qwen's own tokenizer: no unknown token (its byte-level vocabulary covers every byte).
    specials: dict[str, Any] = {"unk_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], **specials)
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS)})
    tokenizer.model_max_length = 32768
    return tokenizer


def build_tiny_captioner(folder: Path, seed: int = 0) -> Path:
    """Save a ~70 k-parameter Qwen2.5-VL model, its tokenizer and image processor (≤ 56x56 px images) in `folder`."""
    # transformers (~1 s): loaded only when a tiny model is built, not when the tests import this module
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor

    tokenizer = _tiny_qwen_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 4096,
        # mrope sections (time, height, width) add up to head_dim / 2 = 8, as in the real model's layout.
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 2, 4]},
        "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {"depth": 2, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2, "out_hidden_size": 32,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56,
              "fullatt_block_indexes": [1]}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                              video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                              vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    # One to four merged 28 px patches per frame keeps a caption at a few dozen vision tokens.
    image_processor = Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=56 * 56, patch_size=14, merge_size=2,
                                            temporal_patch_size=2)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    return folder
