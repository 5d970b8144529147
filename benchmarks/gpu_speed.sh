#!/usr/bin/env bash
# The GPU speed check in one device call (at most 9 minutes on an H100/H200), after
# `bash benchmarks/gpu_wheels.sh` here:
#   1. the speed options' CUDA tests: steps replayed as CUDA graphs and fused Adam train like
#      eager (tests/test_speed_options.py, the tests marked "needs a CUDA device");
#   2. benchmarks/gpu_speed.py without compile: classic loop, ganhub eager (fused and foreach
#      Adam), ganhub + CUDA graphs; fp32 and bf16 + channels_last; batch 128 and 1024;
#   3. the same at width 128 (ngf = ndf), bf16 + channels_last, batch 1024 and 4096: MFU;
#   4. benchmarks/gpu_speed.py with compile (and compile with inductor's layout optimisation
#      off) at batch 128, bf16 + channels_last;
#   5. StyleGAN2 at 256 px, s/kimg: fp32, mixed, mixed + CUDA graphs, mixed + compile
#      (benchmarks/stylegan.py speed --only cuda).
# Each step has its own time limit; logs go to $OUT (or ./gpu-out).
set -uo pipefail
source benchmarks/gpu_env.sh   # ROOT, OUT, run; the offline install
cd "$ROOT"
run timeout 80 python3 -m pytest -q -p no:cacheprovider tests/test_speed_options.py -k "gpu and not quick_mode"
run timeout 130 python3 benchmarks/gpu_speed.py --device cuda --skip compile --rounds 5 --steps 40 --warmup 15
run timeout 60 python3 benchmarks/gpu_speed.py --device cuda --skip compile --precision bf16+cl --batch 1024 4096 --width 128 --rounds 3 --steps 20 --warmup 10
run timeout 110 python3 benchmarks/gpu_speed.py --device cuda --precision bf16+cl --batch 128 --rounds 5 --steps 40 --warmup 15
run timeout 150 python3 benchmarks/stylegan.py speed --only cuda --steps 16
