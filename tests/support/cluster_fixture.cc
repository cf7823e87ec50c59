#include "support/cluster_fixture.h"

#include <signal.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <regex>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "support/eventually.h"

#ifndef WSBRIDGE_BINARY
#error "WSBRIDGE_BINARY must name the wsbridge binary"
#endif

namespace wsbridge::testing {
namespace {

std::string ShellQuoted(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

ClusterFixture::ClusterFixture(Options options) {
  for (size_t i = 0; i < options.nodes; ++i) StartNode(i, options.extra_args);
}

ClusterFixture::~ClusterFixture() {
  for (auto& node : nodes_) {
    if (node->process == nullptr) continue;
    node->process->Signal(SIGTERM);
    if (!node->process->WaitExit(absl::Seconds(10)).has_value()) node->process->Signal(SIGKILL);
  }
}

void ClusterFixture::StartNode(size_t i, const std::vector<std::string>& extra_args) {
  auto node = std::make_unique<Node>();
  node->ports.node_id = absl::StrCat("node-", std::string(1, static_cast<char>('a' + i)));
  std::vector<std::string> args = {"--bind=127.0.0.1",
                                   "--grpc_port=0",
                                   "--ws_port=0",
                                   "--admin_port=0",
                                   "--allow_anonymous",
                                   "--io_threads=2",
                                   "--redis_url=" + redis_.Url(),
                                   "--node_id=" + node->ports.node_id};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  node->process = std::make_unique<ChildProcess>(WSBRIDGE_BINARY, args);
  auto line = node->process->ReadStdoutLine(absl::Seconds(30));
  static const std::regex kPattern(
      R"(^wsbridge listening grpc_port=(\d+) ws_port=(\d+) admin_port=(\d+) node_id=(\S+)$)");
  std::smatch match;
  if (!line.has_value() || !std::regex_match(*line, match, kPattern)) {
    throw std::runtime_error(absl::StrCat(node->ports.node_id,
                                          " did not start: ", line.value_or("(no line)"), "\n",
                                          node->process->Stderr()));
  }
  node->ports.grpc = static_cast<uint16_t>(std::stoi(match[1]));
  node->ports.ws = static_cast<uint16_t>(std::stoi(match[2]));
  node->ports.admin = static_cast<uint16_t>(std::stoi(match[3]));
  const std::string own_channel = "wsb:n:" + node->ports.node_id;
  if (!Eventually([&] { return Subscribers(own_channel) == 1; }, absl::Seconds(10))) {
    throw std::runtime_error(
        absl::StrCat(node->ports.node_id, " never subscribed to ", own_channel));
  }
  nodes_.push_back(std::move(node));
}

v1::Bridge::Stub& ClusterFixture::api(size_t i) {
  Node& node = *nodes_[i];
  if (node.stub == nullptr) {
    node.stub = v1::Bridge::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", node.ports.grpc),
                                                        grpc::InsecureChannelCredentials()));
  }
  return *node.stub;
}

void ClusterFixture::Kill(size_t i) {
  nodes_[i]->process->Signal(SIGKILL);
  nodes_[i]->process->WaitExit(absl::Seconds(10));
  nodes_[i]->process.reset();
}

std::string RunRedisCli(uint16_t port, const std::vector<std::string>& args) {
  std::vector<std::string> quoted;
  for (const std::string& a : args) quoted.push_back(ShellQuoted(a));
  const std::string command =
      absl::StrCat("redis-cli -p ", port, " ", absl::StrJoin(quoted, " "), " 2>&1");
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  pclose(pipe);
  return out;
}

void WriteDirectoryEntry(uint16_t port, const std::string& session_id, const std::string& node_id,
                         const std::string& user_id, const std::vector<std::string>& topics) {
  std::vector<std::string> sorted = topics;
  std::sort(sorted.begin(), sorted.end());
  RunRedisCli(port, {"HSET", "wsb:s:" + session_id, "node", node_id, "user", user_id, "topics",
                     absl::StrJoin(sorted, "\n"), "info", ""});
  RunRedisCli(port, {"ZADD", "wsb:sessions", "0", session_id});
  if (!user_id.empty()) RunRedisCli(port, {"ZADD", "wsb:us:" + user_id, "0", session_id});
  for (const std::string& topic : sorted) {
    RunRedisCli(port, {"ZADD", "wsb:ts:" + topic, "0", session_id});
  }
  RunRedisCli(port, {"SADD", "wsb:ns:" + node_id, session_id});
}

std::string ClusterFixture::RedisCli(const std::vector<std::string>& args) const {
  return RunRedisCli(redis_.port(), args);
}

std::vector<std::string> ClusterFixture::PubsubChannels() const {
  std::vector<std::string> channels =
      absl::StrSplit(RedisCli({"PUBSUB", "CHANNELS"}), '\n', absl::SkipEmpty());
  std::sort(channels.begin(), channels.end());
  return channels;
}

int ClusterFixture::Subscribers(const std::string& channel) const {
  std::vector<std::string> lines =
      absl::StrSplit(RedisCli({"PUBSUB", "NUMSUB", channel}), '\n', absl::SkipEmpty());
  if (lines.size() < 2) return -1;
  return std::atoi(lines[1].c_str());
}

void ClusterFixture::RegisterInDirectory(const std::string& session_id, const std::string& node_id,
                                         const std::string& user_id,
                                         const std::vector<std::string>& topics) {
  WriteDirectoryEntry(redis_.port(), session_id, node_id, user_id, topics);
}

}  // namespace wsbridge::testing
