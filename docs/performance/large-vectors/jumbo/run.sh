#!/bin/bash
# Large vectors at MTU 1500 and 9000, fan-out 8, sgbpf vs Open MPI vs Gloo, same session.
# usage: docs/performance/large-vectors/jumbo/run.sh RESULTS_DIR (root, after make)
R=$(realpath -m "${1:?usage: run.sh RESULTS_DIR}")
cd "$(dirname "$0")/../../../.." || exit 1	# the source (and build) tree
export MPI_BENCH=$PWD/bench/mpi/mpi_bench MPILAB=$PWD/bench/mpi/mpilab GLOO_BENCH=$PWD/bench/gloo/gloo_bench
for mtu in 9000 1500; do
  D=$R/mtu$mtu; mkdir -p $D
  echo "== sgbench MTU $mtu $(date)"
  NETLAB_MTU=$mtu bench/sgbench --impls ebpf,epoll --colls scatter_reduce,allgather --modes latency \
    --fanouts 8 --sizes 4K,64K,256K,1M,16M,64M --dtype float32 --request small --workers host \
    --iters 300 --time-cap 3 --timeout-ms 300000 --out $D --csv vectors.csv > $D/sgbench.log 2>&1
  echo "== mpi MTU $mtu $(date)"
  NETLAB_MTU=$mtu bench/mpi/run_mpi.sh $D --workers 8 --colls reduce --size-workers 8 --size-colls reduce,allreduce \
    --sizes 4096,65536,262144,1048576,16777216,67108864 --impls tcp --modes latency --dtype float \
    --min-iters 3 --nns 8 --timeout 300 --csv mpi_vectors.csv > $D/mpi.log 2>&1
  echo "== gloo MTU $mtu $(date)"
  NETLAB_MTU=$mtu bench/gloo/run_gloo.sh $D --size-workers 8 --sizes 4K,64K,256K,1M,16M,64M --min-iters 3 --nns 8 --timeout 600 > $D/gloo.log 2>&1
done
echo "== done $(date)"
