"""The worker-side settings of generation tasks, and the shape of preview locations."""

from __future__ import annotations

import subprocess
import sys
from uuid import UUID

import pytest

from conveyor.diffusion import ModelRegistry
from conveyor.diffusion.previews import preview_key, preview_path
from conveyor.diffusion.runtime import (
    BATCH_SIZE_ENV_VAR,
    BATCH_WAIT_ENV_VAR,
    DEFAULT_BATCH_SIZE,
    batch_size_setting,
    batch_wait_setting,
    current_registry,
    use_registry,
)
from conveyor.diffusion.validation import FieldError, generation_task


def test_batch_size_setting() -> None:
    assert batch_size_setting({}) == DEFAULT_BATCH_SIZE == 8
    assert batch_size_setting({BATCH_SIZE_ENV_VAR: " 16 "}) == 16
    assert batch_size_setting({BATCH_SIZE_ENV_VAR: "1"}) == 1
    for bad in ("0", "257", "eight"):
        with pytest.raises(ValueError, match=BATCH_SIZE_ENV_VAR):
            batch_size_setting({BATCH_SIZE_ENV_VAR: bad})


def test_batch_wait_setting() -> None:
    assert batch_wait_setting({}) == 0.0
    assert batch_wait_setting({BATCH_WAIT_ENV_VAR: " 0.05 "}) == 0.05
    assert batch_wait_setting({BATCH_WAIT_ENV_VAR: "10"}) == 10.0
    for bad in ("-0.1", "11", "nan", "soon"):
        with pytest.raises(ValueError, match=BATCH_WAIT_ENV_VAR):
            batch_wait_setting({BATCH_WAIT_ENV_VAR: bad})


def test_image_tasks_take_the_batch_settings_of_their_process(
    subprocess_env: dict[str, str],
) -> None:
    """Read when the tasks module is imported, as a worker does: the flags of ``worker``
    and ``dev`` set the variables first (``export_diffusion_settings``)."""
    code = (
        "from conveyor.cli._options import export_diffusion_settings as e;"
        "e(max_batch_size=3, batch_wait_seconds=0.25);"
        "from conveyor.diffusion.tasks import GenerateImage as G;"
        "print(G.max_batch_size, G.batch_wait)"
    )
    env = {k: v for k, v in subprocess_env.items() if not k.startswith("CONVEYOR_")}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.stdout.split() == ["3", "0.25"], run.stderr


def test_use_registry_nests_and_restores(registry: ModelRegistry) -> None:
    other = ModelRegistry()
    assert current_registry() is registry  # the fixture's
    with use_registry(other):
        assert current_registry() is other
    assert current_registry() is registry


def test_preview_locations() -> None:
    job = UUID("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b")
    assert preview_key(job, 2, 10) == f"jobs/{job}/previews/2/10.png"
    assert preview_path(job, 2, 10) == f"/jobs/{job}/previews/2/10.png"


def test_generation_task_fixes_the_seed_and_the_models_defaults(registry: ModelRegistry) -> None:
    task = generation_task(registry, prompt="a four")
    assert task.params.seed is not None
    assert (task.params.width, task.params.height, task.params.guidance_scale) == (64, 64, 0.0)
    again = generation_task(registry, prompt="a four", seed=5)
    assert again.params.seed == 5


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"prompt": "7", "prompts": ["7"]}, ("prompt",)),
        ({"prompt": None, "prompts": []}, ("prompts",)),
        ({"prompt": None, "prompts": ["  "]}, ("prompts", 0)),
        ({"prompt": "7", "num_inference_steps": 0}, ("num_inference_steps",)),
        ({"prompt": "7", "guidance_scale": 101.0}, ("guidance_scale",)),
        ({"prompt": "7", "width": 513}, ("width",)),
    ],
)
def test_generation_task_names_the_field(
    registry: ModelRegistry, fields: dict[str, object], loc: tuple[object, ...]
) -> None:
    with pytest.raises(FieldError) as info:
        generation_task(registry, **fields)  # type: ignore[arg-type]
    assert info.value.loc == loc
