#include "redis/redis_link.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "redis/hiredis_asio.h"
#include "runtime/io_thread.h"

namespace wsbridge {
namespace {

RedisReply Convert(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(Convert(*r.element[i]));
      break;
    default:  // REDIS_REPLY_NIL
      break;
  }
  return out;
}

RedisLink* LinkOf(const redisAsyncContext* ac) { return static_cast<RedisLink*>(ac->data); }

}  // namespace

struct RedisLink::Pending {
  Completion done;
};

RedisLink::RedisLink(IoThread& io, RedisClientOptions options, StateCallback on_state,
                     PushCallback on_push)
    : io_(io),
      options_(std::move(options)),
      on_state_(std::move(on_state)),
      on_push_(std::move(on_push)),
      backoff_(options_.reconnect_initial),
      retry_timer_(io.Make<boost::asio::steady_timer>()),
      connect_timer_(io.Make<boost::asio::steady_timer>()),
      watchdog_timer_(io.Make<boost::asio::steady_timer>()) {}

RedisLink::~RedisLink() {
  // Close() freed the context; a context left here would call back into freed memory.
  if (ac_ != nullptr) {
    closed_ = true;
    Abandon("redis: connection closed");
  }
}

std::string RedisLink::Where() const {
  return absl::StrCat(options_.url.host, ":", options_.url.port);
}

void RedisLink::Connect() {
  if (closed_ || ac_ != nullptr) return;
  ++attempt_;
  connected_ = false;
  handshake_pending_ = 0;
  abandon_reason_.clear();
  sent_.clear();
  probe_sent_.reset();
  redisAsyncContext* ac = redisAsyncConnect(options_.url.host.c_str(), options_.url.port);
  if (ac == nullptr) {
    Lost(absl::StrCat("redis: cannot connect to ", Where(), ": out of memory"));
    return;
  }
  if (ac->err != 0) {
    std::string why = absl::StrCat("redis: cannot connect to ", Where(), ": ", ac->errstr);
    redisAsyncFree(ac);  // no hooks installed yet: only closes the socket
    Lost(why);
    return;
  }
  ac->data = this;
  AttachHiredisToAsio(ac, io_, weak_from_this());
  ac_ = ac;
  redisAsyncSetConnectCallback(ac, OnConnect);
  redisAsyncSetDisconnectCallback(ac, OnDisconnect);

  // The handshake goes first in the output buffer, so whatever is sent after it runs
  // authenticated and on the right database.
  const uint64_t attempt = attempt_;
  const RedisUrl& url = options_.url;
  if (!url.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!url.username.empty()) auth.push_back(url.username);
    auth.push_back(url.password);
    ++handshake_pending_;
    Issue(auth, [this, attempt](const RedisReply& r) { OnHandshakeReply(attempt, "AUTH", r); });
  }
  if (url.db != 0 && ac_ != nullptr) {
    ++handshake_pending_;
    Issue({"SELECT", std::to_string(url.db)},
          [this, attempt](const RedisReply& r) { OnHandshakeReply(attempt, "SELECT", r); });
  }
  if (ac_ != nullptr) {
    ++handshake_pending_;
    Issue({"PING"}, [this, attempt](const RedisReply& r) { OnHandshakeReply(attempt, "PING", r); });
  }

  connect_timer_.expires_after(absl::ToChronoNanoseconds(options_.connect_timeout));
  connect_timer_.async_wait([weak = weak_from_this(), attempt](boost::system::error_code ec) {
    const auto self = weak.lock();
    if (ec || self == nullptr || self->attempt_ != attempt || self->ac_ == nullptr ||
        self->connected_) {
      return;
    }
    self->Abandon(absl::StrCat("redis: connecting to ", self->Where(), " timed out after ",
                               absl::FormatDuration(self->options_.connect_timeout)));
  });
}

void RedisLink::OnConnect(const redisAsyncContext* ac, int status) {
  RedisLink* link = LinkOf(ac);
  if (link->ac_ != ac) return;
  if (status != REDIS_OK) {
    // hiredis frees the context when this returns, failing what it held with this reason.
    link->ac_ = nullptr;
    link->abandon_reason_ =
        absl::StrCat("redis: cannot connect to ", link->Where(), ": ", ac->c.errstr);
    link->Lost(link->abandon_reason_);
    return;
  }
  if (link->handshake_pending_ == 0) link->MarkConnected();
}

