#include "runtime/io_thread.h"

#include <future>

#include <cassert>
#include <string>

#include <pthread.h>

#include "spdlog/spdlog.h"

namespace wsbridge {

IoThread::IoThread(size_t index) : index_(index) {}

IoThread::~IoThread() { StopAndJoin(); }

void IoThread::Start() {
  work_.emplace(context_.get_executor());
  thread_ = std::thread([this] {
    thread_id_.store(std::this_thread::get_id());
    const std::string name = "wsb-io-" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    for (;;) {
      try {
        context_.run();
        return;
      } catch (const std::exception& e) {
        // A handler threw: log it and keep serving the other sessions of this thread.
        spdlog::error("io thread {}: unhandled exception: {}", index_, e.what());
      }
    }
  });
}

size_t IoThread::PollOnCallingThread() {
  assert(!thread_.joinable());
  thread_id_.store(std::this_thread::get_id());
  context_.restart();
  return context_.poll();
}

void IoThread::StopAndJoin() {
  if (!thread_.joinable()) return;
  work_.reset();
  context_.stop();
  thread_.join();
}

void IoThread::RunAndWait(std::function<void()> task) {
  if (IsCurrent()) return task();
  std::promise<void> ran;
  std::future<void> done = ran.get_future();
  Post([&task, &ran] {
    task();
    ran.set_value();
  });
  done.wait();
}

}  // namespace wsbridge
