#include "cluster/cluster_keys.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace wsbridge::cluster {
namespace {

constexpr int kSeqBits = 20;
constexpr uint64_t kMaxSeq = (uint64_t{1} << kSeqBits) - 1;
constexpr uint64_t kMaxMs = (uint64_t{1} << (64 - kSeqBits)) - 1;

}  // namespace

std::string ClusterKeys::Key(absl::string_view kind, absl::string_view name) const {
  return absl::StrCat(prefix_, kind, ":", name);
}

std::string ClusterKeys::TopicChannel(absl::string_view topic) const { return Key("t", topic); }
std::string ClusterKeys::UserChannel(absl::string_view user) const { return Key("u", user); }
std::string ClusterKeys::NodeChannel(absl::string_view node) const { return Key("n", node); }
std::string ClusterKeys::AllChannel() const { return absl::StrCat(prefix_, "all"); }

std::string ClusterKeys::ProbeChannel() const { return absl::StrCat(prefix_, "probe"); }

std::string ClusterKeys::Session(absl::string_view session_id) const {
  return Key("s", session_id);
}
std::string ClusterKeys::AllSessions() const { return absl::StrCat(prefix_, "sessions"); }
std::string ClusterKeys::UserSessions(absl::string_view user) const { return Key("us", user); }
std::string ClusterKeys::TopicSessions(absl::string_view topic) const { return Key("ts", topic); }
std::string ClusterKeys::NodeSessions(absl::string_view node) const { return Key("ns", node); }

std::string ClusterKeys::Nodes() const { return absl::StrCat(prefix_, "nodes"); }
std::string ClusterKeys::ReapLease(absl::string_view node) const { return Key("reap", node); }

std::string ClusterKeys::Events() const { return absl::StrCat(prefix_, "events"); }
std::string ClusterKeys::Group(absl::string_view group) const { return Key("g", group); }

std::optional<uint64_t> SequenceOfStreamId(absl::string_view id) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(id, absl::MaxSplits('-', 1));
  uint64_t ms = 0;
  uint64_t seq = 0;
  if (parts.first.empty() || parts.second.empty() || !absl::SimpleAtoi(parts.first, &ms) ||
      !absl::SimpleAtoi(parts.second, &seq) || ms > kMaxMs || seq > kMaxSeq) {
    return std::nullopt;
  }
  for (char c : id) {
    if (c != '-' && (c < '0' || c > '9')) return std::nullopt;  // SimpleAtoi allows "+1", " 1"
  }
  return ms << kSeqBits | seq;
}

std::string StreamIdOfSequence(uint64_t sequence) {
  return absl::StrCat(sequence >> kSeqBits, "-", sequence & kMaxSeq);
}

}  // namespace wsbridge::cluster