void RedisLink::OnDisconnect(const redisAsyncContext* ac, int /*status*/) {
  RedisLink* link = LinkOf(ac);
  if (link->ac_ != ac) return;  // freed by Abandon(), which reported it
  link->ac_ = nullptr;
  link->Lost(ac->c.err != 0
                 ? absl::StrCat("redis: connection to ", link->Where(), " lost: ", ac->c.errstr)
                 : absl::StrCat("redis: connection to ", link->Where(), " closed"));
}

void RedisLink::OnReply(redisAsyncContext* ac, void* reply, void* privdata) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
  RedisLink* link = LinkOf(ac);
  if (reply != nullptr) {
    if (link->ac_ == ac && !link->sent_.empty()) link->sent_.pop_front();
    pending->done(Convert(*static_cast<redisReply*>(reply)));
    return;
  }
  // No reply: hiredis is freeing the context (a loss, or Abandon()).
  std::string why =
      !link->abandon_reason_.empty() ? link->abandon_reason_
      : ac->c.err != 0
          ? absl::StrCat("redis: connection to ", link->Where(), " lost: ", ac->c.errstr)
          : absl::StrCat("redis: connection to ", link->Where(), " closed");
  pending->done(RedisReply::Unanswered(std::move(why)));
}

void RedisLink::OnPush(redisAsyncContext* /*ac*/, void* reply, void* privdata) {
  RedisLink* link = static_cast<RedisLink*>(privdata);
  // A null reply: the context is being freed with this subscription in it.
  if (reply == nullptr || link->closed_ || link->on_push_ == nullptr) return;
  RedisReply converted = Convert(*static_cast<redisReply*>(reply));
  if (link->TakeProbeAnswer(converted)) return;
  link->on_push_(converted);
}

void RedisLink::OnHandshakeReply(uint64_t attempt, const char* what, const RedisReply& reply) {
  if (attempt != attempt_ || ac_ == nullptr) return;  // that attempt is already over
  // No answer: hiredis is freeing the context, and OnConnect or OnDisconnect reports why.
  if (reply.unanswered) return;
  // Any answer to the PING will do (LOADING, NOAUTH: Redis is there, the commands will say).
  if (reply.is_error() && std::string_view(what) != "PING") {
    Abandon(absl::StrCat("redis: ", what, " on ", Where(), " failed: ", reply.str));
    return;
  }
  if (--handshake_pending_ == 0 && (ac_->c.flags & REDIS_CONNECTED)) MarkConnected();
}

void RedisLink::MarkConnected() {
  connected_ = true;
  backoff_ = options_.reconnect_initial;
  connect_timer_.cancel();
  reported_lost_ = false;
  reported_error_.clear();
  last_error_.clear();
  connected_at_ = Clock::now();
  last_probe_ = connected_at_;
  ScheduleWatchdog();
  if (!closed_ && on_state_ != nullptr) {
    RedisStateChange change;
    change.connected = true;
    on_state_(change);
  }
}

void RedisLink::Lost(const std::string& why) {
  connected_ = false;
  handshake_pending_ = 0;
  connect_timer_.cancel();
  watchdog_timer_.cancel();
  sent_.clear();
  probe_sent_.reset();
  last_error_ = why;
  if (closed_) return;
  if (!reported_lost_ || why != reported_error_) {
    reported_lost_ = true;
    reported_error_ = why;
    if (on_state_ != nullptr) {
      RedisStateChange change;
      change.error = why;
      on_state_(change);
    }
  }
  if (!closed_) ScheduleRetry();
}

void RedisLink::Abandon(const std::string& why) {
  redisAsyncContext* ac = ac_;
  ac_ = nullptr;
  abandon_reason_ = why;
  // Fails every command it held with `why`; deferred by hiredis to the end of the callback when
  // called from one.
  redisAsyncFree(ac);
  Lost(why);
}

