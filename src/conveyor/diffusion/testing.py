"""Builders for tests: a tiny random-weight Stable Diffusion pipeline folder, made offline.

Tests of the generic pipeline path need a real diffusers folder, but downloading even the
hub's "tiny-random" checkpoints is forbidden. Everything here is built from code, including
the CLIP tokenizer's vocabulary, so a fresh machine without network can run the suite. The
images are noise-like; only shapes, plumbing and determinism are meaningful.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

__all__ = ["build_tiny_sd_pipeline", "write_tiny_clip_vocab"]

_WORDS = ("the", "digit", "draw", "cat", "dog", "a", "of", "photo", "red", "blue")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character table (byte-level BPE alphabet)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def write_tiny_clip_vocab(folder: str | Path) -> tuple[Path, Path]:
    """Write a minimal CLIP ``vocab.json`` + ``merges.txt`` into ``folder``.

    The vocabulary holds every byte symbol alone and as a word end (``x</w>``), so any text
    tokenizes, plus merges for a few words so real merging is exercised too. Returns the paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    tokens: list[str] = symbols + [s + "</w>" for s in symbols]
    merges: list[tuple[str, str]] = []
    for word in _WORDS:
        current = word[0]
        for i, char in enumerate(word[1:], start=1):
            right = char + ("</w>" if i == len(word) - 1 else "")
            merges.append((current, right))
            current += right
            if current not in tokens:
                tokens.append(current)
    merges = list(dict.fromkeys(merges))
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    vocab_path = folder / "vocab.json"
    merges_path = folder / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    return vocab_path, merges_path


def build_tiny_sd_pipeline(path: str | Path, *, seed: int = 0) -> Path:
    """Save a tiny random ``StableDiffusionPipeline`` to ``path`` and return the folder.

    Components follow diffusers' own ``get_dummy_components`` tests (UNet with 4/8 channels,
    2-level VAE, 3-layer CLIP text encoder with 32 hidden units, DDIM scheduler) and are
    seeded, so the same ``seed`` always yields the same weights. Building takes about a second.
    """
    from conveyor.diffusion.loading import force_offline

    force_offline()
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out = Path(path)
    with tempfile.TemporaryDirectory() as vocab_dir:
        write_tiny_clip_vocab(vocab_dir)
        tokenizer = CLIPTokenizer.from_pretrained(
            vocab_dir, local_files_only=True, model_max_length=77
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(4, 8),
            layers_per_block=1,
            sample_size=32,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            norm_num_groups=2,
        )
        vae = AutoencoderKL(
            block_out_channels=(4, 8),
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4,
            norm_num_groups=2,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                hidden_size=32,
                intermediate_size=37,
                layer_norm_eps=1e-05,
                num_attention_heads=4,
                num_hidden_layers=3,
                max_position_embeddings=77,
                vocab_size=len(tokenizer),
            )
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(out, safe_serialization=True)
    return out
