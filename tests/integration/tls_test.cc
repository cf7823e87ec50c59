// TLS on both ports, each with certificates the test makes (support/test_certificates.h):
// wss for browsers (--ws_tls_cert, --ws_tls_key): the upgrade, pushes, browser messages and
// static files over TLS, checked with Asio's own TLS client (support/tls_ws_client.h); what is
// not TLS on that port (a plain WebSocket, garbage, a handshake given up halfway or never
// finished) is dropped without touching the sessions already open; a reload (what SIGHUP does)
// gives new connections the new certificate while open sessions carry on. gRPC over TLS and
// mutual TLS: calls work with the right credentials and fail without; a reload gives new gRPC
// connections the new certificate (or client CA) while open streams carry on, and files that are
// renewed but not reloaded, or broken, never reach gRPC. Bad files stop the start with
// INVALID_ARGUMENT naming the flag; the binary exits 2 and reloads both ports on a real SIGHUP.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "server/grpc_certificate_stage.h"
#include "support/child_process.h"
#include "support/events_reader.h"
#include "support/eventually.h"
#include "support/raw_ws_client.h"
#include "support/test_bridge.h"
#include "support/test_certificates.h"
#include "support/tls_ws_client.h"
#include "support/ws_client.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

// The certificates of one test: a CA and the bridge's certificate ("bridge-A") that it signed.
struct Pki {
  Pki()
      : directory(MakeTempDirectory("wsbridge-tls")),
        ca(directory, "test"),
        server(ca.Issue("bridge-A", "server")) {}
  std::string directory;
  TestCa ca;
  CertificateFiles server;
};

std::function<void(Config&)> WithWss(const Pki& pki, std::function<void(Config&)> more = nullptr) {
  return [&pki, more](Config& config) {
    config.listeners.ws_tls_cert = pki.server.cert;
    config.listeners.ws_tls_key = pki.server.key;
    if (more) more(config);
  };
}

