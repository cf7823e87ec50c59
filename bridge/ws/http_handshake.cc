#include "ws/http_handshake.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/structured_log.h"
#include "spdlog/spdlog.h"
#include "ws/session.h"
#include "ws/static_files.h"
#include "ws/upgrade_decision.h"

namespace wsbridge {

namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {
// A request head bigger than this is not a browser handshake (the parser's own header limit, 8 KiB,
// comes first).
constexpr std::size_t kMaxRequestBytes = 16 * 1024;

// A refused body may already be on its way behind the head. Closing with it unread would make
// the kernel reset the connection, and the client could lose the 400 that says why; so up to this
// much of it is read away, a chunk at a time into a buffer that is reused, for at most kLinger.
constexpr uint64_t kMaxDiscardedBodyBytes = 1 << 20;
constexpr std::size_t kDiscardChunkBytes = 4096;
constexpr absl::Duration kLinger = absl::Seconds(1);

// Whether an If-None-Match value ("*", or a list of entity tags, weak ones included: RFC 9110
// section 13.1.2 compares them weakly) matches `etag`.
bool EtagMatches(std::string_view if_none_match, const std::string& etag) {
  for (absl::string_view tag :
       absl::StrSplit(absl::string_view(if_none_match.data(), if_none_match.size()), ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (tag == "*") return true;
    absl::ConsumePrefix(&tag, "W/");
    if (tag == etag) return true;
  }
  return false;
}
}  // namespace

HttpHandshake::HttpHandshake(boost::asio::ip::tcp::socket socket, SessionContext& context,
                             const HandshakeEnvironment& environment)
    : context_(context),
      transport_(environment.tls != nullptr
                     ? ws::Transport(std::move(socket), environment.tls->Current())
                     : ws::Transport(std::move(socket))),
      deadline_(context.thread.Make<boost::asio::steady_timer>()),
      environment_(environment) {}

void HttpHandshake::Run() {
  WSBRIDGE_ASSERT_ON(context_.thread);
  // One deadline for the TLS handshake and the request head together.
  ArmDeadline(context_.options.handshake_timeout);
  if (transport_.is_tls()) return ContinueTls(beast::error_code());
  ReadRequest();
}

void HttpHandshake::ArmDeadline(absl::Duration timeout) {
  deadline_.expires_after(absl::ToChronoNanoseconds(timeout));
  // Weak: the connection ends when its last operation does, not when the deadline passes.
  deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      beast::error_code ignored;
      self->transport_.Close(ignored);
    }
  });
}

void HttpHandshake::ContinueTls(beast::error_code wait) {
  if (wait) {
    spdlog::debug("TLS handshake: {}", wait.message());
    return;
  }
  beast::error_code ec;
  switch (transport_.Handshake(ec)) {
    case ws::Transport::HandshakeStep::kDone:
      return ReadRequest();
    case ws::Transport::HandshakeStep::kWantRead:
      return transport_.AsyncWaitReadable(
          [self = shared_from_this()](beast::error_code e) { self->ContinueTls(e); });
    case ws::Transport::HandshakeStep::kWantWrite:
      return transport_.AsyncWaitWritable(
          [self = shared_from_this()](beast::error_code e) { self->ContinueTls(e); });
    case ws::Transport::HandshakeStep::kFailed:
      // Plain HTTP to the TLS port, garbage, a client that gave up: closed without an answer.
      spdlog::debug("TLS handshake failed: {}", ec.message());
      return;
  }
}

void HttpHandshake::ReadRequest() {
  buffer_.max_size(kMaxRequestBytes);
  http::async_read_header(transport_, buffer_, parser_,
                          beast::bind_front_handler(&HttpHandshake::OnRead, shared_from_this()));
}

