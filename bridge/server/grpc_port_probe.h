// GrpcPortProbe: tells whether the node's own gRPC port still accepts connections, for
// readiness (/readyz).
//
// Why a probe: gRPC gives no signal when its listener dies. In gRPC 1.51 one failed accept4 other
// than EAGAIN/ECONNABORTED (EMFILE, when the process runs out of descriptors) makes the port's
// accept loop give up for good (src/core/lib/iomgr/tcp_server_posix.cc, on_read: it logs "Failed
// accept4" and never re-arms the socket). The socket stays open, so a plain TCP connect still
// succeeds (the kernel completes it into the backlog) while nobody ever accepts. Hence a real
// gRPC call: a health Check (exempt from the API key) on a NEW connection each time (a channel
// of its own with a local subchannel pool, so no connection made earlier is reused), with a
// deadline. Any answer, even an error status from the service, proves the port accepts; a
// deadline or connection failure does not.
//
// With gRPC over TLS the probe speaks TLS too, trusting whatever certificate the port presents (it
// asks whether the port accepts, not who it is). With mutual TLS the node does not start it
// (server/bridge_server.cc): it has no client certificate, and every refused probe would be an
// error line in gRPC's log each second.
//
// It runs on a thread of its own every `interval`, so /readyz only reads the cached result and
// never waits on the network (the admin port runs on an I/O thread). One failure could be a
// stall under load, so the port counts as not accepting after two probes in a row failed.
//
// Thread-safety: Start()/Stop() from the controlling thread; NotAcceptingReason() from any, also
// before Start() (empty then).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace wsbridge {

class GrpcPortProbe {
 public:
  GrpcPortProbe(absl::Duration interval, absl::Duration timeout);
  ~GrpcPortProbe();  // Stop()
  GrpcPortProbe(const GrpcPortProbe&) = delete;
  GrpcPortProbe& operator=(const GrpcPortProbe&) = delete;

  // Starts probing `target`: "host:port" of the node's gRPC port as a client reaches it
  // (loopback); `tls`: the port speaks TLS. Once at most.
  void Start(std::string target, bool tls = false);
  // Ends the probe thread; idempotent.
  void Stop();

  // Empty while the port accepts (and before the first probes); else why it seems not to.
  std::string NotAcceptingReason() const;

 private:
  void Run();
  // One health Check on a new connection: empty if answered, else the failure.
  std::string ProbeOnce() const;

  std::string target_;  // set by Start(), before the thread that reads it exists
  bool tls_ = false;    // likewise
  const absl::Duration interval_;
  const absl::Duration timeout_;
  absl::Notification stop_;
  std::thread thread_;
  mutable absl::Mutex mutex_;
  std::string reason_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace wsbridge