v1::PushResponse PushText(v1::Bridge::Stub& api, const std::string& session_id,
                          const std::string& text) {
  v1::PushRequest request;
  request.add_session_ids(session_id);
  request.mutable_message()->set_text(text);
  v1::PushResponse response;
  const grpc::Status status = api.Push(CallContext().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

std::unique_ptr<TlsWsClient> ConnectWss(uint16_t port, const Pki& pki) {
  std::string error;
  auto client = TlsWsClient::Connect(port, pki.ca.cert_path(), "/ws", &error);
  EXPECT_NE(client, nullptr) << error;
  return client;
}

// ---- wss ----

TEST(WssTest, UpgradePushesAndBrowserMessagesOverTls) {
  Pki pki;
  TestBridge bridge(WithWss(pki));
  v1::EventsRequest request;
  request.add_kinds(v1::EVENT_KIND_MESSAGE);
  EventsReader events(bridge.api(), request);
  auto browser = ConnectWss(bridge.ws_port(), pki);
  ASSERT_NE(browser, nullptr);
  EXPECT_EQ(browser->peer_common_name(), "bridge-A");
  ASSERT_FALSE(browser->session_id().empty());

  EXPECT_EQ(PushText(bridge.api(), browser->session_id(), "hello over tls").queued(), 1u);
  EXPECT_EQ(browser->NextMessage(), "hello over tls");
  // Larger than a TLS record many times over: written as many records, maybe in several writes.
  const std::string large(300 * 1024, 'x');
  EXPECT_EQ(PushText(bridge.api(), browser->session_id(), large).queued(), 1u);
  EXPECT_EQ(browser->NextMessage(), large);

  ASSERT_TRUE(browser->SendText("from the browser"));
  std::optional<v1::Event> event = events.Next(absl::Seconds(10));
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->session_id(), browser->session_id());
  EXPECT_EQ(event->message().message().text(), "from the browser");
}

TEST(WssTest, StaticFilesOverHttps) {
  Pki pki;
  const std::string root = MakeTempDirectory("wsbridge-tls-static");
  std::ofstream(root + "/index.html") << "<!doctype html><title>over tls</title>";
  TestBridge bridge(WithWss(pki, [&](Config& config) { config.listeners.static_dir = root; }));
  const HttpsReply reply = HttpsGet(bridge.ws_port(), "/index.html", pki.ca.cert_path());
  EXPECT_EQ(reply.status, 200u) << reply.error;
  EXPECT_EQ(reply.body, "<!doctype html><title>over tls</title>");
  EXPECT_EQ(HttpsGet(bridge.ws_port(), "/missing.html", pki.ca.cert_path()).status, 404u);
}

TEST(WssTest, PlainWebSocketToTheTlsPortFailsAndOpenSessionsCarryOn) {
  Pki pki;
  TestBridge bridge(WithWss(pki));
  auto browser = ConnectWss(bridge.ws_port(), pki);
  ASSERT_NE(browser, nullptr);

  HttpAnswer answer;
  EXPECT_EQ(WsClient::Connect(bridge.ws_port(), "/ws", {}, &answer), nullptr);
  RawWsClient plain(bridge.ws_port());
  plain.Write(UpgradeRequest());
  // Closed without a WebSocket answer: TLS failed on the first bytes.
  std::optional<std::string> rest = plain.ReadToEnd(absl::Seconds(10));
  ASSERT_TRUE(rest.has_value()) << "the plain connection was left open";
  EXPECT_EQ(rest->find("101 Switching Protocols"), std::string::npos);

  EXPECT_EQ(PushText(bridge.api(), browser->session_id(), "still here").queued(), 1u);
  EXPECT_EQ(browser->NextMessage(), "still here");
}

TEST(WssTest, GarbageAndAbandonedTlsHandshakesDoNotHurtOpenSessions) {
  Pki pki;
  TestBridge bridge(
      WithWss(pki, [](Config& config) { config.session.handshake_timeout = absl::Seconds(1); }));
  auto browser = ConnectWss(bridge.ws_port(), pki);
  ASSERT_NE(browser, nullptr);

  // Bytes that are no TLS at all.
  RawWsClient garbage(bridge.ws_port());
  garbage.Write(std::string(300, '\x16') + "\x03\x03 not a record");
  EXPECT_TRUE(garbage.ReadToEnd(absl::Seconds(10)).has_value());
  // The start of a ClientHello record, then nothing more: the handshake timeout ends it.
  RawWsClient halfway(bridge.ws_port());
  halfway.Write(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
  EXPECT_TRUE(halfway.ReadToEnd(absl::Seconds(10)).has_value());
  // A connection that never says anything: the same timeout.
  RawWsClient silent(bridge.ws_port());
  EXPECT_TRUE(silent.ReadToEnd(absl::Seconds(10)).has_value());
  // A client that gives up halfway through its ClientHello.
  {
    RawWsClient quitter(bridge.ws_port());
    quitter.Write(std::string("\x16\x03\x01\x02\x00\x01", 6));
    quitter.Close();
  }

  EXPECT_EQ(PushText(bridge.api(), browser->session_id(), "unharmed").queued(), 1u);
  EXPECT_EQ(browser->NextMessage(), "unharmed");
  auto another = ConnectWss(bridge.ws_port(), pki);
  ASSERT_NE(another, nullptr);
  EXPECT_EQ(PushText(bridge.api(), another->session_id(), "new one").queued(), 1u);
  EXPECT_EQ(another->NextMessage(), "new one");
}

TEST(WssTest, ReloadGivesNewConnectionsTheNewCertificateAndKeepsOpenSessions) {
  Pki pki;
  TestBridge bridge(WithWss(pki));
  auto before = ConnectWss(bridge.ws_port(), pki);
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->peer_common_name(), "bridge-A");

  // Renewed in place, as an operator (or certbot) does; then what SIGHUP calls.
  pki.ca.Issue("bridge-B", "server");
  ASSERT_TRUE(bridge.server().ReloadCertificates().ok());
  auto after = ConnectWss(bridge.ws_port(), pki);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->peer_common_name(), "bridge-B");
  EXPECT_EQ(PushText(bridge.api(), before->session_id(), "old session").queued(), 1u);
  EXPECT_EQ(before->NextMessage(), "old session");
  EXPECT_EQ(PushText(bridge.api(), after->session_id(), "new session").queued(), 1u);
  EXPECT_EQ(after->NextMessage(), "new session");

  // A broken key file: the reload fails, says why, and the certificate in use stays.
  std::ofstream(pki.server.key) << "not a key\n";
  const absl::Status failed = bridge.server().ReloadCertificates();
  EXPECT_TRUE(absl::IsInvalidArgument(failed)) << failed;
  EXPECT_THAT(failed.message(), HasSubstr(pki.server.key));
  EXPECT_EQ(PresentedCommonName(bridge.ws_port()), "bridge-B");
  EXPECT_EQ(PushText(bridge.api(), before->session_id(), "still the old one").queued(), 1u);
  EXPECT_EQ(before->NextMessage(), "still the old one");
}

