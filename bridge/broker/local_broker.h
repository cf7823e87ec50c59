// LocalBroker: the single-node Broker. Every operation goes straight to this node's Hub.
//
// Thread-safety: as Hub: callable from any thread.
#pragma once

#include "broker/broker.h"
#include "hub/hub.h"

namespace wsbridge {

class LocalBroker final : public Broker {
 public:
  // REQUIRES: hub outlives the broker.
  explicit LocalBroker(Hub& hub) : hub_(hub) {}

  void Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload,
               Hub::DeliveryDone done) override;
  void Subscribe(std::shared_ptr<const SessionSelector> selector,
                 std::shared_ptr<const std::vector<std::string>> topics,
                 Hub::CountDone done) override;
  void Unsubscribe(std::shared_ptr<const SessionSelector> selector,
                   std::shared_ptr<const std::vector<std::string>> topics,
                   Hub::CountDone done) override;
  void Disconnect(std::shared_ptr<const SessionSelector> selector, uint16_t code,
                  std::string reason, Hub::CountDone done) override;
  void GetSession(std::string session_id, Hub::SessionDone done) override;
  void ListSessions(ListQuery query, Hub::PageDone done) override;

 private:
  Hub& hub_;
};

}  // namespace wsbridge
