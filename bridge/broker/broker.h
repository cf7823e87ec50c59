// Broker: the seam between the API and delivery. The API hands every session-addressed
// operation to a Broker and answers the caller from the Broker's completion; it speaks only the
// broker's vocabulary (broker/types.h).
//
// This node's hub (hub/hub.h) is the in-process Broker and the default. A cluster broker (Redis,
// design §6) implements the same interface around it: it runs each operation on the local hub,
// forwards it to the nodes that hold matching sessions, and combines their answers (counts add
// up; unknown session ids are those no node knows), so the API layer does not change.
//
// Ordering: a Broker accepts Deliver, DeliverBatch, Subscribe, Unsubscribe and Disconnect in one
// order (the order of the calls into it, for calls that do not overlap, and some order for calls
// that do), and every session receives its messages in that order.
//
// Failure: a cluster broker that cannot reach Redis completes a call with its `failure` set
// (broker/types.h) instead of counts; the hub never does.
//
// Thread-safety: implementations accept calls from any thread (gRPC callback threads). Each
// completion runs exactly once, on a thread of the broker's choosing, and must not block.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/types.h"

namespace wsbridge {

class Broker {
 public:
  virtual ~Broker() = default;

  // Queues `payload` on every session the targets reach.
  virtual void Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload,
                       DeliveryDone done) = 0;
  // Queues each item's payload on every session its targets reach, as if each item were a
  // Deliver and they came one after another with no other call between them: a session that
  // receives items 2 and 5 receives them in that order, after everything accepted before the
  // batch and before everything accepted after it. `done` gets one DeliveryCounts per item, in
  // item order. REQUIRES: items non-empty.
  virtual void DeliverBatch(std::shared_ptr<const std::vector<DeliveryItem>> items,
                            BatchDone done) = 0;
  // Adds `topics` to the selected sessions, except those it would take past the node's
  // topics-per-session limit, which are left unchanged (see SubscribeCounts).
  virtual void Subscribe(std::shared_ptr<const SessionSelector> selector,
                         std::shared_ptr<const std::vector<std::string>> topics,
                         SubscribeDone done) = 0;
  virtual void Unsubscribe(std::shared_ptr<const SessionSelector> selector,
                           std::shared_ptr<const std::vector<std::string>> topics,
                           SessionCountDone done) = 0;
  // Closes the selected sessions with `code` and `reason` once their queued messages are sent.
  virtual void Disconnect(std::shared_ptr<const SessionSelector> selector, uint16_t code,
                          std::string reason, SessionCountDone done) = 0;
  virtual void GetSession(std::string session_id, SessionDone done) = 0;
  virtual void ListSessions(ListQuery query, PageDone done) = 0;
};

}  // namespace wsbridge