TEST(WssTest, UnusableCertificateFilesStopTheStartNamingTheFlag) {
  Pki pki;
  const CertificateFiles other = pki.ca.Issue("other", "other");
  struct Case {
    std::string cert, key, expected;
  };
  for (const Case& c : std::vector<Case>{
           {"/nonexistent/server.crt", pki.server.key, "/nonexistent/server.crt"},
           {pki.server.cert, "/nonexistent/server.key", "/nonexistent/server.key"},
           {pki.server.cert, other.key, "does not match"},
           {pki.server.cert, "", "go together"},
       }) {
    SCOPED_TRACE(c.expected);
    Config config = DefaultTestConfig();
    config.listeners.ws_tls_cert = c.cert;
    config.listeners.ws_tls_key = c.key;
    auto server = BridgeServer::Start(config);
    ASSERT_FALSE(server.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(server.status())) << server.status();
    EXPECT_THAT(server.status().message(), HasSubstr("--ws_tls_"));
    EXPECT_THAT(server.status().message(), HasSubstr(c.expected));
  }
  for (const auto& [customize, expected] :
       std::vector<std::pair<std::function<void(Config&)>, std::string>>{
           {[&](Config& c) {
              c.listeners.grpc_tls_cert = "/nonexistent/grpc.crt";
              c.listeners.grpc_tls_key = pki.server.key;
            },
            "/nonexistent/grpc.crt"},
           {[&](Config& c) {
              c.listeners.grpc_tls_cert = pki.server.cert;
              c.listeners.grpc_tls_key = pki.server.key;
              c.listeners.grpc_tls_client_ca = "/nonexistent/ca.pem";
            },
            "/nonexistent/ca.pem"},
           {[&](Config& c) { c.listeners.grpc_tls_client_ca = pki.ca.cert_path(); },
            "--grpc_tls_client_ca needs"},
       }) {
    SCOPED_TRACE(expected);
    Config config = DefaultTestConfig();
    customize(config);
    auto server = BridgeServer::Start(config);
    ASSERT_FALSE(server.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(server.status())) << server.status();
    EXPECT_THAT(server.status().message(), HasSubstr("--grpc_tls_"));
    EXPECT_THAT(server.status().message(), HasSubstr(expected));
  }
}

// ---- gRPC ----

// A node with gRPC over TLS (and mTLS when `client_ca` is set), started without TestBridge
// (whose channel is plaintext).
std::unique_ptr<BridgeServer> StartGrpcTls(const Pki& pki, const std::string& client_ca = "") {
  Config config = DefaultTestConfig();
  config.listeners.grpc_tls_cert = pki.server.cert;
  config.listeners.grpc_tls_key = pki.server.key;
  config.listeners.grpc_tls_client_ca = client_ca;
  auto server = BridgeServer::Start(config);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A ListSessions call on a new channel with `credentials` to 127.0.0.1:port (an IP: no resolver,
// whose c-ares leaks under LSan; the certificate names the IP). Credentials that
// should work get time to connect (a loaded machine); others fail at the first attempt.
grpc::Status ListSessions(uint16_t port, std::shared_ptr<grpc::ChannelCredentials> credentials,
                          bool should_connect = false) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), std::move(credentials), args);
  if (should_connect) {
    channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }
  auto stub = v1::Bridge::NewStub(channel);
  v1::ListSessionsResponse response;
  return stub->ListSessions(CallContext().get(), v1::ListSessionsRequest(), &response);
}

std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca_path,
                                              const CertificateFiles* client = nullptr) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadAll(ca_path);
  if (client != nullptr) {
    options.pem_cert_chain = ReadAll(client->cert);
    options.pem_private_key = ReadAll(client->key);
  }
  return grpc::SslCredentials(options);
}

TEST(GrpcTlsTest, CallsOverTlsWorkAndPlaintextCallsFail) {
  Pki pki;
  auto server = StartGrpcTls(pki);
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->ports().grpc;
  const grpc::Status secure = ListSessions(port, Tls(pki.ca.cert_path()), true);
  EXPECT_TRUE(secure.ok()) << secure.error_message();
  const grpc::Status plaintext = ListSessions(port, grpc::InsecureChannelCredentials());
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE) << plaintext.error_message();
  // Readiness probes the TLS port with TLS.
  EXPECT_TRUE(Eventually([&] { return HttpGet(server->ports().admin, "/readyz").status == 200; },
                         absl::Seconds(20)));
}

