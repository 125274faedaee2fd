#!/usr/bin/env bash
# The GPU check in one command (see benchmarks/gpu_check.py): gpu tests, bf16 training speed and MFU,
# our CROMA vs torchgeo's, torch.compile on CROMA, notebook 02 in full mode. Under 8 minutes on one GPU.
#   bash benchmarks/gpu_check.sh [OUT_DIR] [extra gpu_check.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-artifacts/gpu_check}"
shift || true
PYTHON="${PYTHON:-python}"
unset XMODAL_FAST
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" benchmarks/gpu_check.py --out "$out" --compile croma "$@"
