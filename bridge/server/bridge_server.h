// BridgeServer: one running wsbridge node, wired from a Config: the I/O threads (each with its
// hub shard, WebSocket listener and sessions), the gRPC API (Bridge, health, reflection) and the
// admin HTTP port. main() runs one; the integration tests run one in-process on free ports.
//
// Thread-safety: Start(), ReloadCertificates() and Shutdown() from one controlling thread;
// ports() and node_id() from any thread once started.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "admin/admin_http.h"
#include "api/api_key_check.h"
#include "api/bridge_service.h"
#include "api/call_counting_interceptor.h"
#include "api/reflection_service.h"
#include "auth/token_verifier.h"
#include "cluster/cluster_node.h"
#include "config/config.h"
#include "events/event_bus.h"
#include "events/event_publisher.h"
#include "hub/connection_limiter.h"
#include "hub/hub.h"
#include "metrics/node_metrics.h"
#include "runtime/clock.h"
#include "runtime/io_thread.h"
#include "runtime/lifecycle.h"
#include "runtime/listener.h"
#include "server/descriptor_budget.h"
#include "server/grpc_certificate_stage.h"
#include "server/grpc_port_probe.h"
#include "server/session_drain.h"
#include "server/session_event_log.h"
#include "server/websocket_connection_budget.h"
#include "ws/handshake_policy.h"
#include "ws/http_handshake.h"
#include "ws/liveness_sweeper.h"
#include "ws/session_context.h"
#include "ws/static_files.h"
#include "ws/tls_context.h"

namespace wsbridge {

struct BoundPorts {
  uint16_t grpc = 0;
  uint16_t ws = 0;
  uint16_t admin = 0;
};

class BridgeServer {
 public:
  // Binds every port and starts serving. INVALID_ARGUMENT for an unusable key file or config,
  // UNAVAILABLE when a port cannot be bound.
  static absl::StatusOr<std::unique_ptr<BridgeServer>> Start(const Config& config);

  ~BridgeServer();  // Shutdown(0) if Shutdown was not called
  BridgeServer(const BridgeServer&) = delete;
  BridgeServer& operator=(const BridgeServer&) = delete;

  const BoundPorts& ports() const { return ports_; }
  const std::string& node_id() const { return node_id_; }
  EventBus& events() { return *events_; }
  // The gRPC service, for its gauges (tests read how much its streams hold). After Start.
  const BridgeService& api_service() const { return *service_; }

  // Drains and stops: readiness and gRPC health go NOT_SERVING, new connections get 503 and
  // new calls UNAVAILABLE, the sessions are closed with 1001 in batches spread over `drain`
  // (server/session_drain.h; each after what was queued for it), and once they are gone (or
  // `drain` plus the close timeout has passed) their `closed` events are delivered, the Events
  // streams end with OK, and the gRPC server and the I/O threads stop. Idempotent.
  void Shutdown(absl::Duration drain);
  // What the drain of Shutdown did, batch by batch (server/session_drain.h); empty before
  // Shutdown and when the node never started its threads. From the controlling thread.
  const DrainReport& drain_report() const { return drain_report_; }

  // What SIGHUP does (bridge/main.cc): reads the certificate files of both TLS ports again
  // (--ws_tls_*, --grpc_tls_*). On the WebSocket port connections accepted from then on present
  // the new certificate; on the gRPC port new connections do within
  // GrpcCertificateStage::kPollSeconds (server/grpc_certificate_stage.h). Open sessions, channels
  // and streams keep the TLS session they have. A port whose files do not make a usable
  // certificate keeps its current one, and the error names its flags and says why (the other port
  // still reloads). OK when neither port speaks TLS.
  absl::Status ReloadCertificates();

 private:
  // The gRPC port's credentials: plaintext, TLS, or mutual TLS (--grpc_tls_*).
  // Makes grpc_tls_ when --grpc_tls_cert is set.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcCredentials();

  explicit BridgeServer(const Config& config);
  absl::Status Init();
  std::string MetricsText() const;
  // Why /readyz must fail although the node is not draining; empty when it need not.
  std::string NotReadyReason() const;

  const Config config_;  // components hold references into it (config_.session, ...)
  std::string node_id_;
  Lifecycle lifecycle_;
  // /metrics: the I/O threads' counter blocks and the gRPC side's counts. Made in Init before
  // the sessions' contexts (which point at its blocks), destroyed after everything that counts.
  std::unique_ptr<metrics::NodeMetrics> metrics_;
  std::unique_ptr<auth::TokenVerifier> verifier_;
  std::unique_ptr<HandshakePolicy> policy_;
  std::unique_ptr<ConnectionLimiter> limiter_;  // knows the thread count: made in Init
  DescriptorBudget descriptor_budget_;
  std::unique_ptr<WebSocketConnectionBudget> websocket_budget_;  // reads limiter_
  std::vector<std::unique_ptr<IoThread>> threads_;
  std::unique_ptr<EventBus> events_;
  std::unique_ptr<EventPublisher> event_publisher_;     // turns session reports into events_
  std::unique_ptr<SessionEventLog> session_event_log_;  // logs each report, then publishes it
  SteadyClock clock_;
  std::unique_ptr<Hub> hub_;
  // Cluster mode (--redis_url): the Redis thread, its clients and the ClusterBroker the API uses
  // instead of hub_. Null on a single node. Stopped in Shutdown before the I/O threads (it posts
  // to the hub), destroyed before hub_ (which reports to it).
  std::unique_ptr<cluster::ClusterNode> cluster_;
  std::vector<std::unique_ptr<SessionContext>> session_contexts_;  // [i] used only on thread i
  std::vector<std::shared_ptr<LivenessSweeper>> sweepers_;         // [i] runs on thread i
  std::unique_ptr<StaticFiles> static_files_;                      // --static_dir; null when unset
  std::unique_ptr<ws::ServerTlsContext> ws_tls_;                 // --ws_tls_cert; null for plain ws
  std::unique_ptr<HandshakeEnvironment> handshake_environment_;  // points at static_files_
  std::unique_ptr<GrpcPortProbe> grpc_probe_;  // readiness of the gRPC port; before the admin
  std::unique_ptr<AdminEnvironment> admin_environment_;
  std::vector<std::shared_ptr<Listener>> listeners_;  // one WebSocket listener per thread, admin
  ApiKeyCheck api_key_;
  std::unique_ptr<BridgeService> service_;
  std::unique_ptr<ReflectionService> reflection_;
  std::unique_ptr<ReflectionServiceV1Alpha> reflection_v1alpha_;
  // --grpc_tls_cert: the staged files gRPC watches; null for plaintext gRPC. Declared before
  // grpc_server_ so the files outlive the server that reads them.
  std::unique_ptr<GrpcCertificateStage> grpc_tls_;
  std::unique_ptr<grpc::Server> grpc_server_;
  BoundPorts ports_;
  DrainReport drain_report_;  // set by Shutdown
  bool threads_started_ = false;
  bool stopped_ = false;
};

}  // namespace wsbridge
