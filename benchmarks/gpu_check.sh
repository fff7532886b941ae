#!/usr/bin/env bash
# The GPU checks, as one script for whoever has a CUDA GPU (no session can rely on one; the test suite covers the
# CPU path): the MNIST CNN in fp32, bf16 and fp16 (gradient scaler, channels-last, pinned copies), gradient
# accumulation, the fast recipe, and data-parallel training on every visible GPU; accuracy and seconds per epoch
# against fp32. Needs MNIST under $DLPIPE_DATA (default ../shared/data) or a download.
#
#   bash benchmarks/gpu_check.sh            # about 2-4 minutes on one H100
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DLPIPE_DATA:-}" ] && [ -d ../shared/data ]; then
  DLPIPE_DATA="$(cd ../shared/data && pwd)"
  export DLPIPE_DATA
fi
nvidia-smi -L || { echo "nvidia-smi found no GPU: nothing to check here"; exit 1; }
python3 -m pip install --quiet --disable-pip-version-check -e . >/dev/null 2>&1 || true
python3 benchmarks/gpu_check.py "$@"
