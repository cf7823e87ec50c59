// idle_events_streams: opens N Events streams to a bridge and never reads them, as many stuck
// consumers in another process would. gRPC's flow-control windows fill and the bridge's writes
// to these streams stall; tests check that a healthy consumer beside them is not slowed down.
//
//   idle_events_streams HOST:PORT STREAMS [CONNECTIONS]
//
// Prints "open STREAMS" on stdout once every call is started, then waits until killed (the test's
// ChildProcess kills it by its PID). Spreads the streams over CONNECTIONS HTTP/2 connections
// (default 4), so both one connection's window and many connections' are exercised.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "wsbridge/v1/bridge.grpc.pb.h"

namespace {

struct IdleCall {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientAsyncReader<wsbridge::v1::Event>> reader;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HOST:PORT STREAMS [CONNECTIONS]\n", argv[0]);
    return 2;
  }
  const std::string target = argv[1];
  const int streams = std::atoi(argv[2]);
  const int connections = argc > 3 ? std::max(1, std::atoi(argv[3])) : 4;

  std::vector<std::unique_ptr<wsbridge::v1::Bridge::Stub>> stubs;
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("wsbridge.idle_connection", i);  // distinct args: a connection of its own
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(wsbridge::v1::Bridge::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  grpc::CompletionQueue queue;
  std::vector<std::unique_ptr<IdleCall>> calls;
  wsbridge::v1::EventsRequest request;
  for (int i = 0; i < streams; ++i) {
    auto call = std::make_unique<IdleCall>();
    call->reader = stubs[i % connections]->PrepareAsyncEvents(&call->context, request, &queue);
    call->reader->StartCall(call.get());
    calls.push_back(std::move(call));
  }
  // Wait for every call to start, then never ask for a message: nothing is read again.
  for (int started = 0; started < streams; ++started) {
    void* tag = nullptr;
    bool ok = false;
    if (!queue.Next(&tag, &ok)) return 1;
  }
  std::printf("open %d\n", streams);
  std::fflush(stdout);
  for (;;) pause();
}
