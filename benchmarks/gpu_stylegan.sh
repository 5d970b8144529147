#!/usr/bin/env bash
# StyleGAN checks for a lent CUDA machine, in one call (benchmarks/gpu_env.sh installs from the
# working tree plus the wheels carried in .whl/):
#   1. `benchmarks/stylegan.py speed --only cuda`: 256x256 batch 32, fp32 vs mixed precision,
#      alone on the GPU;
#   2. then, side by side on the GPU (each process is launch-bound, so they share it well):
#      - a long default run scoring G vs G_ema by FD over training (`fd`, time-boxed),
#      - the default and CPU-preset candidates, each for the steps that 500 s of training
#        buys on the 2-core development CPU (s/kimg measured there), scored by FD at the end,
#      - CUDA runs through the CLI: the default, and preset=auto at 64 px in mixed precision.
# Everything is written under /tmp/sg and packed into $OUT/stylegan_gpu.tar.gz.
set -uo pipefail
SG=/tmp/sg
mkdir -p "$SG"
export OMP_NUM_THREADS=2
source benchmarks/gpu_env.sh "$SG/gpu.txt"   # ROOT, OUT, run; the offline install
cd /tmp

timeout 170 python3 "$ROOT/benchmarks/stylegan.py" speed --only cuda --steps 24 2>&1 | tee "$SG/speed.txt"

SECONDS_BOX=${SECONDS_BOX:-270}
fd() {  # fd LABEL ARGS...: one FD run in the background, its table in $SG/LABEL.txt
    local label=$1
    shift
    timeout $((SECONDS_BOX + 80)) python3 "$ROOT/benchmarks/stylegan.py" fd --device cuda --n 2000 \
        --seconds "$SECONDS_BOX" --label "$label" --save "$SG" "$@" >"$SG/$label.txt" 2>&1 &
}
NOREG="objective.pl_weight=0 objective.style_mixing=0"
fd long --steps 100000 --eval-every 500
# steps = 500 s / (CPU s/kimg) * 1000 / batch, CPU s/kimg measured on the 2-core machine
fd A_default --steps 917 --eval-every 229
fd B_noreg --steps 1081 --eval-every 270 --set $NOREG
fd E_cmax32 --steps 1260 --eval-every 315 --set model.channel_max=32
fd C_cmax32_noreg --steps 1594 --eval-every 398 --set model.channel_max=32 $NOREG
fd C_b32 --steps 1157 --eval-every 289 --set model.channel_max=32 trainer.batch_size=32 $NOREG
fd C_b8 --steps 2648 --eval-every 662 --set model.channel_max=32 trainer.batch_size=8 $NOREG
fd C_cbase512 --steps 1990 --eval-every 497 --set model.channel_max=32 model.channel_base=512 $NOREG
(timeout 200 ganhub run plugin=stylegan device=cuda trainer.steps=400 trainer.max_seconds=null \
    trainer.progress=false name=cli_default >"$SG/cli_default.txt" 2>&1 &&
    timeout 60 ganhub sample runs/cli_default >>"$SG/cli_default.txt" 2>&1) &
timeout 240 ganhub run plugin=stylegan preset=auto model.image_size=64 device=cuda trainer.steps=300 \
    trainer.log_every=50 trainer.sample_every=0 trainer.progress=false name=cli_auto64 \
    >"$SG/cli_auto64.txt" 2>&1 &
wait

for f in "$SG"/*.txt; do echo "== $(basename "$f")"; grep -v -i warn "$f" | tail -n 14; done | tee "$OUT/summary.txt"
cp runs/cli_auto64/metrics.jsonl "$SG/cli_auto64_metrics.jsonl" 2>/dev/null
cp -r runs/cli_default/samples "$SG/cli_default_samples" 2>/dev/null
tar czf "$OUT/stylegan_gpu.tar.gz" -C /tmp sg
