#!/usr/bin/env bash
# Issue 13's ranking evidence on a 2-core CPU, step by step and resumable (rerun to continue):
# the cifar10_small ground-truth table, the supernets it judges, the few-shot parts, then the benchmark.
#   bash bench/ranking_cifar10_small.sh                      # every step, in order
#   bash bench/ranking_cifar10_small.sh table sandwich_nokd  # some steps (e.g. one stream per core):
#   bash bench/ranking_cifar10_small.sh sandwich fewshot progressive   # in a second shell, then `bench`
# Steps: table sandwich progressive sandwich_nokd sandwich_e20 fewshot bench. Each step skips what is finished; a killed
# supernet resumes from its last.ckpt, a killed table from its finished trainings. Every job uses one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="experiment=cifar10_small data=imagefolder data.root=${CIFAR10:-../shared/data/cifar10}"
RECIPE="epochs=6 trainer.check_val_every_n_epoch=6"
TABLE=outputs/table/c10_small
export OMP_NUM_THREADS=1

supernet() {  # name, overrides...
  local name=$1; shift
  local dir=outputs/c10s/$name
  [ -f $dir/metrics.json ] && return 0
  local resume=()
  [ -f $dir/checkpoints/last.ckpt ] && resume=(resume=$dir/checkpoints/last.ckpt)
  green-train $DATA trainer.enable_progress_bar=false "$@" "${resume[@]}" hydra.run.dir=$dir
}
ck() { echo outputs/c10s/$1/checkpoints/last.ckpt; }

step() {
  case $1 in
    table) green-table $DATA $RECIPE threads=1 trainer.enable_progress_bar=false hydra.run.dir=$TABLE ;;
    sandwich) supernet sandwich epochs=10 ;;
    progressive) supernet progressive strategy=progressive ;;
    sandwich_nokd) supernet sandwich_nokd epochs=10 strategy.kd_ratio=0 ;;
    sandwich_e20) supernet sandwich_e20 epochs=20 ;;   # schedule length: twice the epochs
    fewshot)
      [ -f outputs/c10s/sandwich/metrics.json ] || { echo "ranking_cifar10_small.sh: fewshot needs the finished sandwich supernet (step sandwich)" >&2; exit 2; }
      for v in 2 3 4; do
        supernet fewshot_d1_$v epochs=2 init_from=$(ck sandwich) fewshot.split=depth:1 fewshot.value=$v
      done ;;
    bench)
      python bench/ranking.py --table $TABLE --method sandwich=$(ck sandwich) --method progressive=$(ck progressive) \
        --method sandwich_nokd=$(ck sandwich_nokd) --method sandwich_e20=$(ck sandwich_e20) \
        --method fewshot_depth1=$(ck fewshot_d1_2),$(ck fewshot_d1_3),$(ck fewshot_d1_4) $DATA $RECIPE ;;
    *) echo "ranking_cifar10_small.sh: unknown step '$1' (table sandwich progressive sandwich_nokd sandwich_e20 fewshot bench)" >&2
       exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- table sandwich progressive sandwich_nokd sandwich_e20 fewshot bench; fi
for s in "$@"; do step "$s"; done
