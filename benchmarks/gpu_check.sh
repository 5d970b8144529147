#!/usr/bin/env bash
# GPU checks for a lent CUDA machine (one call): install ganhub offline from the working tree
# plus carried wheels (.whl/: pydantic, mlxtend, monai, nibabel...), then
#   1. the overhead benchmark at batch 128 and 512, bf16 + channels_last (and fp32 for reference),
#   2. CUDA smoke runs of the loop options: fp16 with grad scaling + a gradient penalty,
#      bf16 + channels_last + EMA, torch.compile, and torchrun on one GPU,
#   3. any extra benchmark commands passed as arguments (each one quoted).
# Results are written under $OUT (or ./gpu-out) and echoed.
set -uo pipefail
source benchmarks/gpu_env.sh   # ROOT, OUT, run; the offline install
cd /tmp
run python3 -m ganhub plugins
run timeout 150 python3 $ROOT/benchmarks/overhead.py --device cuda --precision bf16 --channels-last --batch 128 512 --rounds 7 --steps 50
run timeout 90 python3 $ROOT/benchmarks/overhead.py --device cuda --precision 32 --batch 128 512 --rounds 3 --steps 50
run timeout 45 python3 -m ganhub run plugin=toy2d device=cuda precision=16 loss=wasserstein tricks=[gp,ema] trainer.steps=300 trainer.progress=false name=fp16gp
run timeout 75 python3 -m ganhub run plugin=dcgan device=cuda precision=bf16 trainer.channels_last=true tricks=[ema,diffaug] trainer.steps=1500 trainer.batch_size=128 trainer.progress=false name=bf16cl
run timeout 45 torchrun --standalone --nproc_per_node=1 -m ganhub run plugin=toy2d trainer.steps=200 trainer.progress=false name=ddp1
run timeout 100 python3 -m ganhub run plugin=dcgan device=cuda trainer.compile=true trainer.steps=300 trainer.progress=false loggers=[] eval.metrics=[] name=compiled
cp /tmp/runs/bf16cl/samples/step_0001500.png "$OUT/dcgan_bf16_cuda.png" 2>/dev/null
run timeout 120 python3 $ROOT/benchmarks/cyclegan.py speed --device cuda --precision bf16 --batch 1 8 --size 256 --rounds 3
run timeout 90 python3 $ROOT/benchmarks/cyclegan.py speed --device cuda --precision 32 --batch 1 8 --size 256 --rounds 3
run timeout 90 python3 -m ganhub run plugin=medgan device=cuda precision=16 tricks=[ema] trainer.steps=500 trainer.progress=false name=med16
for extra in "$@"; do run timeout 300 bash -c "$extra"; done
