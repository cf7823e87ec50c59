#include "api/bridge_service.h"

#include <type_traits>
#include <utility>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"

#include "api/events_stream.h"
#include "api/grpc_status.h"

namespace wsbridge {
namespace {

// Finishes `reactor` with `status` and returns it: the handlers' early-exit path.
grpc::ServerUnaryReactor* FinishWith(grpc::ServerUnaryReactor* reactor,
                                     const absl::Status& status) {
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A broker that could not carry out the call (cluster mode without Redis, broker/types.h):
// UNAVAILABLE with its reason, which says what is missing.
void FinishUnavailable(grpc::ServerUnaryReactor* reactor, const BrokerFailure& failure) {
  reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, failure));
}

// Fills the counts every delivery response has from a delivery that succeeded, and counts its
// fan-out.
template <class Response>
void FillDelivery(DeliveryCounts& counts, Response* response, metrics::CallMetrics& metrics) {
  metrics.ObserveFanout(counts.matched);
  response->set_matched(counts.matched);
  response->set_queued(counts.queued);
  response->set_dropped(counts.dropped);
  if constexpr (std::is_same_v<Response, v1::PushResponse>) {
    for (std::string& id : counts.unknown_session_ids) {
      response->add_unknown_session_ids(std::move(id));
    }
  }
}

// Completion for Push and Broadcast.
template <class Response>
DeliveryDone AnswerDelivery(grpc::ServerUnaryReactor* reactor, Response* response,
                            metrics::CallMetrics& metrics) {
  return [reactor, response, &metrics](DeliveryCounts counts) {
    if (!counts.failure.empty()) return FinishUnavailable(reactor, counts.failure);
    FillDelivery(counts, response, metrics);
    reactor->Finish(grpc::Status::OK);
  };
}

// A refused push of a PushBatch: its code and why, in its own result.
void FillRefused(v1::PushBatchResult* result, grpc::StatusCode code, std::string message) {
  result->set_error_code(static_cast<uint32_t>(code));
  result->set_error_message(std::move(message));
}

// Completion for Unsubscribe and Disconnect: the number of sessions acted on.
template <class Response>
SessionCountDone AnswerSessions(grpc::ServerUnaryReactor* reactor, Response* response) {
  return [reactor, response](SessionCount count) {
    if (!count.failure.empty()) return FinishUnavailable(reactor, count.failure);
    response->set_sessions(count.sessions);
    reactor->Finish(grpc::Status::OK);
  };
}

// Completion for Subscribe: the sessions subscribed, or FAILED_PRECONDITION when some were
// refused for the topic limit. That status says who and why, and that the rest of the call took
// effect, since a failed call carries no response fields.
SubscribeDone AnswerSubscribe(grpc::ServerUnaryReactor* reactor, v1::SubscribeResponse* response) {
  return [reactor, response](SubscribeCounts counts) {
    if (!counts.failure.empty()) return FinishUnavailable(reactor, counts.failure);
    response->set_sessions(counts.subscribed);
    if (counts.refused == 0) return reactor->Finish(grpc::Status::OK);
    reactor->Finish(
        grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                     absl::StrCat("--max_topics_per_session: session ", counts.refused_session_id,
                                  " has ", counts.refused_session_topics, " topics and would have ",
                                  counts.refused_session_would_have, ", over the limit of ",
                                  counts.max_topics_per_session, "; ", counts.refused, " of ",
                                  counts.refused + counts.subscribed,
                                  " selected sessions were refused and left unchanged, ",
                                  counts.subscribed, " were subscribed")));
  };
}

void FillSession(const SessionView& view, v1::Session* out) {
  out->set_session_id(view.info.id);
  out->set_user_id(view.info.user_id);
  for (const std::string& topic : view.topics) out->add_topics(topic);
  *out->mutable_connected_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(view.info.connected_at));
  out->set_remote_address(view.info.remote_address);
  out->mutable_metadata()->insert(view.info.metadata.begin(), view.info.metadata.end());
  v1::SessionStats* stats = out->mutable_stats();
  stats->set_messages_sent(view.counters.messages_sent);
  stats->set_messages_received(view.counters.messages_received);
  stats->set_bytes_sent(view.counters.bytes_sent);
  stats->set_bytes_received(view.counters.bytes_received);
  stats->set_queued_messages(view.counters.queued_messages);
  stats->set_queued_bytes(view.counters.queued_bytes);
}

}  // namespace

BridgeService::BridgeService(Broker& broker, EventBus& events, const Lifecycle& lifecycle,
                             const ApiKeyCheck& api_key, metrics::CallMetrics& metrics,
                             uint64_t max_message_bytes, size_t max_batch_items)
    : broker_(broker),
      events_(events),
      lifecycle_(lifecycle),
      api_key_(api_key),
      metrics_(metrics),
      max_message_bytes_(max_message_bytes),
      max_batch_items_(max_batch_items) {}

