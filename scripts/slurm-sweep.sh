#!/usr/bin/env bash
# Run a quantlab sweep as a Slurm job array: each array task runs one shard,
# and a merge job joins the shards once every task has ended.
#
#   scripts/slurm-sweep.sh CONFIG.toml N [OUTDIR]            # submit N shards and the merge
#   scripts/slurm-sweep.sh CONFIG.toml N OUTDIR --tasks 3,7  # resubmit shards 3 and 7, merge again
#
# Each task runs `quantlab run CONFIG --shard I/N` (I = SLURM_ARRAY_TASK_ID)
# into OUTDIR/shard-I-of-N. The merge job waits with `afterany`, so it runs
# whatever became of the tasks (Slurm never satisfies `afterok` of an array
# once a task was cancelled or failed), and `quantlab merge` itself checks
# that every shard is complete: if one is not, the merge fails naming the
# missing cells and shards. Resubmit those shards with --tasks: a task
# resumes where it stopped (finished cells are kept, a changed input is
# refused), and a new merge follows it.
#
# Environment: QUANTLAB (the binary; default target/release/quantlab, built
# if missing), CPUS (per task, default 8), TIME (per task, default 04:00:00),
# SBATCH_ARGS (more sbatch options, e.g. a partition or an account).
set -euo pipefail
usage="usage: slurm-sweep.sh CONFIG.toml N_SHARDS [OUTDIR] [--tasks I,J,...]"
config=${1:?$usage}
shards=${2:?$usage}
out=${3:-results/$(basename "$config" .toml)}
tasks=0-$((shards - 1))
if [ "${4:-}" = --tasks ]; then tasks=${5:?$usage}; fi
bin=${QUANTLAB:-target/release/quantlab}
[ -x "$bin" ] || cargo build --release -p quantlab
bin=$(realpath "$bin")
cpus=${CPUS:-8}

# shellcheck disable=SC2086 # SBATCH_ARGS is a list of options
array=$(sbatch --parsable --array="$tasks" --cpus-per-task="$cpus" --time="${TIME:-04:00:00}" ${SBATCH_ARGS:-} \
  --job-name=quantlab-shard --output="slurm-%A_%a.out" --open-mode=append \
  --wrap="'$bin' run '$config' --out \"$out/shard-\${SLURM_ARRAY_TASK_ID}-of-$shards\" --shard \${SLURM_ARRAY_TASK_ID}/$shards --threads \${SLURM_CPUS_PER_TASK} --quiet")

shard_dirs=$(for i in $(seq 0 $((shards - 1))); do printf "'%s' " "$out/shard-$i-of-$shards"; done)
# shellcheck disable=SC2086
merge=$(sbatch --parsable --dependency=afterany:"$array" --cpus-per-task=1 ${SBATCH_ARGS:-} \
  --job-name=quantlab-merge --output="slurm-merge-%j.out" \
  --wrap="'$bin' merge '$out' $shard_dirs")
echo "submitted array job $array (tasks $tasks of $shards shards) and merge job $merge into $out"
