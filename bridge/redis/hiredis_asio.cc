#include "redis/hiredis_asio.h"

#include <hiredis/async.h>

#include <utility>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

#include "runtime/io_thread.h"

namespace wsbridge {
namespace {

using boost::asio::posix::stream_descriptor;

// The adapter's state for one context. hiredis holds it through ev.data (as `self`, dropped in
// cleanup); each pending wait holds it too, so it outlives the context by as long as a wait is
// outstanding.
struct Watch : std::enable_shared_from_this<Watch> {
  Watch(redisAsyncContext* context, IoThread& io, std::weak_ptr<void> owner_ref)
      : ac(context),
        descriptor(io.Make<stream_descriptor>(context->c.fd)),
        owner(std::move(owner_ref)) {}

  redisAsyncContext* ac;  // null once hiredis has freed it
  stream_descriptor descriptor;
  std::weak_ptr<void> owner;
  std::shared_ptr<Watch> self;
  bool want_read = false;
  bool want_write = false;
  bool read_waiting = false;
  bool write_waiting = false;
};

void WaitRead(const std::shared_ptr<Watch>& w);
void WaitWrite(const std::shared_ptr<Watch>& w);

// Rearms whatever hiredis still wants after a handler returned (hiredis re-adds reads itself,
// but a hook called while the wait was being handled found it marked as waiting).
void Rearm(const std::shared_ptr<Watch>& w) {
  if (w->ac == nullptr) return;
  if (w->want_read && !w->read_waiting) WaitRead(w);
  if (w->want_write && !w->write_waiting) WaitWrite(w);
}

void WaitRead(const std::shared_ptr<Watch>& w) {
  w->read_waiting = true;
  w->descriptor.async_wait(stream_descriptor::wait_read, [w](boost::system::error_code ec) {
    w->read_waiting = false;
    if (ec || w->ac == nullptr || !w->want_read) return;
    const std::shared_ptr<void> owner = w->owner.lock();
    if (owner == nullptr) return;
    redisAsyncHandleRead(w->ac);  // may free the context (then cleanup ran: ac is null)
    Rearm(w);
  });
}

void WaitWrite(const std::shared_ptr<Watch>& w) {
  w->write_waiting = true;
  w->descriptor.async_wait(stream_descriptor::wait_write, [w](boost::system::error_code ec) {
    w->write_waiting = false;
    if (ec || w->ac == nullptr || !w->want_write) return;
    const std::shared_ptr<void> owner = w->owner.lock();
    if (owner == nullptr) return;
    redisAsyncHandleWrite(w->ac);
    Rearm(w);
  });
}

Watch* Of(void* data) { return static_cast<Watch*>(data); }

void AddRead(void* data) {
  Watch* w = Of(data);
  w->want_read = true;
  if (!w->read_waiting) WaitRead(w->shared_from_this());
}

void DelRead(void* data) { Of(data)->want_read = false; }

void AddWrite(void* data) {
  Watch* w = Of(data);
  w->want_write = true;
  if (!w->write_waiting) WaitWrite(w->shared_from_this());
}

void DelWrite(void* data) { Of(data)->want_write = false; }

// hiredis is about to close the socket and free the context.
void Cleanup(void* data) {
  Watch* w = Of(data);
  w->ac = nullptr;
  w->want_read = false;
  w->want_write = false;
  // Deregisters from the reactor and cancels the waits (they complete with operation_aborted),
  // leaving the descriptor for hiredis to close.
  w->descriptor.release();
  // Last: may destroy `w` when no wait is outstanding.
  std::shared_ptr<Watch> self = std::move(w->self);
}

}  // namespace

void AttachHiredisToAsio(redisAsyncContext* ac, IoThread& io, std::weak_ptr<void> owner) {
  auto watch = std::make_shared<Watch>(ac, io, std::move(owner));
  watch->self = watch;
  ac->ev.data = watch.get();
  ac->ev.addRead = AddRead;
  ac->ev.delRead = DelRead;
  ac->ev.addWrite = AddWrite;
  ac->ev.delWrite = DelWrite;
  ac->ev.cleanup = Cleanup;
}

}  // namespace wsbridge
