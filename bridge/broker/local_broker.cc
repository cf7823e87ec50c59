#include "broker/local_broker.h"

#include <utility>

namespace wsbridge {

void LocalBroker::Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload,
                          Hub::DeliveryDone done) {
  hub_.Deliver(std::move(targets), std::move(payload), std::move(done));
}

void LocalBroker::Subscribe(std::shared_ptr<const SessionSelector> selector,
                            std::shared_ptr<const std::vector<std::string>> topics,
                            Hub::CountDone done) {
  hub_.Subscribe(std::move(selector), std::move(topics), std::move(done));
}

void LocalBroker::Unsubscribe(std::shared_ptr<const SessionSelector> selector,
                              std::shared_ptr<const std::vector<std::string>> topics,
                              Hub::CountDone done) {
  hub_.Unsubscribe(std::move(selector), std::move(topics), std::move(done));
}

void LocalBroker::Disconnect(std::shared_ptr<const SessionSelector> selector, uint16_t code,
                             std::string reason, Hub::CountDone done) {
  hub_.Disconnect(std::move(selector), code, std::move(reason), std::move(done));
}

void LocalBroker::GetSession(std::string session_id, Hub::SessionDone done) {
  hub_.GetSession(std::move(session_id), std::move(done));
}

void LocalBroker::ListSessions(ListQuery query, Hub::PageDone done) {
  hub_.ListSessions(std::move(query), std::move(done));
}

}  // namespace wsbridge
