#!/usr/bin/env bash
# tools/gpu_truth.sh [OUT]: what PyTorch and JAX really do on one GPU host, recorded in one folder.
#
# For an NVIDIA H200 host with driver 580, PyTorch built for CUDA 13, JAX with its CUDA 13 plugin,
# nvidia-ml-py and pip CUDA/cuDNN libraries, no TensorFlow and no network. It runs the conformance
# suite (every layer: platform, driver, libraries, framework, placement, memory, determinism,
# preprocessing) live with the h200-torch-jax profile (tools/profiles/), and writes to OUT ($1, else
# $OUT, else ./gpu-truth-<UTC time>):
#
#   facts.json result.json junit.xml report.html   the run's reports (facts.json: every fact and
#                                                  every child's answers, exit and log)
#   children/NN-<framework>-<module>.json          each framework child's answers, one file each
#   low/                                           the same reports of a first, short run of the
#                                                  platform, driver and libraries layers alone
#   host/                                          nvidia-smi, pip list, python, uname, environment
#   steps.tsv, <step>.log                          each step: exit status, seconds, output
#
# Each step runs under `timeout` (the suite gets SIGINT first, so it still writes its reports),
# and a failing step never stops the next: the whole run stays under GPU_TRUTH_BUDGET seconds
# (default 450, 7.5 minutes). Exit status: the suite's (0 the host conforms, 1 it does not, ...),
# or 3 when it left no result.json. On a host without a GPU it runs the same way, and every GPU
# check says it does not apply (the driver layer: no NVIDIA GPU).
#
# gpuconform and the packages the host lacks come from a folder of wheels carried beside the
# checkout (GPU_TRUTH_WHEELS, default <checkout>/gpu-truth-wheels; build it where pip reaches the
# registry: `python tools/carried_wheels.py build gpu-truth-wheels`). They install into OUT/site,
# on PYTHONPATH for this run only: the host's own environment is not changed. Without that folder
# the gpuconform already installed for GPU_TRUTH_PYTHON is used, if there is one.
#
#   GPU_TRUTH_PYTHON   the interpreter that holds the frameworks (default python3)
#   GPU_TRUTH_PROFILE  the host profile (default tools/profiles/h200-torch-jax.toml)
#   GPU_TRUTH_BUDGET   seconds for the whole run (default 450)
set -uo pipefail

checkout="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${OUT:-gpu-truth-$(date -u +%Y%m%dT%H%M%SZ)}}"
python="${GPU_TRUTH_PYTHON:-python3}"
wheels="${GPU_TRUTH_WHEELS:-$checkout/gpu-truth-wheels}"
profile="${GPU_TRUTH_PROFILE:-$checkout/tools/profiles/h200-torch-jax.toml}"
budget="${GPU_TRUTH_BUDGET:-450}"
started=$SECONDS

mkdir -p "$out/host" "$out/low" "$out/children" || { echo "gpu_truth: cannot create $out" >&2; exit 3; }
out="$(cd "$out" && pwd)"
trap 'echo "gpu_truth: everything it recorded is in $out"' EXIT
printf 'step\texit\tseconds\n' >"$out/steps.tsv"

left() { echo $((budget - (SECONDS - started))); }

# step NAME LIMIT COMMAND...: run COMMAND under `timeout` (SIGINT, then SIGKILL 20 s later), its
# output to NAME.log, and record its exit status and seconds. LIMIT is capped by what the budget has left.
step() {
    local name=$1 limit=$2 begun=$SECONDS rc
    shift 2
    local rest
    rest=$(($(left) - 5))
    ((limit > rest)) && limit=$rest
    if ((limit < 1)); then
        printf '%s\tskipped: budget spent\t0\n' "$name" >>"$out/steps.tsv"
        return 124
    fi
    timeout -s INT -k 20 "$limit" "$@" >"$out/$name.log" 2>&1
    rc=$?
    printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - begun))" >>"$out/steps.tsv"
    echo "gpu_truth: $name: exit $rc after $((SECONDS - begun)) s (limit $limit s)"
    return "$rc"
}

