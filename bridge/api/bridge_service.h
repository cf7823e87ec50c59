// BridgeService: the wsbridge.v1.Bridge gRPC service (callback API). Each unary handler checks
// the API key and the draining state, validates its request (api/request_validator.h), hands the
// operation to the Broker and returns at once; the Broker's completion, on an I/O thread, fills
// the response and finishes the call. Handlers never touch a socket and never block.
//
// Events streams are EventsStream reactors over the node's EventBus.
//
// Thread-safety: called concurrently by gRPC's callback threads; holds only immutable state, the
// streams' gauge (atomics) and references to thread-safe collaborators (Broker, Lifecycle,
// ApiKeyCheck).
#pragma once

#include <grpcpp/grpcpp.h>

#include "api/api_key_check.h"
#include "api/delivery_stream.h"
#include "api/request_validator.h"
#include "broker/broker.h"
#include "events/event_bus.h"
#include "metrics/call_metrics.h"
#include "runtime/lifecycle.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge {

class BridgeService final : public v1::Bridge::CallbackService {
 public:
  // `max_message_bytes`: the node's config.session.max_message_bytes. `metrics`: where the
  // fan-out of each delivery and the Events streams are counted (calls by method and status are
  // counted by api/call_counting_interceptor.h).
  // REQUIRES: every reference outlives the service.
  // `max_batch_items`: the node's config.api.max_batch_items (pushes per PushBatch).
  BridgeService(Broker& broker, EventBus& events, const Lifecycle& lifecycle,
                const ApiKeyCheck& api_key, metrics::CallMetrics& metrics,
                uint64_t max_message_bytes, size_t max_batch_items);

  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* context,
                                 const v1::PushRequest* request,
                                 v1::PushResponse* response) override;
  // Validates every push, hands the valid ones to the Broker as ONE batch (one step of the node
  // order) and answers each push in its place: the refused ones with their error, the others
  // with their counts.
  grpc::ServerUnaryReactor* PushBatch(grpc::CallbackServerContext* context,
                                      const v1::PushBatchRequest* request,
                                      v1::PushBatchResponse* response) override;
  grpc::ServerUnaryReactor* Broadcast(grpc::CallbackServerContext* context,
                                      const v1::BroadcastRequest* request,
                                      v1::BroadcastResponse* response) override;
  grpc::ServerUnaryReactor* Subscribe(grpc::CallbackServerContext* context,
                                      const v1::SubscribeRequest* request,
                                      v1::SubscribeResponse* response) override;
  grpc::ServerUnaryReactor* Unsubscribe(grpc::CallbackServerContext* context,
                                        const v1::UnsubscribeRequest* request,
                                        v1::UnsubscribeResponse* response) override;
  grpc::ServerUnaryReactor* Disconnect(grpc::CallbackServerContext* context,
                                       const v1::DisconnectRequest* request,
                                       v1::DisconnectResponse* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const v1::GetSessionRequest* request,
                                       v1::Session* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* context,
                                         const v1::ListSessionsRequest* request,
                                         v1::ListSessionsResponse* response) override;
  grpc::ServerWriteReactor<v1::Event>* Events(grpc::CallbackServerContext* context,
                                              const v1::EventsRequest* request) override;
  grpc::ServerBidiReactor<v1::PushRequest, v1::PushResponse>* PushStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<v1::BroadcastRequest, v1::BroadcastResponse>* BroadcastStream(
      grpc::CallbackServerContext* context) override;

  // The answers that PushStream and BroadcastStream hold for their callers.
  const DeliveryStreamGauge& delivery_streams() const { return delivery_streams_; }

 private:
  // OK when the call may proceed; otherwise UNAUTHENTICATED or UNAVAILABLE.
  absl::Status Admit(grpc::CallbackServerContext* context) const;

  Broker& broker_;
  EventBus& events_;
  const Lifecycle& lifecycle_;
  const ApiKeyCheck& api_key_;
  metrics::CallMetrics& metrics_;
  const uint64_t max_message_bytes_;
  const size_t max_batch_items_;
  DeliveryStreamGauge delivery_streams_;
};

}  // namespace wsbridge
