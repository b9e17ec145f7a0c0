"""Train the bundled class-conditional digits diffusion model (about 7 minutes on 2 CPU cores).

Data: scikit-learn's 1,797 8x8 handwritten digits (shipped with scikit-learn, no download),
upsampled to 16x16 and scaled to [-1, 1]. Model: a diffusers ``UNet2DModel`` with
``num_class_embeds=10`` trained with the DDPM epsilon objective on a cosine noise schedule,
with an EMA of the weights saved (in fp16, to keep the shipped file small). Sampling uses DDIM
(see ``conveyor.diffusion.digits``). Everything is seeded, so a rerun with the same torch
version and thread count reproduces the weights.

Usage::

    python scripts/train_digits.py                 # writes src/conveyor/diffusion/models/digits
    python scripts/train_digits.py --steps 300 --out /tmp/digits   # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/conveyor/diffusion/models/digits"

UNET_CONFIG = {
    "sample_size": 16,
    "in_channels": 1,
    "out_channels": 1,
    "num_class_embeds": 10,
    "norm_num_groups": 8,
    "layers_per_block": 1,
    "block_out_channels": (32, 64, 64),
    "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
}
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    "clip_sample": True,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model folder to write")
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--ema", type=float, default=0.995, help="EMA decay of saved weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return parser.parse_args()


def main() -> None:
    args = parse_args()

    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, UNet2DModel
    from sklearn.datasets import load_digits

    from conveyor.diffusion.digits import digits_to_tensor

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = load_digits()
    images = digits_to_tensor(data.images)
    labels = torch.as_tensor(data.target, dtype=torch.long)

    unet = UNet2DModel(**UNET_CONFIG)
    noise_scheduler = DDPMScheduler(**SCHEDULER_CONFIG)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.steps, pct_start=max(0.05, 2 / args.steps)
    )
    ema = torch.optim.swa_utils.AveragedModel(
        unet, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema)
    )
    n_params = sum(p.numel() for p in unet.parameters())
    print(f"UNet2DModel: {n_params:,} parameters; {len(images)} training images", flush=True)

    rng = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    running = 0.0
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(images), (args.batch_size,), generator=rng)
        clean, classes = images[idx], labels[idx]
        noise = torch.randn(clean.shape, generator=rng)
        t = torch.randint(0, SCHEDULER_CONFIG["num_train_timesteps"], (len(idx),), generator=rng)
        noisy = noise_scheduler.add_noise(clean, noise, t)
        loss = F.mse_loss(unet(noisy, t, class_labels=classes).sample, noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        lr_schedule.step()
        ema.update_parameters(unet)
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 100 == 0 or step == args.steps:
            elapsed = time.perf_counter() - started
            print(f"step {step:5d}/{args.steps}  loss {running:.4f}  {elapsed:6.0f}s", flush=True)
    elapsed = time.perf_counter() - started

    out: Path = args.out
    for sub in ("unet", "scheduler"):
        shutil.rmtree(out / sub, ignore_errors=True)
    # nn.Module.to: diffusers' override warns about fp32-pinned modules, and this UNet has none.
    final = torch.nn.Module.to(ema.module, torch.float16)
    final.save_pretrained(out / "unet", safe_serialization=True)
    noise_scheduler.save_pretrained(out / "scheduler")
    meta = {
        "kind": "digits",
        "description": "class-conditional 16x16 digits, trained on sklearn load_digits",
        "classes": 10,
        "native_size": 16,
        "sampler": "ddim",
        "micro_batch": 8,
        "train": {
            "script": "scripts/train_digits.py",
            "steps": args.steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "ema": args.ema,
            "seed": args.seed,
            "threads": args.threads,
            "torch": torch.__version__.split("+")[0],
        },
    }
    (out / "conveyor.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    size = (out / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    print(f"trained in {elapsed:.0f}s; wrote {out} (weights {size / 1e6:.2f} MB)", flush=True)


if __name__ == "__main__":
    main()
