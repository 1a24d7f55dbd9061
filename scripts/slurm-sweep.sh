#!/usr/bin/env bash
# Run a quantlab sweep as a Slurm job array: each array task runs one shard,
# and a dependent job merges the shards.
#
#   scripts/slurm-sweep.sh configs/my-sweep.toml 16          # 16 shards
#
# Each task runs `quantlab run CONFIG --shard I/N` (I = SLURM_ARRAY_TASK_ID)
# into <output>/shard-I-of-N; the merge job joins them into <output>. A task
# that is preempted or times out resumes where it stopped when resubmitted
# (finished cells are kept). Adjust the #SBATCH resources to your cluster.
set -euo pipefail
config=${1:?usage: slurm-sweep.sh CONFIG.toml N_SHARDS [OUTDIR]}
shards=${2:?usage: slurm-sweep.sh CONFIG.toml N_SHARDS [OUTDIR]}
out=${3:-results/$(basename "$config" .toml)}
bin=${QUANTLAB:-target/release/quantlab}
[ -x "$bin" ] || cargo build --release -p quantlab

array=$(sbatch --parsable --array=0-$((shards - 1)) --cpus-per-task=8 --time=04:00:00 \
  --job-name=quantlab-shard --output="slurm-%A_%a.out" \
  --wrap="$bin run '$config' --out '$out/shard-\${SLURM_ARRAY_TASK_ID}-of-$shards' --shard \${SLURM_ARRAY_TASK_ID}/$shards --threads \${SLURM_CPUS_PER_TASK} --quiet")

shard_dirs=$(for i in $(seq 0 $((shards - 1))); do printf '%s ' "$out/shard-$i-of-$shards"; done)
sbatch --dependency=afterok:"$array" --job-name=quantlab-merge --output="slurm-merge-%j.out" \
  --wrap="$bin merge '$out' $shard_dirs"
echo "submitted array job $array ($shards shards) and its merge into $out"
