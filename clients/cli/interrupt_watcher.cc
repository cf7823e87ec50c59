#include "interrupt_watcher.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <utility>

namespace wsbridge::cli {
namespace {

sigset_t InterruptSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

}  // namespace

InterruptWatcher::InterruptWatcher() {
  const sigset_t signals = InterruptSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  thread_ = std::thread([this] { Watch(); });
}

InterruptWatcher::~InterruptWatcher() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  // Wakes sigwait(); the watcher sees stopping_ and returns. A signal that arrives while the
  // callback runs stays pending until the next sigwait(), so this one is never lost.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

void InterruptWatcher::Watch() {
  const sigset_t signals = InterruptSignals();
  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    absl::MutexLock lock(&mutex_);
    if (stopping_) return;
    if (interrupted_ || !callback_) std::_Exit(128 + signal_number);
    interrupted_ = true;
    callback_();
  }
}

void InterruptWatcher::OnInterrupt(std::function<void()> callback) {
  absl::MutexLock lock(&mutex_);
  callback_ = std::move(callback);
  if (interrupted_ && callback_) callback_();
}

bool InterruptWatcher::interrupted() const {
  absl::MutexLock lock(&mutex_);
  return interrupted_;
}

}  // namespace wsbridge::cli
