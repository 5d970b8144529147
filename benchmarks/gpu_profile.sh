#!/usr/bin/env bash
# Where the GPU time goes, in one device call (about 4 minutes on an H200, each step
# time-boxed), after `bash benchmarks/gpu_wheels.sh` here:
#   1. the kernels of DCGAN's step at the DCGAN paper's widths (64 px, width 128), bf16 +
#      channels_last, batch 2048, under CUDA graphs (benchmarks/gpu_profile.py);
#   2. the same step eager, its copy and layout-conversion kernels by the operators that
#      launched them (--attribute);
#   3. the kernels of StyleGAN2's 256 px mixed-precision step at batch 16, eager and compiled;
#   4. the StyleGAN2 filter's implementations side by side (benchmarks/stylegan_filter.py).
# Logs go to $OUT (or ./gpu-out).
set -uo pipefail
source benchmarks/gpu_env.sh   # ROOT, OUT, run; the offline install
cd "$ROOT"
dcgan64=(plugin=dcgan precision=bf16 trainer.channels_last=true trainer.batch_size=2048 model.image_size=64 model.g_channels=128 model.d_channels=128)
run timeout 45 python3 benchmarks/gpu_profile.py "${dcgan64[@]}" trainer.cuda_graphs=true --steps 5 --warmup 8 --top 25
run timeout 50 python3 benchmarks/gpu_profile.py "${dcgan64[@]}" --steps 3 --warmup 5 --top 14 --attribute
sg256=(plugin=stylegan preset=auto model.image_size=256 model.fp16_res=4 trainer.batch_size=16)
run timeout 40 python3 benchmarks/gpu_profile.py "${sg256[@]}" --steps 4 --warmup 6 --top 20 --attribute
run timeout 75 python3 benchmarks/gpu_profile.py "${sg256[@]}" trainer.compile=true --steps 8 --warmup 16 --top 20
run timeout 60 python3 benchmarks/stylegan_filter.py --reps 3
