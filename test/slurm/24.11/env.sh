# The 24.11 testbed's settings, beside the 22.05 one: its own prefix, state
# dir, ports, accounting database and cluster name; the same munged,
# MariaDB and Unix users. Sourced by up.sh and down.sh here.
export SLURM_TESTBED_PREFIX=${SLURM_TESTBED_PREFIX:-/opt/slurm-24.11}
export SLURM_TESTBED_DIR=${SLURM_TESTBED_DIR:-/tmp/slurm-testbed-24.11}
export SLURM_TESTBED_CLUSTER=${SLURM_TESTBED_CLUSTER:-tb2411}
export SLURM_TESTBED_CTLD_PORT=${SLURM_TESTBED_CTLD_PORT:-6917}
export SLURM_TESTBED_SLURMD_PORT=${SLURM_TESTBED_SLURMD_PORT:-6918}
export SLURM_TESTBED_DBD_PORT=${SLURM_TESTBED_DBD_PORT:-6919}
export SLURM_TESTBED_REST_ADDR=${SLURM_TESTBED_REST_ADDR:-127.0.0.1:6920}
export SLURM_TESTBED_DB=${SLURM_TESTBED_DB:-slurm_testbed_2411}
export SLURM_TESTBED_API=${SLURM_TESTBED_API:-v0.0.42}
export SLURM_TESTBED_REST_PLUGINS=${SLURM_TESTBED_REST_PLUGINS:-openapi/slurmctld,openapi/slurmdbd}
export SLURM_TESTBED_GPU_TYPE=${SLURM_TESTBED_GPU_TYPE:-a100}
