#!/usr/bin/env bash
# The diffusion workload's GPU check (bench/gpu_check.py) on a lent device machine.
#
# That machine reaches no registry and lacks a few of Conveyor's packages (diffusers, pydantic
# and the packages pydantic needs; it has Python 3.12, torch with CUDA, typer, rich, httpx).
#   here, once:  bash bench/gpu_check.sh fetch     # wheels for Python 3.12 into .whl/ (ignored)
#   there:       bash bench/gpu_check.sh [--seconds 30]   # the device tool's run, carry [".whl"]
# Anywhere else it runs with what is installed: bash bench/gpu_check.sh --device cpu
set -euo pipefail
cd "$(dirname "$0")/.."

wheels=(
  diffusers==0.42.1
  pydantic==2.13.4 pydantic_core==2.46.4 pydantic-settings==2.14.1
  annotated-types==0.7.0 typing-inspection==0.4.2 python-dotenv==1.2.2
  typing-extensions==4.16.0  # pydantic wants >= 4.14.1; the image's version is not on record
)

if [ "${1:-}" = fetch ]; then
  platforms=()
  for p in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${p}_x86_64")
  done
  exec python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d .whl "${wheels[@]}"
fi

if ! python3 -c "import diffusers, pydantic_settings" 2>/dev/null; then
  [ -d .whl ] || { echo "diffusers or pydantic is missing and there is no .whl/: run 'bash bench/gpu_check.sh fetch' where pip works, then carry .whl" >&2; exit 2; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec python3 bench/gpu_check.py "$@"
