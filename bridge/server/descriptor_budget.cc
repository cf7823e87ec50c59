#include "server/descriptor_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

namespace wsbridge {
namespace {

constexpr uint64_t kMinimumAutomaticReserve = 128;

uint64_t FromRlim(rlim_t value) {
  return value == RLIM_INFINITY ? std::numeric_limits<uint64_t>::max()
                                : static_cast<uint64_t>(value);
}

// The kernel's ceiling for RLIMIT_NOFILE; 1048576 (its default) if it cannot be read.
uint64_t KernelDescriptorCeiling() {
  std::ifstream in("/proc/sys/fs/nr_open");
  uint64_t value = 0;
  if (in >> value && value > 0) return value;
  return uint64_t{1} << 20;
}

}  // namespace

DescriptorBudget ComputeDescriptorBudget(uint64_t limit, uint64_t configured_reserve) {
  DescriptorBudget budget;
  budget.limit = limit;
  budget.reserve = configured_reserve != 0
                       ? configured_reserve
                       : std::min(std::max(kMinimumAutomaticReserve, limit / 10), limit / 2);
  budget.websocket_connections = limit > budget.reserve ? limit - budget.reserve : 0;
  return budget;
}

DescriptorLimitChange RaiseDescriptorLimit() {
  DescriptorLimitChange change;
  rlimit limits{};
  if (getrlimit(RLIMIT_NOFILE, &limits) != 0) {
    change.error = std::strerror(errno);
    return change;
  }
  change.soft_before = change.soft = FromRlim(limits.rlim_cur);
  change.hard = FromRlim(limits.rlim_max);
  const rlim_t target = limits.rlim_max == RLIM_INFINITY
                            ? static_cast<rlim_t>(KernelDescriptorCeiling())
                            : limits.rlim_max;
  if (limits.rlim_cur != RLIM_INFINITY && limits.rlim_cur >= target) return change;
  limits.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &limits) != 0) {
    change.error = std::strerror(errno);
    return change;
  }
  change.soft = FromRlim(target);
  return change;
}

uint64_t CurrentDescriptorLimit() {
  rlimit limits{};
  // Unknown: no cap rather than refusing every connection.
  if (getrlimit(RLIMIT_NOFILE, &limits) != 0) return std::numeric_limits<uint64_t>::max();
  return FromRlim(limits.rlim_cur);
}

}  // namespace wsbridge
