#include "server/bridge_server.h"

#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <boost/asio/ip/address.hpp>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/session_drain.h"
#include "spdlog/spdlog.h"

namespace wsbridge {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string GenerateNodeId() {
  absl::BitGen random;
  return absl::StrFormat("node-%08x", absl::Uniform<uint32_t>(random));
}

std::string GrpcAddress(const std::string& bind, uint16_t port) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(bind, ec);
  if (!ec && address.is_v6()) return absl::StrCat("[", bind, "]:", port);
  return absl::StrCat(bind, ":", port);
}

// Where the node reaches its own gRPC port: the bound address, or loopback for a wildcard one.
std::string LoopbackTarget(const std::string& bind, uint16_t port) {
  if (bind == "0.0.0.0") return GrpcAddress("127.0.0.1", port);
  if (bind == "::") return GrpcAddress("::1", port);
  return GrpcAddress(bind, port);
}

}  // namespace

BridgeServer::BridgeServer(const Config& config) : config_(config), api_key_(config.api.api_key) {}

absl::StatusOr<std::unique_ptr<BridgeServer>> BridgeServer::Start(const Config& config) {
  std::unique_ptr<BridgeServer> server(new BridgeServer(config));
  if (auto status = server->Init(); !status.ok()) {
    server->Shutdown(absl::ZeroDuration());
    return status;
  }
  return server;
}

