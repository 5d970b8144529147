# Sourced by the GPU check scripts, from the repository root: sets ROOT and OUT (default
# ./gpu-out, created), defines `run CMD...` (echo the command, run it, both into $OUT/log.txt),
# installs ganhub offline from the working tree plus the wheels carried in .whl/ (pydantic,
# mlxtend, monai, ...; benchmarks/gpu_wheels.sh downloads them) into /tmp, puts them on the
# paths, and writes the GPU and torch versions to $1 (default $OUT/gpu.txt).
# before any install: one line, then stop (a GPU machine has the driver's device file, and
# usually nvidia-smi; either one is enough)
if [ ! -e /dev/nvidiactl ] && ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "benchmarks/gpu_env.sh: no NVIDIA GPU here (no /dev/nvidiactl, no nvidia-smi); the gpu_*.sh checks run on a CUDA machine" >&2
    if [ "${#BASH_SOURCE[@]}" -gt 1 ]; then exit 2; fi   # a gpu_*.sh script: stop it
    return 2 2>/dev/null || exit 2   # sourced in a shell: back to it; run on its own: exit
fi
ROOT=${ROOT:-$(pwd)}
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
run() { echo "+ $*" | tee -a "$OUT/log.txt"; "$@" 2>&1 | tee -a "$OUT/log.txt"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$ROOT"/.whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/ganhub "$ROOT" || exit 1
export PYTHONPATH=/tmp/ganhub:/tmp/site
export PATH=/tmp/ganhub/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "${1:-$OUT/gpu.txt}"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "${1:-$OUT/gpu.txt}"