TEST(GrpcTlsTest, MutualTlsRefusesClientsWithoutACertificateOfItsCa) {
  Pki pki;
  const CertificateFiles good = pki.ca.Issue("service-a", "client-good", /*client=*/true);
  TestCa stranger_ca(pki.directory, "stranger");
  const CertificateFiles foreign = stranger_ca.Issue("service-x", "client-foreign", true);
  auto server = StartGrpcTls(pki, pki.ca.cert_path());
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->ports().grpc;

  const grpc::Status accepted = ListSessions(port, Tls(pki.ca.cert_path(), &good), true);
  EXPECT_TRUE(accepted.ok()) << accepted.error_message();
  const grpc::Status without = ListSessions(port, Tls(pki.ca.cert_path()));
  EXPECT_EQ(without.error_code(), grpc::StatusCode::UNAVAILABLE) << without.error_message();
  const grpc::Status from_stranger = ListSessions(port, Tls(pki.ca.cert_path(), &foreign));
  EXPECT_EQ(from_stranger.error_code(), grpc::StatusCode::UNAVAILABLE)
      << from_stranger.error_message();
  // Ready: under mTLS /readyz does not probe the gRPC port (the probe has no certificate).
  EXPECT_TRUE(Eventually([&] { return HttpGet(server->ports().admin, "/readyz").status == 200; },
                         absl::Seconds(20)));
}

// A stub on a channel of its own to 127.0.0.1:port, connected (or given up) within 30 s.
std::unique_ptr<v1::Bridge::Stub> ConnectedStub(
    uint16_t port, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), std::move(credentials), args);
  channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return v1::Bridge::NewStub(channel);
}

// How long a test waits to see that something did NOT reach gRPC: over twice the file watcher's
// poll interval.
constexpr absl::Duration kLongerThanAPoll =
    absl::Milliseconds(2000 * GrpcCertificateStage::kPollSeconds + 500);

TEST(GrpcTlsTest, ReloadGivesNewConnectionsTheNewCertificateAndKeepsOpenStreams) {
  Pki pki;
  auto server = StartGrpcTls(pki);
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->ports().grpc;
  EXPECT_EQ(PresentedCommonName(port), "bridge-A");
  auto before = ConnectedStub(port, Tls(pki.ca.cert_path()));
  EventsReader events(*before, v1::EventsRequest());

  // Renewed in place: gRPC does not see it until the reload (the staged copy is what it reads).
  pki.ca.Issue("bridge-B", "server");
  absl::SleepFor(kLongerThanAPoll);
  EXPECT_EQ(PresentedCommonName(port), "bridge-A");
  ASSERT_TRUE(server->ReloadCertificates().ok());
  EXPECT_TRUE(
      Eventually([&] { return PresentedCommonName(port) == "bridge-B"; }, absl::Seconds(10)));
  const grpc::Status after = ListSessions(port, Tls(pki.ca.cert_path()), true);
  EXPECT_TRUE(after.ok()) << after.error_message();

  // The stream opened before the reload carries on, and so does its channel.
  auto browser = WsClient::Connect(server->ports().ws, "/ws");
  ASSERT_NE(browser, nullptr);
  std::optional<v1::Event> opened = events.Next(absl::Seconds(10));
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(opened->has_opened());
  EXPECT_EQ(opened->session_id(), browser->session_id());
  EXPECT_EQ(PushText(*before, browser->session_id(), "through the old channel").queued(), 1u);
  EXPECT_EQ(browser->NextMessage()->data, "through the old channel");

  // Broken files: the reload fails naming the flag and the file; what gRPC serves stays.
  const CertificateFiles other = pki.ca.Issue("bridge-C", "other");
  for (const auto& [key_contents, expected] : std::vector<std::pair<std::string, std::string>>{
           {"not a key\n", pki.server.key},
           {ReadAll(other.key), "does not match"},
       }) {
    SCOPED_TRACE(expected);
    std::ofstream(pki.server.key) << key_contents;
    const absl::Status failed = server->ReloadCertificates();
    EXPECT_TRUE(absl::IsInvalidArgument(failed)) << failed;
    EXPECT_THAT(failed.message(), HasSubstr("--grpc_tls_cert/--grpc_tls_key"));
    EXPECT_THAT(failed.message(), HasSubstr(expected));
  }
  absl::SleepFor(kLongerThanAPoll);
  EXPECT_EQ(PresentedCommonName(port), "bridge-B");
  const grpc::Status still = ListSessions(port, Tls(pki.ca.cert_path()), true);
  EXPECT_TRUE(still.ok()) << still.error_message();
}