# --- the host as it is, before anything runs --------------------------------------------------
{
    date -u +%Y-%m-%dT%H:%M:%SZ
    uname -a
    "$python" -VV
    "$python" -c 'import sys; print(sys.executable)'
} >"$out/host/system.txt" 2>&1
env | grep -E '^(CUDA_|NVIDIA_|LD_LIBRARY_PATH=|XLA_|JAX_|TF_|PYTORCH_|CUBLAS_|CUDNN_|NCCL_)' | sort >"$out/host/environment.txt"
step host-nvidia-smi 30 nvidia-smi -q
cp "$out/host-nvidia-smi.log" "$out/host/nvidia-smi-q.txt" 2>/dev/null
step host-pip-list 60 "$python" -m pip list --format=freeze
cp "$out/host-pip-list.log" "$out/host/pip-list.txt" 2>/dev/null

# --- gpuconform, and what the host lacks of its needs, from the carried wheels -----------------
site="$out/site"
if [ -d "$wheels" ]; then
    if step install-pick 30 "$python" "$checkout/tools/carried_wheels.py" missing "$wheels"; then :; fi
    mapfile -t needed < <(grep '\.whl$' "$out/install-pick.log")
    if ((${#needed[@]})); then
        step install 120 "$python" -m pip install --no-index --no-deps --no-compile --no-cache-dir \
            --disable-pip-version-check --upgrade --target "$site" "${needed[@]}"
    fi
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
else
    echo "gpu_truth: no carried wheels at $wheels; using the gpuconform installed for $python" | tee "$out/install.log"
fi
step gpuconform-version 30 "$python" -c 'import gpuconform; print("gpuconform", gpuconform.__version__, "from", gpuconform.__file__)'

# --- the suite: the lower layers alone first (quick, so facts exist whatever follows), then all --
# From OUT, so no conftest.py or pytest.ini of the checkout joins in.
suite=("$python" -m pytest --pyargs gpuconform.suites -p no:cacheprovider -rA --host-profile "$profile"
    --host-probe-timeout 20)
(cd "$out" && step low 90 "${suite[@]}" -m "platform or driver or libraries" --host-reports "$out/low")
(cd "$out" && step suite "$(($(left) - 25))" "${suite[@]}" --host-tf-timeout 150 --host-reports "$out")
suite_rc=$(awk -F'\t' '$1 == "suite" {print $2}' "$out/steps.tsv")

# --- every child's answers, one file each (they are in facts.json as well) --------------------
facts="$out/facts.json"
[ -f "$facts" ] || facts="$out/low/facts.json"
step children 20 "$python" -c '
import json, pathlib, sys
facts, where = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
children = json.loads(facts.read_text()).get("observations") or []
for n, child in enumerate(children, 1):
    framework, module = child.get("framework", "unknown"), child.get("module", "unknown")
    name = f"{n:02d}-{framework}-{module}.json"
    (where / name).write_text(json.dumps(child, indent=2) + "\n")
    print(name, "exit", child.get("returncode"), "timed out" if child.get("timed_out") else "")
print(len(children), "children from", facts)
' "$facts" "$out/children"

# --- what it came to ---------------------------------------------------------------------------
echo
column -t -s $'\t' "$out/steps.tsv" 2>/dev/null || cat "$out/steps.tsv"
grep -h 'host verdict' "$out/low.log" "$out/suite.log" 2>/dev/null
for f in facts.json result.json junit.xml low/facts.json low/result.json; do
    [ -f "$out/$f" ] && echo "  $out/$f" || echo "  $out/$f: not written (see the step logs)"
done
echo "total: $((SECONDS - started)) s of a $budget s budget"
if [ ! -f "$out/result.json" ]; then
    exit 3
fi
exit "${suite_rc:-3}"