absl::Status BridgeServer::Init() {
  node_id_ = config_.node.node_id.empty() ? GenerateNodeId() : config_.node.node_id;

  // Browser authentication. The verifier takes key material, not settings: the PEM text of the
  // file that --jwt_public_key names.
  const AdmissionOptions& admission = config_.admission;
  auth::TokenVerifierOptions token_options;
  token_options.hs256_secret = admission.jwt_secret;
  if (!admission.jwt_public_key.empty()) {
    auto pem = ReadFile(admission.jwt_public_key);
    if (!pem.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--jwt_public_key: ", pem.status().message()));
    }
    token_options.public_key_pem = std::move(*pem);
  }
  auto verifier = auth::TokenVerifier::Create(std::move(token_options));
  if (!verifier.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--jwt_public_key: ", verifier.status().message()));
  }
  verifier_ = std::move(*verifier);
  if (!verifier_->enabled() && !admission.allow_anonymous) {
    spdlog::warn(
        "neither --jwt_secret nor --jwt_public_key is set and --allow_anonymous is off: every "
        "WebSocket connection will be refused with 401");
  }
  policy_ = std::make_unique<HandshakePolicy>(admission, verifier_.get());
  // In cluster mode the cluster's event log stamps the events (their sequence is the entry id)
  // and the ClusterEventFeed hands them to this bus.
  const bool clustered = !config_.cluster.redis_url.empty();
  events_ = std::make_unique<EventBus>(config_.events, node_id_, clustered ? 1 : 0);

  // I/O threads, each with its hub shard and session context.
  size_t thread_count = config_.listeners.io_threads;
  if (thread_count == 0) thread_count = std::max(1u, std::thread::hardware_concurrency());
  std::vector<IoThread*> raw_threads;
  for (size_t i = 0; i < thread_count; ++i) {
    threads_.push_back(std::make_unique<IoThread>(i));
    raw_threads.push_back(threads_.back().get());
  }
  limiter_ = std::make_unique<ConnectionLimiter>(thread_count, admission.max_sessions,
                                                 admission.max_sessions_per_user);
  hub_ = std::make_unique<Hub>(raw_threads, admission.max_topics_per_session, *limiter_);
  // ListSessions pages carry the event sequence they are consistent with (SessionPage).
  hub_->SetEventSequence([events = events_.get()] { return events->last_sequence(); });
  if (clustered) {
    // The cluster gave this node up (it was silent past --node_timeout) and wrote `closed` for
    // its sessions: they must not live on. Posted from the Redis thread; the hub takes it from
    // any thread.
    Hub* hub = hub_.get();
    auto on_declared_lost = [hub] {
      spdlog::warn(
          "cluster: this node was declared lost by the others (silent past --node_timeout); "
          "closing its sessions with 1012");
      hub->DisconnectAll(1012, "node declared lost by the cluster", [](uint32_t) {});
    };
    auto cluster =
        cluster::ClusterNode::Create(config_, node_id_, *hub_, *events_, on_declared_lost);
    if (!cluster.ok()) return cluster.status();
    cluster_ = std::move(*cluster);
    // Before any session registers: the node listens to the channels its sessions need, and
    // the directory follows their topics.
    hub_->SetObserver(&cluster_->observer());
    cluster_->Start();
  }
  // Sessions report to the EventPublisher: on one node it publishes on the bus, in cluster mode
  // into the cluster's event log (cluster/session_log.h).
  event_publisher_ = std::make_unique<EventPublisher>(
      cluster_ != nullptr ? cluster_->session_log() : static_cast<EventOutlet&>(*events_));
  session_event_log_ = std::make_unique<SessionEventLog>(*event_publisher_);
  descriptor_budget_ = ComputeDescriptorBudget(CurrentDescriptorLimit(), config_.node.fd_reserve);
  websocket_budget_ = std::make_unique<WebSocketConnectionBudget>(
      descriptor_budget_.websocket_connections, *limiter_);
  spdlog::info(
      "descriptor budget: limit {}, reserve {} (gRPC, admin, internals), WebSocket connections "
      "(sessions + handshakes) at most {}; beyond that they get 503",
      descriptor_budget_.limit, descriptor_budget_.reserve,
      descriptor_budget_.websocket_connections);
  if (descriptor_budget_.websocket_connections == 0) {
    spdlog::warn(
        "--fd_reserve={} leaves no descriptors for WebSocket connections: every one "
        "gets 503",
        config_.node.fd_reserve);
  }
  metrics_ = std::make_unique<metrics::NodeMetrics>(
      metrics::NodeSettings{
          .io_threads = thread_count,
          .descriptor_limit = descriptor_budget_.limit,
          .descriptor_reserve = descriptor_budget_.reserve,
          .websocket_connection_budget = websocket_budget_->cap(),
          .events_stream_lag_limit = config_.events.stream_buffer,
      },
      ServedMethodPaths(), [this] {
        const EventBus::Usage events = events_->usage();
        return metrics::NodeGauges{
            .sessions = limiter_->sessions(),
            .draining = lifecycle_.draining(),
            .websocket_handshakes = websocket_budget_->pending_handshakes(),
            .websocket_refused_total = websocket_budget_->refused_total(),
            .events_streams = events.subscriptions,
            .events_stream_max_lag = events.max_stream_lag,
            .events_streams_ended_for_lag = events.cut_off_total,
        };
      });
  for (size_t i = 0; i < thread_count; ++i) {
    session_contexts_.push_back(std::make_unique<SessionContext>(SessionContext{
        .thread = *threads_[i],
        .hub = *hub_,
        .limiter = *limiter_,
        .options = config_.session,
        .events = *session_event_log_,
        .clock = clock_,
        .metrics = metrics_->thread(i),
    }));
    sweepers_.push_back(std::make_shared<LivenessSweeper>(*session_contexts_.back()));
  }
  if (!config_.listeners.static_dir.empty()) {
    auto static_files = StaticFiles::Create(config_.listeners.static_dir);
    if (!static_files.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--static_dir: ", static_files.status().message()));
    }
    static_files_ = std::make_unique<StaticFiles>(std::move(*static_files));
    spdlog::info("serving the files of {} on the WebSocket port at paths other than {}",
                 static_files_->directory(), config_.listeners.ws_path);
  }
  const ListenerOptions& listeners = config_.listeners;
  if (listeners.ws_tls_cert.empty() != listeners.ws_tls_key.empty()) {
    return absl::InvalidArgumentError("--ws_tls_cert and --ws_tls_key go together: set both");
  }
  if (!listeners.ws_tls_cert.empty()) {
    auto tls = ws::ServerTlsContext::Create(listeners.ws_tls_cert, listeners.ws_tls_key);
    if (!tls.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ws_tls_cert/--ws_tls_key: ", tls.status().message()));
    }
    ws_tls_ = std::move(*tls);
    spdlog::info("wss: ws_port speaks TLS with {} (SIGHUP reloads it)", listeners.ws_tls_cert);
  }
  auto grpc_credentials = GrpcCredentials();
  if (!grpc_credentials.ok()) return grpc_credentials.status();
  handshake_environment_ = std::make_unique<HandshakeEnvironment>(HandshakeEnvironment{
      config_.listeners.ws_path, *policy_, lifecycle_, static_files_.get(), ws_tls_.get()});
  // Made before the admin port serves: /readyz reads it from an I/O thread.
  grpc_probe_ = std::make_unique<GrpcPortProbe>(absl::Seconds(1), absl::Seconds(3));
  admin_environment_ = std::make_unique<AdminEnvironment>(AdminEnvironment{
      lifecycle_, [this] { return MetricsText(); }, [this] { return NotReadyReason(); }});

  // WebSocket listeners: one per thread on one port.
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(config_.listeners.bind, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("--bind: not an IP address: ", config_.listeners.bind));
  uint16_t ws_port = config_.listeners.ws_port;
  for (size_t i = 0; i < thread_count; ++i) {
    SessionContext* context = session_contexts_[i].get();
    const HandshakeEnvironment* environment = handshake_environment_.get();
    WebSocketConnectionBudget* budget = websocket_budget_.get();
    auto listener = Listener::Create(
        *threads_[i], {address, ws_port},
        i == 0 ? Listener::PortSharing::kFirstOfGroup : Listener::PortSharing::kJoinGroup,
        [context, environment, budget](boost::asio::ip::tcp::socket s) {
          // Accept, then answer at once, rather than leave connections in the backlog: a
          // browser learns why (503, on plain ws), and the descriptor is back within this call.
          std::shared_ptr<WebSocketConnectionBudget::HandshakeTicket> ticket =
              budget->TryStartHandshake();
          if (ticket == nullptr) {
            return AnswerOverBudget(s, environment->tls == nullptr ? OverBudgetAnswer::kHttp503
                                                                   : OverBudgetAnswer::kCloseOnly);
          }
          // The ticket goes with the handshake object, which lives as long as its socket (or
          // until a Session, counted by the limiter, takes the socket over).
          std::shared_ptr<HttpHandshake>(
              new HttpHandshake(std::move(s), *context, *environment),
              [ticket = std::move(ticket)](HttpHandshake* handshake) mutable {
                delete handshake;
                ticket.reset();
              })
              ->Run();
        });
    if (!listener.ok()) return listener.status();
    ws_port = (*listener)->port();
    listeners_.push_back(std::move(*listener));
  }
  ports_.ws = ws_port;

  // Admin HTTP on the first thread.
  const AdminEnvironment* admin_environment = admin_environment_.get();
  auto admin = Listener::Create(*threads_[0], {address, config_.listeners.admin_port},
                                Listener::PortSharing::kExclusive,
                                [admin_environment](boost::asio::ip::tcp::socket s) {
                                  ServeAdminConnection(std::move(s), *admin_environment);
                                });
  if (!admin.ok()) return admin.status();
  ports_.admin = (*admin)->port();
  listeners_.push_back(std::move(*admin));

  for (auto& thread : threads_) thread->Start();
  threads_started_ = true;
  for (auto& listener : listeners_) listener->Start();
  for (auto& sweeper : sweepers_) sweeper->Start();

  // gRPC: Bridge, health, reflection.
  const uint64_t max_message_bytes = config_.session.max_message_bytes;
  // Cluster mode: every call goes through Redis, this node's sessions included.
  Broker& broker = cluster_ != nullptr ? cluster_->broker() : static_cast<Broker&>(*hub_);
  service_ =
      std::make_unique<BridgeService>(broker, *events_, lifecycle_, api_key_, metrics_->calls(),
                                      max_message_bytes, config_.api.max_batch_items);
  std::vector<std::string> services = {
      v1::Bridge::service_full_name(), "grpc.health.v1.Health",
      grpc::reflection::v1::ServerReflection::service_full_name(),
      grpc::reflection::v1alpha::ServerReflection::service_full_name()};
  reflection_ = std::make_unique<ReflectionService>(services, api_key_);
  reflection_v1alpha_ = std::make_unique<ReflectionServiceV1Alpha>(services, api_key_);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(GrpcAddress(config_.listeners.bind, config_.listeners.grpc_port),
                           *grpc_credentials, &grpc_port);
  // gRPC would share a busy port through SO_REUSEPORT; a second node must fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(service_.get());
  builder.RegisterService(reflection_.get());
  builder.RegisterService(reflection_v1alpha_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<CallCountingInterceptorFactory>(metrics_->calls()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Oversized messages get our INVALID_ARGUMENT naming the limit, not a transport error.
  const uint64_t receive_limit = std::max<uint64_t>(4u << 20, 2 * max_message_bytes + 4096);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(receive_limit, INT32_MAX)));
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || grpc_port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve gRPC on ", GrpcAddress(config_.listeners.bind, config_.listeners.grpc_port)));
  }
  ports_.grpc = static_cast<uint16_t>(grpc_port);
  if (config_.listeners.grpc_tls_client_ca.empty()) {
    grpc_probe_->Start(LoopbackTarget(config_.listeners.bind, ports_.grpc),
                       !config_.listeners.grpc_tls_cert.empty());
  } else {
    spdlog::info(
        "mutual TLS on gRPC: /readyz does not probe the gRPC port (the probe has no client "
        "certificate)");
  }
  spdlog::info("node {}: {} I/O threads, grpc={} ws={} admin={} ws_path={}", node_id_, thread_count,
               ports_.grpc, ports_.ws, ports_.admin, config_.listeners.ws_path);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> BridgeServer::GrpcCredentials() {
  const ListenerOptions& listeners = config_.listeners;
  if (listeners.grpc_tls_cert.empty() != listeners.grpc_tls_key.empty()) {
    return absl::InvalidArgumentError("--grpc_tls_cert and --grpc_tls_key go together: set both");
  }
  if (listeners.grpc_tls_cert.empty()) {
    if (!listeners.grpc_tls_client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--grpc_tls_client_ca needs --grpc_tls_cert and --grpc_tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  // gRPC reads the files on its own thread and only logs what it cannot use; so they are checked
  // and staged here first (a bad file stops the start), and SIGHUP stages them again.
  auto stage = GrpcCertificateStage::Create(
      {listeners.grpc_tls_cert, listeners.grpc_tls_key, listeners.grpc_tls_client_ca});
  if (!stage.ok()) return stage.status();
  grpc_tls_ = std::move(*stage);
  grpc::experimental::TlsServerCredentialsOptions options(grpc_tls_->provider());
  options.watch_identity_key_cert_pairs();
  if (listeners.grpc_tls_client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  spdlog::info(
      "gRPC over TLS with {}{} (SIGHUP reloads it; staged in {})", listeners.grpc_tls_cert,
      listeners.grpc_tls_client_ca.empty()
          ? ""
          : absl::StrCat(", client certificates required from ", listeners.grpc_tls_client_ca),
      grpc_tls_->directory());
  return grpc::experimental::TlsServerCredentials(options);
}

absl::Status BridgeServer::ReloadCertificates() {
  std::vector<std::string> errors;
  if (ws_tls_ != nullptr) {
    if (absl::Status status = ws_tls_->Reload(); !status.ok()) {
      errors.push_back(absl::StrCat("--ws_tls_cert/--ws_tls_key: ", status.message(),
                                    " (the current certificate stays)"));
    }
  }
  if (grpc_tls_ != nullptr) {
    if (absl::Status status = grpc_tls_->Reload(); !status.ok()) {
      errors.push_back(absl::StrCat(status.message(), " (the current certificate stays)"));
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

std::string BridgeServer::MetricsText() const { return metrics_->ExpositionText(); }

std::string BridgeServer::NotReadyReason() const {
  std::vector<std::string> reasons;
  for (size_t i = 0; i < listeners_.size(); ++i) {
    const Listener& listener = *listeners_[i];
    if (listener.accepting()) continue;
    const bool websocket = i < threads_.size();
    reasons.push_back(absl::StrCat(
        websocket ? absl::StrCat("WebSocket listener of I/O thread ", i) : "admin listener",
        " on port ", listener.port(), " is not accepting connections",
        listener.last_error() != 0
            ? absl::StrCat(" (", std::system_category().message(listener.last_error()), ")")
            : ""));
  }
  if (grpc_probe_ != nullptr) {
    if (std::string reason = grpc_probe_->NotAcceptingReason(); !reason.empty()) {
      reasons.push_back(std::move(reason));
    }
  }
  return absl::StrJoin(reasons, "; ");
}

void BridgeServer::Shutdown(absl::Duration drain) {
  if (stopped_) return;
  stopped_ = true;
  lifecycle_.StartDraining();
  if (grpc_server_ != nullptr) {
    grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  }
  // Listeners stay open while sessions drain, so new browsers get a clear 503.
  if (threads_started_) {
    // Closed in batches over the window (hub/drain_schedule.h), so browsers do not all come
    // back at once; each close frame goes behind what is queued for its session. The last batch
    // leaves room for the close handshakes, whose deadline bounds the wait below.
    const absl::Time drain_start = absl::Now();
    const auto schedule =
        std::make_shared<const DrainSchedule>(drain, config_.session.close_timeout);
    spdlog::info("drain: closing {} sessions with 1001 in up to {} batches over {}",
                 limiter_->sessions(), schedule->steps(),
                 absl::FormatDuration(schedule->StartOf(schedule->steps() - 1)));
    drain_report_ = DrainSessions(*hub_, *limiter_, schedule, 1001, "server shutting down");
    limiter_->AwaitNoSessions(drain_start + drain + config_.session.close_timeout +
                              absl::Seconds(1));
  }
  for (auto& listener : listeners_) listener->Stop();
  for (auto& sweeper : sweepers_) sweeper->Stop();
  // The drained sessions' closed events into the cluster's event log, for every node's streams.
  if (cluster_ != nullptr && !cluster_->AwaitFlushed(absl::Seconds(2))) {
    spdlog::warn("cluster: some session events did not reach Redis before the node stopped");
  }
  if (events_ != nullptr) {
    // Every `closed` event is in; streams finish writing what they hold, then end with OK.
    events_->Close();
    events_->AwaitNoSubscriptions(absl::Now() + absl::Seconds(5));
  }
  // Readiness is "draining" by now; the probe's last call ends before the server it calls.
  if (grpc_probe_ != nullptr) grpc_probe_->Stop();
  if (grpc_server_ != nullptr) {
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc_server_->Wait();
  }
  // No call comes any more; the Redis thread stops before the I/O threads it posts to.
  if (cluster_ != nullptr) cluster_->Stop();
  for (auto& thread : threads_) thread->StopAndJoin();
}

BridgeServer::~BridgeServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace wsbridge
