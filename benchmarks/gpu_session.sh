#!/usr/bin/env bash
# One prepared run on a lent GPU machine (no internet there): SAM vit_b's time per frame on the
# GPU (issue 13), and whether a larger transient detector generalises better than the shipped one
# (issue 12: the same 5 held-out groups as benchmarks/results/transients_lodo.json, each model
# trained and scored in its own process, all sharing the GPU). Results of the session-9 run:
# benchmarks/results/behaviour_sam_cuda.json and transients_lodo_gpu.json.
#
#   bash benchmarks/gpu_session.sh OUTDIR CACHE [BUDGET_S]
#
# CACHE must hold cascade_ground_truth.pkl (the benchmark's own cache file); the crop pools are
# drawn there first. Each fold process gets what is left of BUDGET_S; whatever finished is packed
# into OUTDIR/gpu_results.tar.gz (logs, per-fold JSON, fold models). For a dry run on a CPU:
# DEVICE=cpu STEPS=20 POOL=200 SAM_FRAMES=2 bash benchmarks/gpu_session.sh /tmp/o CACHE 900
# (only 8 files come back from a lent machine: everything but the SAM result is packed in one).
set -u
OUTDIR=$1
CACHE=$2
BUDGET=${3:-400}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-4000}
BATCH=${BATCH:-128}
POOL=${POOL:-4000}
SAM_FRAMES=${SAM_FRAMES:-8}
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$OUTDIR/runs"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUTDIR/runs/gpu.txt" 2>&1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

# 1. SAM vit_b on the GPU (random weights: timing only), beside the pool drawing
timeout 200 python3 benchmarks/bench_behaviour_sam.py --device "$DEVICE" --frames "$SAM_FRAMES" --threads 2 \
  --out "$OUTDIR/behaviour_sam_cuda.json" >"$OUTDIR/runs/sam.log" 2>&1 &
SAM=$!

# 2. the datasets' crop pools (shared by every network: the pool tag leaves the network out)
python3 benchmarks/bench_transients_lodo.py --groups 5 --train-only --only 0 --workers 13 \
  --pool "$POOL" --cache "$CACHE" >"$OUTDIR/runs/pools.log" 2>&1
tail -2 "$OUTDIR/runs/pools.log"
wait $SAM
tail -4 "$OUTDIR/runs/sam.log"

# 3. two networks x 5 held-out groups, 4,000 steps of 128 crops (as many crops as the shipped
# recipe's 16,000 steps of 32): the shipped TCN as the control, and a TCN of 64 channels and ten
# dilated blocks (134 k parameters). Measured on an H200: 15 processes at 16,000 steps of 32 ran
# at about 60 ms per step, too slow for one session's budget; these 10 processes took 190-270 s.
declare -A NETS=(
  [small]="--arch tcn --hidden 24"
  [large]="--arch tcn --hidden 64 --dilations 1 2 4 8 16 1 2 4 8 16"
)
PIDS=()
for net in small large; do
  for k in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    timeout $(($(left) - 15)) python3 benchmarks/bench_transients_lodo.py --groups 5 \
      --steps "$STEPS" --batch-size "$BATCH" --select-recordings 5 --only $k --device "$DEVICE" \
      --pool "$POOL" ${NETS[$net]} --cache "$CACHE" --out "$OUTDIR/runs/${net}_fold$k.json" \
      >"$OUTDIR/runs/${net}_fold$k.log" 2>&1 &
    PIDS+=($!)
  done
done
for p in "${PIDS[@]}"; do wait "$p"; done
echo "finished after $(($(date +%s) - T0)) s"
for f in "$OUTDIR"/runs/*_fold*.log; do echo "$(basename "$f"): $(grep -E 'step [0-9]+/' "$f" | tail -1)"; done
find "$CACHE/lodo" -name '*.pt' -exec cp --parents {} "$OUTDIR/runs/" \; 2>/dev/null
tar czf "$OUTDIR/gpu_results.tar.gz" -C "$OUTDIR" runs && rm -rf "$OUTDIR/runs"
ls -la "$OUTDIR"