void HttpHandshake::OnRead(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) {
    spdlog::debug("handshake read failed: {}", ec.message());
    // A malformed or oversized request gets an answer; a vanished or silent peer does not.
    if (ec != http::error::end_of_stream &&
        ec.category() == make_error_code(http::error::bad_target).category()) {
      return Respond(400, absl::StrCat("bad request: ", ec.message(), "\n"));
    }
    return;
  }
  std::optional<uint64_t> content_length;  // Beast gives a boost::optional
  if (auto length = parser_.content_length()) content_length = *length;
  UpgradeDecision decision =
      DecideUpgrade(parser_.get(), content_length,
                    UpgradeSituation{.ws_path = environment_.ws_path,
                                     .static_files = environment_.static_files != nullptr,
                                     .draining = environment_.lifecycle.draining(),
                                     .policy = environment_.policy,
                                     .now = absl::Now()});
  if (const auto* refusal = std::get_if<UpgradeRefusal>(&decision)) {
    if (refusal->declared_body_bytes > 0) {
      // Read away what of the refused body is already on its way, bounded.
      const uint64_t buffered = buffer_.size();
      discard_budget_ = std::min(refusal->declared_body_bytes, kMaxDiscardedBodyBytes);
      discard_budget_ = discard_budget_ > buffered ? discard_budget_ - buffered : 0;
    }
    return Respond(refusal->http_status, refusal->message + "\n");
  }
  if (const auto* file = std::get_if<StaticFileRequest>(&decision)) {
    return ServeStatic(file->target);
  }
  AdmittedSession admitted = std::get<AdmittedSession>(std::move(decision));
  absl::StatusOr<SessionSlot> slot =
      context_.limiter.TryAdmit(admitted.user_id, context_.thread.index());
  if (!slot.ok()) return Respond(429, absl::StrCat(slot.status().message(), "\n"));
  Upgrade(std::move(admitted), std::move(*slot));
}

void HttpHandshake::Respond(unsigned status, std::string body) {
  // Answers to static file requests are not refused upgrades.
  if (!serving_static_) context_.metrics.CountRejection(status);
  // One line per refused upgrade (or unreadable request), with why; plain HTTP requests for
  // static files are not handshakes. The reason is ours and never holds the token: the request
  // target, which may, is not logged.
  if (!parser_.is_header_done() || beast::websocket::is_upgrade(parser_.get())) {
    beast::error_code ec;
    const auto remote = transport_.socket().remote_endpoint(ec);
    const absl::string_view reason = absl::StripTrailingAsciiWhitespace(body);
    LogEvent(
        spdlog::level::info, "handshake refused",
        {{"status", status},
         {"reason", std::string_view(reason.data(), reason.size())},
         {"remote_address",
          ec ? std::string() : absl::StrCat(remote.address().to_string(), ":", remote.port())}});
  }
  auto response = std::make_shared<http::response<http::string_body>>(
      static_cast<http::status>(status),
      parser_.get().version() == 0 ? 11 : parser_.get().version());
  response->set(http::field::server, "wsbridge");
  response->set(http::field::content_type, "text/plain; charset=utf-8");
  if (status == 426) {
    response->set(http::field::upgrade, "websocket");
    response->set(http::field::sec_websocket_version, "13");
  }
  response->body() = std::move(body);
  response->prepare_payload();
  Send(std::move(response));
}

