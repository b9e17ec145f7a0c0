#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run the whole suite.
# Used by the README and by .ci/run. Starts no service itself: the tests start their own
# throwaway PostgreSQL cluster, moto S3 server, API servers and workers on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }

# torch first and pinned: 2.13.0 is the CPU wheel on these machines; unpinned pulls CUDA.
"$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || pip_install torch==2.13.0
pip_install -e ".[server,postgres,s3,diffusion,dev]"

exec "$PY" -m pytest -q "$@"
