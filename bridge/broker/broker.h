// Broker: the seam between the API and delivery. The API hands every session-addressed
// operation to a Broker and answers the caller from the Broker's completion.
//
// LocalBroker (this node only) is the default. A cluster broker (Redis, design §6) implements the
// same interface: it forwards each operation to the nodes that hold matching sessions and
// combines their answers with the local hub's, so the API layer does not change.
//
// Thread-safety: implementations must accept calls from any thread (gRPC callback threads).
// Each completion runs exactly once, on a thread of the broker's choosing, and must not block.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/payload.h"
#include "hub/hub.h"
#include "hub/targets.h"

namespace wsbridge {

class Broker {
 public:
  virtual ~Broker() = default;

  virtual void Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload,
                       Hub::DeliveryDone done) = 0;
  virtual void Subscribe(std::shared_ptr<const SessionSelector> selector,
                         std::shared_ptr<const std::vector<std::string>> topics,
                         Hub::CountDone done) = 0;
  virtual void Unsubscribe(std::shared_ptr<const SessionSelector> selector,
                           std::shared_ptr<const std::vector<std::string>> topics,
                           Hub::CountDone done) = 0;
  virtual void Disconnect(std::shared_ptr<const SessionSelector> selector, uint16_t code,
                          std::string reason, Hub::CountDone done) = 0;
  virtual void GetSession(std::string session_id, Hub::SessionDone done) = 0;
  virtual void ListSessions(ListQuery query, Hub::PageDone done) = 0;
};

}  // namespace wsbridge
