#!/usr/bin/env bash
# Set up a one-node Slurm cluster on this machine (Debian 12, as root), from
# scratch, to test scripts/slurm-sweep.sh for real: munge for
# authentication, slurmctld and slurmd without systemd or cgroups, one node
# with this machine's CPUs and memory, one partition `debug`.
#
#   sudo scripts/setup-slurm.sh          # then: sinfo -N   (the node is idle)
#   sudo scripts/setup-slurm.sh stop     # stop the daemons
#
# Facts this relies on (measured here, ../BUILD-NOTES of the project's
# workspace): the packages cannot start services (no systemd) and do not
# create /run/munge; slurmd wants the node line `slurmd -C` prints.
set -euo pipefail
state=/var/spool/slurmctld-quantlab
if [ "${1:-}" = stop ]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    pkill -x munged || true
    exit 0
fi
if ! command -v slurmctld >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null
fi
host=$(hostname -s)
getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >> /etc/hosts

# munge: a key, its run directory, the daemon as the munge user.
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
pgrep -x munged >/dev/null || setpriv --reuid=munge --regid=munge --init-groups munged
for _ in $(seq 50); do munge -n | unmunge >/dev/null 2>&1 && break; sleep 0.1; done

# slurm.conf: no cgroups, no accounting, the node as slurmd sees it.
mkdir -p /etc/slurm "$state" /var/spool/slurmd /var/log/slurm
rm -rf "${state:?}"/*  # a clean start: no jobs left from an earlier run
node=$(slurmd -C | head -1)
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=quantlab
SlurmctldHost=$host
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$state
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmUser=root
$node
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
pgrep -x slurmctld >/dev/null || (slurmctld -D >/var/log/slurm/slurmctld.out 2>&1 &)
pgrep -x slurmd >/dev/null || (slurmd -D >/var/log/slurm/slurmd.out 2>&1 &)
for _ in $(seq 100); do sinfo -h -N -o %t 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo -N
