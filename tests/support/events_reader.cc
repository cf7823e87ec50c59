#include "support/events_reader.h"

#include <utility>

namespace wsbridge::testing {

EventsReader::EventsReader(v1::Bridge::Stub& stub, v1::EventsRequest request, bool start_reading) {
  reader_ = stub.Events(&context_, request);
  if (start_reading) StartReading();
}

EventsReader::~EventsReader() {
  context_.TryCancel();
  if (!thread_.joinable()) {
    StartReading();  // to collect the status: a ClientReader must be finished
  }
  thread_.join();
}

void EventsReader::StartReading() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { ReadLoop(); });
}

void EventsReader::ReadLoop() {
  v1::Event event;
  while (reader_->Read(&event)) {
    absl::MutexLock lock(&mutex_);
    events_.push_back(event);
  }
  grpc::Status status = reader_->Finish();
  absl::MutexLock lock(&mutex_);
  ended_ = status;
}

std::optional<v1::Event> EventsReader::Next(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return !events_.empty() || ended_.has_value();
  };
  mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (events_.empty()) return std::nullopt;
  v1::Event event = std::move(events_.front());
  events_.pop_front();
  return event;
}

std::vector<v1::Event> EventsReader::ReadUntil(
    const std::function<bool(const std::vector<v1::Event>&)>& done, absl::Duration timeout) {
  std::vector<v1::Event> events;
  const absl::Time deadline = absl::Now() + timeout;
  while (!done(events)) {
    auto event = Next(deadline - absl::Now());
    if (!event.has_value()) break;
    events.push_back(std::move(*event));
  }
  return events;
}

std::optional<grpc::Status> EventsReader::WaitEnded(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return ended_.has_value(); };
  mutex_.AwaitWithTimeout(absl::Condition(&ended), timeout);
  return ended_;
}

void EventsReader::Cancel() { context_.TryCancel(); }

std::vector<v1::Event> EventsOf(const std::vector<v1::Event>& events,
                                const std::string& session_id) {
  std::vector<v1::Event> mine;
  for (const auto& event : events) {
    if (event.session_id() == session_id) mine.push_back(event);
  }
  return mine;
}

}  // namespace wsbridge::testing
