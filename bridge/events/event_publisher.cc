#include "events/event_publisher.h"

#include <utility>

namespace wsbridge {
namespace {

v1::Event NewEvent(const SessionIdentity& session) {
  v1::Event event;
  event.set_session_id(session.session_id.data(), session.session_id.size());
  event.set_user_id(session.user_id.data(), session.user_id.size());
  return event;
}

v1::ErrorCode ToProto(SessionErrorCode code) {
  switch (code) {
    case SessionErrorCode::kSlowConsumer:
      return v1::ERROR_CODE_SLOW_CONSUMER;
    case SessionErrorCode::kMessageTooLarge:
      return v1::ERROR_CODE_MESSAGE_TOO_LARGE;
    case SessionErrorCode::kProtocolError:
      return v1::ERROR_CODE_PROTOCOL_ERROR;
    case SessionErrorCode::kRateLimited:
      return v1::ERROR_CODE_RATE_LIMITED;
    case SessionErrorCode::kInternal:
      return v1::ERROR_CODE_INTERNAL;
  }
  return v1::ERROR_CODE_UNSPECIFIED;
}

v1::Initiator ToProto(CloseInitiator initiator) {
  switch (initiator) {
    case CloseInitiator::kClient:
      return v1::INITIATOR_CLIENT;
    case CloseInitiator::kServer:
      return v1::INITIATOR_SERVER;
    case CloseInitiator::kTransport:
      return v1::INITIATOR_TRANSPORT;
  }
  return v1::INITIATOR_UNSPECIFIED;
}

}  // namespace

void EventPublisher::Opened(const SessionIdentity& session, std::string_view remote_address,
                            std::span<const std::string> topics,
                            const std::map<std::string, std::string>& metadata) {
  v1::Event event = NewEvent(session);
  v1::SessionOpened* opened = event.mutable_opened();
  opened->set_remote_address(remote_address.data(), remote_address.size());
  for (const std::string& topic : topics) opened->add_topics(topic);
  opened->mutable_metadata()->insert(metadata.begin(), metadata.end());
  outlet_.Publish(std::move(event));
}

void EventPublisher::Message(const SessionIdentity& session, bool text, std::string_view data) {
  v1::Event event = NewEvent(session);
  v1::Message* message = event.mutable_message()->mutable_message();
  if (text) {
    message->set_text(data.data(), data.size());
  } else {
    message->set_binary(data.data(), data.size());
  }
  outlet_.Publish(std::move(event));
}

void EventPublisher::Error(const SessionIdentity& session, SessionErrorCode code,
                           std::string detail) {
  v1::Event event = NewEvent(session);
  event.mutable_error()->set_code(ToProto(code));
  event.mutable_error()->set_detail(std::move(detail));
  outlet_.Publish(std::move(event));
}

void EventPublisher::Closed(const SessionIdentity& session, uint16_t code, std::string_view reason,
                            CloseInitiator initiator) {
  v1::Event event = NewEvent(session);
  v1::SessionClosed* closed = event.mutable_closed();
  closed->set_code(code);
  closed->set_reason(reason.data(), reason.size());
  closed->set_initiator(ToProto(initiator));
  outlet_.Publish(std::move(event));
}

}  // namespace wsbridge
