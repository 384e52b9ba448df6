// A STREAM-style read-bandwidth probe: the denominator of the memory-bandwidth roofline. Benchmarks run
// it in the same process as the measurement because this host's bandwidth varies from minute to minute.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace r1 {

// Reads a `bytes`-sized buffer `passes` times with all pool threads; returns the best pass in GB/s.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t(1) << 30, int passes = 5);

}  // namespace r1