void HttpHandshake::ServeStatic(const std::string& target) {
  serving_static_ = true;
  const http::verb method = parser_.get().method();
  if (method != http::verb::get && method != http::verb::head) {
    auto response = std::make_shared<http::response<http::string_body>>(
        http::status::method_not_allowed, parser_.get().version());
    response->set(http::field::server, "wsbridge");
    response->set(http::field::content_type, "text/plain; charset=utf-8");
    response->set(http::field::allow, "GET, HEAD");
    response->body() = "method not allowed\n";
    response->prepare_payload();
    return Send(std::move(response));
  }
  absl::StatusOr<std::string> relative = StaticRelativePath(target);
  if (!relative.ok()) return Respond(400, absl::StrCat(relative.status().message(), "\n"));
  absl::StatusOr<StaticFile> file = environment_.static_files->Read(*relative);
  if (!file.ok()) {
    if (absl::IsNotFound(file.status())) return Respond(404, "not found\n");
    spdlog::warn("static file {}: {}", *relative, file.status().ToString());
    return Respond(500, "cannot serve this file\n");
  }
  auto response = std::make_shared<http::response<http::string_body>>(http::status::ok,
                                                                      parser_.get().version());
  response->set(http::field::server, "wsbridge");
  response->set(http::field::etag, file->etag);
  // Revalidate every time: the page changes while one develops it, and a 304 is cheap.
  response->set(http::field::cache_control, "no-cache");
  response->set("X-Content-Type-Options", "nosniff");
  if (EtagMatches(parser_.get()[http::field::if_none_match], file->etag)) {
    response->result(http::status::not_modified);
    return Send(std::move(response));
  }
  response->set(http::field::content_type, file->content_type);
  response->body() = std::move(file->content);
  response->prepare_payload();
  Send(std::move(response));
}

void HttpHandshake::Send(std::shared_ptr<http::response<http::string_body>> response) {
  response->keep_alive(false);
  // A HEAD answer says what GET would send, Content-Length included, but carries no body.
  if (parser_.get().method() == http::verb::head) response->body().clear();
  http::async_write(
      transport_, *response, [self = shared_from_this(), response](beast::error_code, std::size_t) {
        beast::error_code ignored;
        self->transport_.ShutdownSend(ignored);
        if (self->discard_budget_ > 0) {
          // One deadline for the whole discard, so a trickling client cannot stretch it.
          self->ArmDeadline(std::min(kLinger, self->context_.options.handshake_timeout));
          self->DiscardBody();
        }
      });
}

void HttpHandshake::DiscardBody() {
  buffer_.clear();
  const auto chunk =
      static_cast<std::size_t>(std::min<uint64_t>(discard_budget_, kDiscardChunkBytes));
  transport_.async_read_some(
      buffer_.prepare(chunk), [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
        self->discard_budget_ -= std::min<uint64_t>(bytes, self->discard_budget_);
        if (!ec && self->discard_budget_ > 0) self->DiscardBody();
      });
}

void HttpHandshake::Upgrade(AdmittedSession admitted, SessionSlot slot) {
  deadline_.cancel();
  beast::error_code ec;
  SessionInfo info;
  info.id = context_.ids.Next();
  info.user_id = std::move(admitted.user_id);
  info.metadata = std::move(admitted.metadata);
  info.connected_at = absl::Now();
  auto remote = transport_.socket().remote_endpoint(ec);
  if (!ec) {
    const std::string address = remote.address().to_string();
    info.remote_address = remote.address().is_v6() ? absl::StrCat("[", address, "]:", remote.port())
                                                   : absl::StrCat(address, ":", remote.port());
  }
  auto session = std::make_shared<Session>(std::move(transport_), context_, std::move(slot),
                                           std::move(info), std::move(admitted.topics));
  // Frames the browser sent right behind its request arrived in the same read.
  session->Accept(parser_.get()[http::field::sec_websocket_key],
                  beast::buffers_to_string(buffer_.data()), NegotiateCompression());
}

std::optional<ws::DeflateAgreement> HttpHandshake::NegotiateCompression() const {
  if (!context_.options.compression.enabled) return std::nullopt;
  // Several Sec-WebSocket-Extensions fields make one list (RFC 6455 section 9.1).
  std::string offers;
  const auto [first, last] = parser_.get().equal_range(http::field::sec_websocket_extensions);
  for (auto field = first; field != last; ++field) {
    if (!offers.empty()) offers.append(", ");
    offers.append(field->value());
  }
  return ws::NegotiateDeflate(offers);
}

}  // namespace wsbridge
