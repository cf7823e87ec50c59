// IoThreadMetrics: what one I/O thread counts about its own sessions and handshakes: sessions
// opened and closed (by close code and initiator), messages and bytes each way, send-queue drops
// and slow-consumer closes, handshakes refused (by HTTP status) and the delivery latency of each
// message it writes. NodeMetrics owns one block per I/O thread and sums them at scrape time, so
// counting on the delivery path is a plain increment of the thread's own memory (no lock, no
// shared atomic read-modify-write, no cache line another writer touches).
//
// Thread-safety: every Add/Observe only on the owning I/O thread (SingleWriterCounter's
// contract); reads from any thread (the scrape).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "metrics/single_writer.h"

namespace wsbridge::metrics {

// Who closed a session, as the `closed` event says (events/session_event_sink.h CloseInitiator,
// repeated here so that metrics/ depends on nothing of ours).
enum class CloseSide : uint8_t { kClient = 0, kServer = 1, kTransport = 2 };
inline constexpr size_t kCloseSides = 3;

// Close codes as a bounded label: the codes RFC 6455 and its registry define (1000-1015) each
// get their own slot; the application ranges a browser or a Disconnect may use are one slot
// each ("3xxx", "4xxx"), so a browser cannot create thousands of series by choosing codes.
inline constexpr size_t kCloseCodeSlots = 16 + 3;
size_t CloseCodeSlot(uint16_t code);
const char* CloseCodeLabel(size_t slot);  // "1000".."1015", "3xxx", "4xxx", "other"

// Upper bounds of the delivery latency histogram, in seconds: 50 us to 10 s.
inline constexpr std::array<double, 16> kDeliveryLatencyBounds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};

struct alignas(64) IoThreadMetrics {
  SingleWriterCounter sessions_opened;
  std::array<std::array<SingleWriterCounter, kCloseCodeSlots>, kCloseSides> sessions_closed;
  SingleWriterCounter messages_sent;  // message frames completely written to browsers
  SingleWriterCounter bytes_sent;     // their payload bytes (compressed when deflated)
  SingleWriterCounter messages_received;
  SingleWriterCounter bytes_received;  // payload bytes of whole messages, after inflating
  SingleWriterCounter queue_drops;     // deliveries refused by a full send queue
  SingleWriterCounter slow_consumer_closes;
  // Requests on the WebSocket port answered with an HTTP error instead of an upgrade, by status
  // (100-599; anything else is not counted).
  std::array<SingleWriterCounter, 600> handshake_rejections;
  // Seconds from the gRPC handler accepting the call to the write that put the whole frame into
  // the socket, one observation per delivered message.
  SingleWriterHistogram delivery_latency{kDeliveryLatencyBounds};

  void CountClose(uint16_t code, CloseSide side) {
    sessions_closed[static_cast<size_t>(side)][CloseCodeSlot(code)].Add();
  }
  void CountRejection(unsigned status) {
    if (status >= 100 && status < handshake_rejections.size()) handshake_rejections[status].Add();
  }
};

}  // namespace wsbridge::metrics
