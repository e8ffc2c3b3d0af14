#!/usr/bin/env bash
# Green CNN ranking benchmark on a lent GPU, from the repo root:
#   set -o pipefail; bash .gpu/run.sh 2>&1 | tee $OUT/log.txt
# Step A: train the cifar supernet (a 2-epoch calibration run sizes E to end by A_END s).
# Step B: bench/ranking.py with its ground-truth trainings as parallel jobs (launcher=joblib, F_MAX epochs).
# LOCAL=1: tiny CPU settings, to check the script end to end without a GPU.
set -euo pipefail
T0=$(date +%s)
G=$(cd "$(dirname "$0")" && pwd)
SRC=$G/src
OUT=${OUT:?set OUT}
WORK=${WORK:-/tmp/green_work}
KEEP=${KEEP:-/tmp/green_keep}
LOCAL=${LOCAL:-0}
TOTAL=${TOTAL:-540}   # seconds from the start by which step B must end
A_END=${A_END:-285}   # seconds from the start by which step A must end
ts() { echo "=== $(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s $*"; }
left() { local s=$(( T0 + $1 - $(date +%s) )); [ $s -lt $2 ] && s=$2; echo $s; }
mkdir -p "$OUT" "$WORK" "$KEEP"
DATA=$WORK/cifar10   # the carried subset: cifar10.tar.gz holds train/<class>/*.jpg (3,000 a class) and test/ (all 10,000)
[ -d "$DATA" ] || tar -xzf "$G/cifar10.tar.gz" -C "$WORK"
if [ "$LOCAL" = 1 ]; then
  TR=cpu; MDEV=cpu; A_SMALL="data.train_subset=512 module.calib_images=256"; E_MIN=2; E_MAX=3; F_MAX=2; EXTRA="data.val_size=300"
  B_ARGS="--val-images 256 table.subnets=3 table.strata=1 table.pool=50 table.seeds=1 data.train_subset=512"
else
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$G"/whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  TR=gpu; MDEV=cuda; EXTRA=""; A_SMALL="data.train_subset=null"; E_MIN=4; E_MAX=100; F_MAX=${F_MAX:-8}
  B_ARGS="--val-images 5000 table.subnets=10 table.seeds=2 data.train_subset=25000"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
export PYTHONUNBUFFERED=1
python3 -c "import sys, torch, hydra, deap, codecarbon; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
DATA_OV="experiment=cifar10_cpu data=imagefolder data.root=$DATA data.num_workers=0 trainer=$TR data.batch_size=256 $EXTRA"
A_OV="$DATA_OV $A_SMALL optimizer.lr=0.15 scheduler.warmup_t=150 trainer.enable_progress_bar=false"
cd "$SRC"
CK=$KEEP/last.ckpt
if [ -f "$CK" ]; then
  ts "step A skipped: $CK kept from an earlier call"
else
  ts "step A0: supernet, 2-epoch calibration run"
  t=$(date +%s)
  timeout ${A0_LIMIT:-150} python3 -m supernet.train $A_OV epochs=2 paths.output_dir=$WORK/calibA hydra.run.dir=$WORK/hydra_calibA
  W=$(( $(date +%s) - t ))
  E=$(python3 "$G/epochs_fit.py" "$WORK/calibA" $W $(left $A_END 1) $E_MIN $E_MAX)
  cp "$WORK/calibA.json" "$OUT/"
  ts "step A: supernet, E=$E epochs"
  timeout $(left $(( A_END + 45 )) 60) python3 -m supernet.train $A_OV epochs=$E paths.output_dir=$WORK/train hydra.run.dir=$WORK/hydra_train
  ts "step A done"
  cp "$WORK/train/metrics.json" "$OUT/train_metrics.json"
  cp "$WORK/train/energy_train.json" "$OUT/"
  cp "$WORK/train/checkpoints/last.ckpt" "$CK"
  [ $(stat -c %s "$CK") -lt 16000000 ] && cp "$CK" "$OUT/last.ckpt"
  python3 -c "import json; m=json.load(open('$OUT/train_metrics.json'))['metrics']; print({k: round(v, 4) for k, v in m.items() if k.startswith('val/acc')})"
fi
ts "step B: bench/ranking.py, the ground-truth table's trainings as parallel jobs (launcher=joblib)"
# the product's own parallel path: Hydra's joblib launcher, JOBS processes sharing the GPU (exclusive=false)
timeout $(left $(( TOTAL + 30 )) 60) python3 bench/ranking.py --table "$WORK/table" --method sandwich="$CK" $B_ARGS \
  $DATA_OV trainer=$TR epochs=$F_MAX launcher=joblib launcher.jobs=${JOBS:-8} launcher.exclusive=false
cp "$SRC/outputs/bench/ranking.json" "$OUT/ranking.json"
ts "step B done"
python3 -c "import json; r=json.load(open('$OUT/ranking.json')); print({k: r.get(k) for k in ('kendall_tau', 'spearman', 'finetune_gain', 'finetune_gain_wins', 'recipe')})"
