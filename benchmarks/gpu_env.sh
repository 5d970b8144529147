# Sourced by the GPU check scripts: install ganhub offline from the working tree plus the
# wheels carried in .whl/ (pydantic, mlxtend, monai, ...) into /tmp, put them on the paths,
# and write the GPU and torch versions to $1.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/ganhub . || exit 1
export PYTHONPATH=/tmp/ganhub:/tmp/site
export PATH=/tmp/ganhub/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$1"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$1"
