// HiredisAsio: the event-library adapter that lets an IoThread's loop drive one hiredis async
// context (hiredis 0.14 ships adapters for libevent, libev, libuv..., none for Asio).
//
// hiredis asks for read and write readiness through its ev.addRead/delRead/addWrite/delWrite
// hooks; here each is an async_wait on a boost::asio::posix::stream_descriptor over hiredis's
// socket, and a ready socket calls redisAsyncHandleRead/Write. The descriptor does NOT own the
// socket: hiredis closes it when it frees the context, right after calling the ev.cleanup hook,
// so cleanup release()s it from Asio (deregistering it from epoll and cancelling the waits)
// without closing it. Closing it from both sides is the classic bug of such adapters: the number
// is reused by the next socket (often the reconnect's), which the stale side then closes or
// watches.
//
// Waits that were already complete when the context was freed may still run: they find the
// context gone and do nothing. While a wait's handler calls into hiredis it holds `owner` (the
// object whose callbacks hiredis will call, e.g. a RedisLink), so a callback that frees the
// context (which hiredis defers to the end of the callback) cannot leave hiredis calling into a
// destroyed owner.
//
// Thread-safety: everything runs on `io`'s thread; the hooks are called by hiredis only from
// calls made on that thread.
#pragma once

#include <memory>

struct redisAsyncContext;

namespace wsbridge {

class IoThread;

// Installs the hooks on `ac`. REQUIRES: on `io`'s thread; `ac` was just created by
// redisAsyncConnect (no hooks set yet) and will be freed on this thread.
void AttachHiredisToAsio(redisAsyncContext* ac, IoThread& io, std::weak_ptr<void> owner);

}  // namespace wsbridge