TEST(GrpcTlsTest, ReloadRotatesTheClientCaOfMutualTls) {
  Pki pki;
  TestCa next_ca(pki.directory, "next");
  const CertificateFiles old_client = pki.ca.Issue("service-a", "client-old", /*client=*/true);
  const CertificateFiles new_client = next_ca.Issue("service-a", "client-new", /*client=*/true);
  const std::string client_ca = pki.directory + "/clients-ca.pem";
  std::ofstream(client_ca) << ReadAll(pki.ca.cert_path());
  auto server = StartGrpcTls(pki, client_ca);
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->ports().grpc;
  const grpc::Status old_accepted = ListSessions(port, Tls(pki.ca.cert_path(), &old_client), true);
  EXPECT_TRUE(old_accepted.ok()) << old_accepted.error_message();
  EXPECT_EQ(ListSessions(port, Tls(pki.ca.cert_path(), &new_client)).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  std::ofstream(client_ca) << ReadAll(next_ca.cert_path());
  ASSERT_TRUE(server->ReloadCertificates().ok());
  EXPECT_TRUE(
      Eventually([&] { return ListSessions(port, Tls(pki.ca.cert_path(), &new_client)).ok(); },
                 absl::Seconds(10)));
  EXPECT_EQ(ListSessions(port, Tls(pki.ca.cert_path(), &old_client)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// ---- The binary ----

struct Ports {
  uint16_t grpc = 0, ws = 0;
};

std::optional<Ports> ReadPorts(ChildProcess& bridge) {
  std::optional<std::string> line = bridge.ReadStdoutLine(absl::Seconds(30));
  if (!line.has_value()) return std::nullopt;
  static const std::regex kPattern(R"(grpc_port=(\d+) ws_port=(\d+))");
  std::smatch match;
  if (!std::regex_search(*line, match, kPattern)) return std::nullopt;
  return Ports{static_cast<uint16_t>(std::stoi(match[1])),
               static_cast<uint16_t>(std::stoi(match[2]))};
}

TEST(TlsBinaryTest, SighupReloadsBothPortsCertificatesWithoutDroppingSessions) {
  Pki pki;
  const CertificateFiles grpc_files = pki.ca.Issue("grpc-A", "grpc");
  ChildProcess bridge(
      WSBRIDGE_BINARY,
      {"--bind=127.0.0.1", "--grpc_port=0", "--ws_port=0", "--admin_port=0", "--allow_anonymous",
       "--io_threads=2", "--ws_tls_cert=" + pki.server.cert, "--ws_tls_key=" + pki.server.key,
       "--grpc_tls_cert=" + grpc_files.cert, "--grpc_tls_key=" + grpc_files.key});
  const std::optional<Ports> ports = ReadPorts(bridge);
  ASSERT_TRUE(ports.has_value()) << bridge.Stderr();
  auto before = ConnectWss(ports->ws, pki);
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->peer_common_name(), "bridge-A");
  EXPECT_EQ(PresentedCommonName(ports->grpc), "grpc-A");
  auto api = ConnectedStub(ports->grpc, Tls(pki.ca.cert_path()));

  pki.ca.Issue("bridge-B", "server");
  pki.ca.Issue("grpc-B", "grpc");
  bridge.Signal(SIGHUP);
  EXPECT_TRUE(
      Eventually([&] { return PresentedCommonName(ports->ws) == "bridge-B"; }, absl::Seconds(20)));
  EXPECT_TRUE(
      Eventually([&] { return PresentedCommonName(ports->grpc) == "grpc-B"; }, absl::Seconds(20)));
  EXPECT_EQ(PushText(*api, before->session_id(), "after sighup").queued(), 1u);
  EXPECT_EQ(before->NextMessage(), "after sighup");

  before.reset();  // gone before the drain, which would otherwise wait for its close handshake
  api.reset();
  bridge.Signal(SIGTERM);
  EXPECT_EQ(bridge.WaitExit(absl::Seconds(30)), 0);
  EXPECT_THAT(bridge.Stderr(), HasSubstr("SIGHUP: TLS certificates reloaded"));
}

TEST(TlsBinaryTest, AnUnreadableCertificateExits2NamingTheFlag) {
  ChildProcess bridge(WSBRIDGE_BINARY,
                      {"--bind=127.0.0.1", "--grpc_port=0", "--ws_port=0", "--admin_port=0",
                       "--ws_tls_cert=/nonexistent/ws.crt", "--ws_tls_key=/nonexistent/ws.key"});
  EXPECT_EQ(bridge.WaitExit(absl::Seconds(30)), 2);
  EXPECT_THAT(bridge.Stderr(), HasSubstr("--ws_tls_cert"));
  EXPECT_THAT(bridge.Stderr(), HasSubstr("/nonexistent/ws.crt"));
}

}  // namespace
}  // namespace wsbridge::testing
