#!/usr/bin/env bash
# One node's part of gpuconform.sbatch: run the suite and write reports to $GPUCONFORM_RESULTS/<host>.
# Extra pytest arguments come from GPUCONFORM_PYTEST_ARGS, split on whitespace (-m driver).
# gpuconform.sbatch has installed GPUCONFORM_REQUIREMENT into GPUCONFORM_PYTHON's environment.
set -euo pipefail

python="${GPUCONFORM_PYTHON:-python3}"
results="${GPUCONFORM_RESULTS:?set by gpuconform.sbatch}"
# The Slurm node name names the host in the results, so the roll-up can match it against
# `scontrol show hostnames` and name a node that sent nothing.
export GPUCONFORM_NODE_NAME="${SLURMD_NODENAME:-$(hostname -s)}"
host="$GPUCONFORM_NODE_NAME"
read -r -a extra <<< "${GPUCONFORM_PYTEST_ARGS:-}"

exec "$python" -m pytest --pyargs gpuconform.suites -p no:cacheprovider \
    --host-profile "${GPUCONFORM_PROFILE:-auto}" \
    --host-reports "$results/$host" \
    --host-strict \
    "${extra[@]}"
