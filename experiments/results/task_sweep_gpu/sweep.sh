#!/usr/bin/env bash
# Candidate default tasks: final training (test split) over 14 feasible
# architectures x 3 seeds, then proxies against it. Usage: sweep.sh OUTDIR TOTAL_S [SMOKE]
OUTD=$1; TOTAL=$2; SMOKE=${3:-}
mkdir -p $OUTD
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
PY=${PY:-python3}
T0=$(date +%s)
NA=14; EXTRA=""
if [ -n "$SMOKE" ]; then NA=2; EXTRA="--reference_seeds=0"; fi
FM="--config.data.name=fashion_mnist --config.data.data_dir=.gpu/fmnist --config.data.val_fraction=0.05"
GAP="--config.train.head=gap --config.train.head_lr_scale=1.0 --config.final.head_lr_scale=1.0"
job() {  # name steps_for_smoke ref_args... ; then proxies
  name=$1; variants=$2; shift 2
  left=$(( TOTAL - ($(date +%s) - T0) - 25 ))
  RS=""; [ -n "$SMOKE" ] && RS="--reference_train=steps=3"
  timeout $left $PY -m experiments.proxy_fidelity --config=experiments/configs/default.py "$@" \
     --num_archs=$NA --seeds= $EXTRA $RS --out=$OUTD/$name.ref.json > $OUTD/$name.ref.log 2>&1
  left=$(( TOTAL - ($(date +%s) - T0) - 25 ))
  [ -f $OUTD/$name.ref.json ] || return
  PS="--seeds=0,1,2"; [ -n "$SMOKE" ] && PS="--seeds=0"
  if [ -n "$SMOKE" ]; then variants="steps=2"; fi
  timeout $left $PY -m experiments.proxy_fidelity --config=experiments/configs/default.py "$@" \
     --num_archs=$NA $PS --reference=$OUTD/$name.ref.json --variants="$variants" \
     --out=$OUTD/$name.proxy.json > $OUTD/$name.proxy.log 2>&1
}
PV="steps=100,learning_rate=0.05;steps=200,learning_rate=0.05"
job e_flat "steps=40;steps=200" &
job e_gap05 "$PV" $GAP --config.final.learning_rate=0.05 &
job e_gap02 "$PV" $GAP --config.final.learning_rate=0.02 &
job f_gap "$PV" $FM $GAP --config.final.learning_rate=0.05 --config.final.steps=2000 &
job f_flat "steps=40;steps=200" $FM --config.final.steps=2000 &
job e_gapn "$PV" $GAP --config.final.learning_rate=0.05 "--config.space.filters=(8,16,24,32)" --config.specs.min_fps=1900 --config.reward.eff_hi=3800 &
job f_gap1k "$PV" $FM $GAP --config.final.learning_rate=0.05 --config.final.steps=1000 &
job e_gap600 "$PV" $GAP --config.final.learning_rate=0.05 --config.final.steps=600 &
wait
nvidia-smi --query-gpu=name,memory.used --format=csv > $OUTD/gpu.txt 2>&1
$PY -c "import jax, flax, optax, orbax.checkpoint as o; print(jax.__version__, flax.__version__, optax.__version__, jax.devices())" >> $OUTD/gpu.txt 2>&1
echo "elapsed $(( $(date +%s) - T0 ))" >> $OUTD/gpu.txt