absl::Status BridgeService::Admit(grpc::CallbackServerContext* context) const {
  if (auto status = api_key_.Check(context->client_metadata()); !status.ok()) return status;
  if (lifecycle_.draining()) {
    return absl::UnavailableError("draining: this node is shutting down; retry on another node");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* BridgeService::Push(grpc::CallbackServerContext* context,
                                              const v1::PushRequest* request,
                                              v1::PushResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto status = Admit(context); !status.ok()) return FinishWith(reactor, status);
  auto delivery = ValidatePush(*request, max_message_bytes_);
  if (!delivery.ok()) return FinishWith(reactor, delivery.status());
  broker_.Deliver(std::move(delivery->targets), std::move(delivery->payload),
                  AnswerDelivery(reactor, response, metrics_));
  return reactor;
}

grpc::ServerUnaryReactor* BridgeService::PushBatch(grpc::CallbackServerContext* context,
                                                   const v1::PushBatchRequest* request,
                                                   v1::PushBatchResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto status = Admit(context); !status.ok()) return FinishWith(reactor, status);
  auto batch = ValidatePushBatch(*request, max_message_bytes_, max_batch_items_);
  if (!batch.ok()) return FinishWith(reactor, batch.status());
  // Every push gets its result now, in request order; the refused ones are final.
  for (const absl::Status& verdict : batch->verdicts) {
    v1::PushBatchResult* result = response->add_results();
    if (!verdict.ok()) {
      FillRefused(result, grpc::StatusCode::INVALID_ARGUMENT, std::string(verdict.message()));
    }
  }
  if (batch->items->empty()) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  broker_.DeliverBatch(std::move(batch->items), [reactor, response, &metrics = metrics_,
                                                 item_pushes = std::move(batch->item_pushes)](
                                                    std::vector<DeliveryCounts> counts) {
    for (size_t j = 0; j < counts.size(); ++j) {
      v1::PushBatchResult* result = response->mutable_results(static_cast<int>(item_pushes[j]));
      if (!counts[j].failure.empty()) {
        FillRefused(result, grpc::StatusCode::UNAVAILABLE,
                    absl::StrCat("pushes[", item_pushes[j], "]: ", counts[j].failure));
      } else {
        FillDelivery(counts[j], result->mutable_response(), metrics);
      }
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* BridgeService::Broadcast(grpc::CallbackServerContext* context,
                                                   const v1::BroadcastRequest* request,
                                                   v1::BroadcastResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto status = Admit(context); !status.ok()) return FinishWith(reactor, status);
  auto delivery = ValidateBroadcast(*request, max_message_bytes_);
  if (!delivery.ok()) return FinishWith(reactor, delivery.status());
  broker_.Deliver(std::move(delivery->targets), std::move(delivery->payload),
                  AnswerDelivery(reactor, response, metrics_));
  return reactor;
}

grpc::ServerUnaryReactor* BridgeService::Subscribe(grpc::CallbackServerContext* context,
                                                   const v1::SubscribeRequest* request,
                                                   v1::SubscribeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto status = Admit(context); !status.ok()) return FinishWith(reactor, status);
  auto change = ValidateSubscribe(*request);
  if (!change.ok()) return FinishWith(reactor, change.status());
  broker_.Subscribe(std::move(change->selector), std::move(change->topics),
                    AnswerSubscribe(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* BridgeService::Unsubscribe(grpc::CallbackServerContext* context,
                                                     const v1::UnsubscribeRequest* request,
                                                     v1::UnsubscribeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto status = Admit(context); !status.ok()) return FinishWith(reactor, status);
  auto change = ValidateUnsubscribe(*request);
  if (!change.ok()) return FinishWith(reactor, change.status());
  broker_.Unsubscribe(std::move(change->selector), std::move(change->topics),
                      AnswerSessions(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* BridgeService::Disconnect(grpc::CallbackServerContext* context,
                                                    const v1::DisconnectRequest* request,
                                                    v1::DisconnectResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto status = Admit(context); !status.ok()) return FinishWith(reactor, status);
  auto order = ValidateDisconnect(*request);
  if (!order.ok()) return FinishWith(reactor, order.status());
  broker_.Disconnect(std::move(order->selector), order->code, std::move(order->reason),
                     AnswerSessions(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* BridgeService::GetSession(grpc::CallbackServerContext* context,
                                                    const v1::GetSessionRequest* request,
                                                    v1::Session* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto status = Admit(context); !status.ok()) return FinishWith(reactor, status);
  if (auto status = ValidateGetSession(*request); !status.ok()) {
    return FinishWith(reactor, status);
  }
  broker_.GetSession(
      request->session_id(), [reactor, response, id = request->session_id()](SessionLookup lookup) {
        if (!lookup.failure.empty()) return FinishUnavailable(reactor, lookup.failure);
        if (!lookup.session.has_value()) {
          reactor->Finish(
              grpc::Status(grpc::StatusCode::NOT_FOUND, "session_id: no online session " + id));
          return;
        }
        FillSession(*lookup.session, response);
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

grpc::ServerUnaryReactor* BridgeService::ListSessions(grpc::CallbackServerContext* context,
                                                      const v1::ListSessionsRequest* request,
                                                      v1::ListSessionsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto status = Admit(context); !status.ok()) return FinishWith(reactor, status);
  auto query = ValidateListSessions(*request);
  if (!query.ok()) return FinishWith(reactor, query.status());
  broker_.ListSessions(std::move(*query), [reactor, response](SessionPage page) {
    if (!page.failure.empty()) return FinishUnavailable(reactor, page.failure);
    for (const SessionView& view : page.sessions) FillSession(view, response->add_sessions());
    response->set_sequence(page.sequence);
    if (page.more && !page.sessions.empty()) {
      response->set_next_page_token(EncodePageToken(page.sessions.back().info.id));
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::Event>* BridgeService::Events(grpc::CallbackServerContext* context,
                                                           const v1::EventsRequest* request) {
  return EventsStream::Start(events_, metrics_, *request, Admit(context));
}

grpc::ServerBidiReactor<v1::PushRequest, v1::PushResponse>* BridgeService::PushStream(
    grpc::CallbackServerContext* context) {
  return new PushStreamReactor(broker_, delivery_streams_, metrics_, max_message_bytes_,
                               Admit(context));
}

grpc::ServerBidiReactor<v1::BroadcastRequest, v1::BroadcastResponse>*
BridgeService::BroadcastStream(grpc::CallbackServerContext* context) {
  return new BroadcastStreamReactor(broker_, delivery_streams_, metrics_, max_message_bytes_,
                                    Admit(context));
}

}  // namespace wsbridge
