#!/usr/bin/env bash
# Run here (with access to the package registries) before a GPU check: downloads into .whl/ the
# wheels ganhub needs that the GPU machine's image lacks (pydantic and its own dependencies,
# mlxtend, torch-fidelity, monai, nibabel, captum; about 10 MB), for its Python 3.12 on x86-64.
# benchmarks/gpu_env.sh installs them there without network access.
set -euo pipefail
mkdir -p .whl
common=(--only-binary=:all: --python-version 3.12 --platform manylinux_2_17_x86_64
        --platform manylinux2014_x86_64 --platform any -d .whl -q)
python3 -m pip download "${common[@]}" "pydantic>=2.5,<3"   # with pydantic-core, matched
python3 -m pip download "${common[@]}" --no-deps mlxtend torch-fidelity monai nibabel captum
ls .whl
