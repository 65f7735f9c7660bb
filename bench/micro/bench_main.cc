// SPDX-License-Identifier: Apache-2.0
/* bench_main.cc: main() of bench_micro; every bench_*.cc registers its own benchmarks. */
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
