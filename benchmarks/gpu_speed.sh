#!/usr/bin/env bash
# The GPU speed check in one device call (about 8 minutes on an H200; each step is time-boxed,
# at most 10 minutes in all), after `bash benchmarks/gpu_wheels.sh` here:
#   1. the CUDA tests: steps replayed as CUDA graphs and fused Adam train like eager
#      (tests/test_speed_options.py), StyleGAN's fp16 blocks in channels_last compute the same
#      (tests/plugins/test_stylegan_layers.py), precision=16 runs where an optimizer steps
#      twice a step (tests/test_gpu_runs.py);
#   2. benchmarks/gpu_speed.py without compile: classic loop, ganhub eager (fused and foreach
#      Adam), ganhub + CUDA graphs; fp32 and bf16 + channels_last; batch 128 and 1024;
#   3. model FLOPs utilisation at the DCGAN paper's widths: 64 px, width 128 (ngf = ndf),
#      bf16 with and without channels_last, batch 2048 (compile included: with channels_last
#      it fails there with torch 2.11, one line per row; without, it works), and channels_last
#      on D's or G's convolutions only (--layouts: where the layout copies come from);
#   4. StyleGAN2 at 256 px, s/kimg: fp32, mixed, mixed + CUDA graphs, mixed + compile, and
#      mixed with the fp16 blocks in channels_last, eager and compiled
#      (benchmarks/stylegan.py speed --only cuda), at StyleGAN2-ADA's one-GPU batch, 16;
#   5. `ganhub interpret directions|features|probes --device cuda` on a short dcgan run
#      (the first also trains the digits classifier that scores walks, about a minute).
# benchmarks/gpu_profile.sh says where the time goes (kernels by group and operator).
# Each step has its own time limit; logs go to $OUT (or ./gpu-out).
set -uo pipefail
source benchmarks/gpu_env.sh   # ROOT, OUT, run; the offline install
cd "$ROOT"
run timeout 55 python3 -m pytest -q -p no:cacheprovider tests/test_speed_options.py tests/plugins/test_stylegan_layers.py tests/test_gpu_runs.py -k "(gpu and not quick_mode) or cuda"
run timeout 110 python3 benchmarks/gpu_speed.py --device cuda --skip compile --rounds 5 --steps 40 --warmup 15
run timeout 110 python3 benchmarks/gpu_speed.py --device cuda --skip nchw foreach --size 64 --width 128 --precision bf16+cl bf16 --batch 2048 --rounds 3 --steps 10 --warmup 8 --layouts
run timeout 150 python3 benchmarks/stylegan.py speed --only cuda --steps 12 --batch 16
cd /tmp
run timeout 130 bash -c "python3 -m ganhub run plugin=dcgan device=cuda trainer.steps=60 trainer.progress=false eval.metrics=[] name=gpuint && python3 -m ganhub interpret directions runs/gpuint --device cuda --samples 256 && python3 -m ganhub interpret features runs/gpuint --device cuda && python3 -m ganhub interpret probes runs/gpuint --device cuda --samples 256"
