#include "commands.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "connection.h"
#include "json_output.h"
#include "price_walk.h"

namespace wsbridge::cli {
namespace {

// What a command needs besides its options.
struct CommandContext {
  const std::string& name;
  Connection& connection;
  InterruptWatcher& interrupts;
  std::ostream& out;
  std::ostream& err;
};

int ReportUsage(const CommandContext& context, absl::string_view message) {
  context.err << "bridgectl: " << context.name << ": " << message << "\n";
  return kExitUsage;
}

// The one-line form of a gRPC error: the status by its canonical name, then its message.
int ReportRpcError(const CommandContext& context, const grpc::Status& status) {
  const std::string code =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  context.err << "bridgectl: " << context.name << ": " << code << ": "
              << absl::StrReplaceAll(status.error_message(), {{"\n", " "}}) << "\n";
  return kExitRpcError;
}

// Prints the answer of a unary call, or reports its error.
int Answer(const CommandContext& context, const grpc::Status& status,
           const google::protobuf::Message& response) {
  if (!status.ok()) return ReportRpcError(context, status);
  context.out << ToJsonLine(response) << std::endl;
  return kExitOk;
}

// Fills `message` from the flags; false (after reporting) if --binary_file cannot be read.
bool FillMessage(const CommandContext& context, const MessageOptions& options,
                 v1::Message* message) {
  switch (options.kind) {
    case MessageOptions::Kind::kNone:
      return true;  // the bridge answers INVALID_ARGUMENT naming the missing payload
    case MessageOptions::Kind::kText:
      message->set_text(options.value);
      return true;
    case MessageOptions::Kind::kBinary:
      message->set_binary(options.value);
      return true;
    case MessageOptions::Kind::kBinaryFile: {
      std::ifstream file(options.value, std::ios::binary);
      if (!file) {
        ReportUsage(context, absl::StrCat("--binary_file: cannot read ", options.value));
        return false;
      }
      std::ostringstream bytes;
      bytes << file.rdbuf();
      message->set_binary(bytes.str());
      return true;
    }
  }
  return true;
}

template <typename Field>
void AddAll(const std::vector<std::string>& values, Field* field) {
  for (const std::string& value : values) field->Add(std::string(value));
}

int Run(const CommandContext& context, const PushCommand& push) {
  v1::PushRequest request;
  AddAll(push.session_ids, request.mutable_session_ids());
  AddAll(push.user_ids, request.mutable_user_ids());
  if (push.message.kind != MessageOptions::Kind::kNone &&
      !FillMessage(context, push.message, request.mutable_message())) {
    return kExitUsage;
  }
  v1::PushResponse response;
  const grpc::Status status =
      context.connection.stub().Push(context.connection.UnaryContext().get(), request, &response);
  return Answer(context, status, response);
}

int Run(const CommandContext& context, const BroadcastCommand& broadcast) {
  v1::BroadcastRequest request;
  AddAll(broadcast.topics, request.mutable_topics());
  request.set_all_sessions(broadcast.all_sessions);
  AddAll(broadcast.exclude_session_ids, request.mutable_exclude_session_ids());
  if (broadcast.message.kind != MessageOptions::Kind::kNone &&
      !FillMessage(context, broadcast.message, request.mutable_message())) {
    return kExitUsage;
  }
  v1::BroadcastResponse response;
  const grpc::Status status = context.connection.stub().Broadcast(
      context.connection.UnaryContext().get(), request, &response);
  return Answer(context, status, response);
}

int Run(const CommandContext& context, const MembershipCommand& membership) {
  if (membership.subscribe) {
    v1::SubscribeRequest request;
    AddAll(membership.session_ids, request.mutable_session_ids());
    AddAll(membership.user_ids, request.mutable_user_ids());
    AddAll(membership.topics, request.mutable_topics());
    v1::SubscribeResponse response;
    const grpc::Status status = context.connection.stub().Subscribe(
        context.connection.UnaryContext().get(), request, &response);
    return Answer(context, status, response);
  }
  v1::UnsubscribeRequest request;
  AddAll(membership.session_ids, request.mutable_session_ids());
  AddAll(membership.user_ids, request.mutable_user_ids());
  AddAll(membership.topics, request.mutable_topics());
  v1::UnsubscribeResponse response;
  const grpc::Status status = context.connection.stub().Unsubscribe(
      context.connection.UnaryContext().get(), request, &response);
  return Answer(context, status, response);
}

int Run(const CommandContext& context, const DisconnectCommand& disconnect) {
  v1::DisconnectRequest request;
  AddAll(disconnect.session_ids, request.mutable_session_ids());
  AddAll(disconnect.user_ids, request.mutable_user_ids());
  request.set_code(disconnect.code);
  request.set_reason(disconnect.reason);
  v1::DisconnectResponse response;
  const grpc::Status status = context.connection.stub().Disconnect(
      context.connection.UnaryContext().get(), request, &response);
  return Answer(context, status, response);
}

int Run(const CommandContext& context, const ListSessionsCommand& list) {
  v1::ListSessionsRequest request;
  request.set_user_id(list.user_id);
  request.set_topic(list.topic);
  request.set_page_size(list.page_size);
  request.set_page_token(list.page_token);
  v1::ListSessionsResponse all;  // --all: every page's sessions gathered here
  for (;;) {
    v1::ListSessionsResponse page;
    const grpc::Status status = context.connection.stub().ListSessions(
        context.connection.UnaryContext().get(), request, &page);
    if (!list.all_pages || !status.ok()) return Answer(context, status, page);
    for (v1::Session& session : *page.mutable_sessions()) {
      *all.add_sessions() = std::move(session);
    }
    if (page.next_page_token().empty()) return Answer(context, status, all);
    request.set_page_token(page.next_page_token());
  }
}

int Run(const CommandContext& context, const GetSessionCommand& get) {
  v1::GetSessionRequest request;
  request.set_session_id(get.session_id);
  v1::Session response;
  const grpc::Status status = context.connection.stub().GetSession(
      context.connection.UnaryContext().get(), request, &response);
  return Answer(context, status, response);
}

int Run(const CommandContext& context, const EventsCommand& events) {
  v1::EventsRequest request;
  for (const v1::EventKind kind : events.kinds) request.add_kinds(kind);
  request.set_group(events.group);
  request.set_start_after_sequence(events.after);

  std::unique_ptr<grpc::ClientContext> call = context.connection.StreamContext();
  context.interrupts.OnInterrupt([&call] { call->TryCancel(); });
  // Cleared before `call` goes away; OnInterrupt waits for a running callback.
  absl::Cleanup forget_call = [&context] { context.interrupts.OnInterrupt(nullptr); };

  std::unique_ptr<grpc::ClientReader<v1::Event>> reader =
      context.connection.stub().Events(call.get(), request);
  v1::Event event;
  while (reader->Read(&event)) {
    context.out << ToJsonLine(event) << std::endl;  // a consumer sees each event at once
    if (!context.out) {
      call->TryCancel();  // nobody reads our output any more (a closed pipe): stop quietly
      reader->Finish();
      return kExitOk;
    }
  }
  const grpc::Status status = reader->Finish();
  if (context.interrupts.interrupted()) return kExitOk;
  if (!status.ok()) return ReportRpcError(context, status);
  return kExitOk;  // the bridge ended the stream (it is draining)
}

int Run(const CommandContext& context, const TickerCommand& ticker) {
  absl::Notification stop;
  context.interrupts.OnInterrupt([&stop] { stop.Notify(); });
  absl::Cleanup forget_stop = [&context] { context.interrupts.OnInterrupt(nullptr); };

  PriceWalk walk(ticker.seed != 0 ? ticker.seed : std::random_device{}());
  uint64_t sent = 0;
  const auto done = [&] {
    return stop.HasBeenNotified() || (ticker.count != 0 && sent >= ticker.count);
  };
  while (!done()) {
    for (const std::string& symbol : ticker.symbols) {
      if (done()) break;
      const std::string update = PriceUpdateJson(symbol, walk.Next(symbol), absl::Now());
      v1::BroadcastRequest request;
      request.add_topics(ticker.topic);
      request.mutable_message()->set_text(update);
      v1::BroadcastResponse response;
      const grpc::Status status = context.connection.stub().Broadcast(
          context.connection.UnaryContext().get(), request, &response);
      if (!status.ok()) {
        if (stop.HasBeenNotified()) return kExitOk;
        return ReportRpcError(context, status);
      }
      context.out << update << std::endl;
      ++sent;
    }
    if (!done()) stop.WaitForNotificationWithTimeout(ticker.interval);
  }
  return kExitOk;
}

int Run(const CommandContext&, const HelpRequest&) { return kExitOk; }  // main prints help

}  // namespace

int RunCommand(const Invocation& invocation, InterruptWatcher& interrupts, std::ostream& out,
               std::ostream& err) {
  absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Open(invocation.connection);
  if (!connection.ok()) {
    err << "bridgectl: " << invocation.name << ": " << connection.status().message() << "\n";
    return kExitUsage;
  }
  const CommandContext context{invocation.name, **connection, interrupts, out, err};
  return std::visit([&context](const auto& command) { return Run(context, command); },
                    invocation.command);
}

}  // namespace wsbridge::cli
