#include "metrics/io_thread_metrics.h"

namespace wsbridge::metrics {
namespace {

constexpr const char* kCodeLabels[kCloseCodeSlots] = {
    "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009",
    "1010", "1011", "1012", "1013", "1014", "1015", "3xxx", "4xxx", "other"};

}  // namespace

size_t CloseCodeSlot(uint16_t code) {
  if (code >= 1000 && code <= 1015) return code - 1000;
  if (code >= 3000 && code <= 3999) return 16;
  if (code >= 4000 && code <= 4999) return 17;
  return 18;
}

const char* CloseCodeLabel(size_t slot) {
  return slot < kCloseCodeSlots ? kCodeLabels[slot] : "other";
}

}  // namespace wsbridge::metrics