void RedisLink::ScheduleRetry() {
  retry_timer_.expires_after(absl::ToChronoNanoseconds(backoff_));
  backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
  retry_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    const auto self = weak.lock();
    if (!ec && self != nullptr) self->Connect();
  });
}

void RedisLink::ScheduleWatchdog() {
  if (options_.reply_timeout <= absl::ZeroDuration()) return;
  watchdog_timer_.expires_after(std::max<Clock::duration>(
      absl::ToChronoNanoseconds(options_.reply_timeout / 4), std::chrono::milliseconds(1)));
  watchdog_timer_.async_wait(
      [weak = weak_from_this(), attempt = attempt_](boost::system::error_code ec) {
        const auto self = weak.lock();
        if (ec || self == nullptr || self->attempt_ != attempt || self->closed_ ||
            !self->connected_ || self->ac_ == nullptr) {
          return;
        }
        self->Watch();
      });
}

bool RedisLink::Overdue(Clock::time_point now) const {
  const auto bound = absl::ToChronoNanoseconds(options_.reply_timeout);
  // Waiting counts from the connect at the earliest: commands given while it was under way.
  const auto late = [&](Clock::time_point sent) {
    return now - std::max(sent, connected_at_) > bound;
  };
  return (!sent_.empty() && late(sent_.front())) || (probe_sent_ && late(*probe_sent_));
}

void RedisLink::Watch() {
  if (Overdue(Clock::now())) {
    // Replies may be waiting unread when this thread itself was busy: read what is there first
    // (a non-blocking read; callbacks run as from the loop).
    redisAsyncHandleRead(ac_);
    if (closed_ || !connected_ || ac_ == nullptr) return;
    if (Overdue(Clock::now())) {
      Abandon(absl::StrCat("redis: ", Where(), " did not answer within ",
                           absl::ToInt64Milliseconds(options_.reply_timeout), " ms"));
      return;
    }
  }
  const Clock::time_point now = Clock::now();
  if (on_push_ != nullptr && !probe_sent_ &&
      now - last_probe_ >= absl::ToChronoNanoseconds(options_.reply_timeout / 2) &&
      SendPubSub({"SUBSCRIBE", options_.probe_channel})) {
    probe_sent_ = now;
    last_probe_ = now;
  }
  ScheduleWatchdog();
}

bool RedisLink::TakeProbeAnswer(const RedisReply& reply) {
  if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 2 ||
      reply.elements[0].str != "subscribe" || reply.elements[1].str != options_.probe_channel) {
    return false;
  }
  probe_sent_.reset();
  last_probe_ = Clock::now();
  return true;
}

void RedisLink::Send(const std::vector<std::string>& argv, Completion done) {
  if (closed_) {
    done(RedisReply::Unanswered("redis: connection closed"));
  } else if (ac_ == nullptr) {
    done(RedisReply::Unanswered(absl::StrCat("redis: not connected: ", last_error_)));
  } else {
    Issue(argv, std::move(done));
  }
}

bool RedisLink::Issue(const std::vector<std::string>& argv, Completion done) {
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* pending = new Pending{std::move(done)};
  if (argv.empty() || redisAsyncCommandArgv(ac_, OnReply, pending, static_cast<int>(args.size()),
                                            args.data(), lengths.data()) != REDIS_OK) {
    std::unique_ptr<Pending> owned(pending);
    owned->done(RedisReply::Unanswered(argv.empty() ? "redis: empty command"
                                                    : "redis: connection is closing"));
    return false;
  }
  sent_.push_back(Clock::now());
  return true;
}

bool RedisLink::SendPubSub(const std::vector<std::string>& argv) {
  if (closed_ || ac_ == nullptr || argv.empty()) return false;
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  return redisAsyncCommandArgv(ac_, OnPush, this, static_cast<int>(args.size()), args.data(),
                               lengths.data()) == REDIS_OK;
}

void RedisLink::Close() {
  closed_ = true;
  retry_timer_.cancel();
  connect_timer_.cancel();
  watchdog_timer_.cancel();
  if (ac_ != nullptr) Abandon("redis: connection closed");
}

}  // namespace wsbridge
