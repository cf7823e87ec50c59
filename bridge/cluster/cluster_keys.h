// ClusterKeys: the names of everything cluster mode keeps in Redis, in one place (docs/cluster.md
// describes each key, its type and who writes it). Every name starts with the namespace prefix
// ("wsb:" by default), so several clusters can share one Redis by prefix, and a test can see at
// a glance what belongs to wsbridge.
//
// Also the mapping between Redis stream entry ids ("<ms>-<seq>") and the `sequence` numbers of
// events: sequence = ms << 20 | seq, so sequences are strictly increasing in stream order, fit
// a uint64 until the year 10889, and 0 stays "no sequence" (no stream id is 0-0).
//
// Thread-safety: immutable after construction; share freely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace wsbridge::cluster {

class ClusterKeys {
 public:
  explicit ClusterKeys(std::string prefix = "wsb:") : prefix_(std::move(prefix)) {}

  const std::string& prefix() const { return prefix_; }

  // --- Pub/sub channels (one envelope per message; docs/cluster.md "Channels") ---------------
  // Messages for the sessions subscribed to `topic`.
  std::string TopicChannel(absl::string_view topic) const;
  // Messages and operations for the sessions of `user`.
  std::string UserChannel(absl::string_view user) const;
  // Messages and operations for sessions named by id that live on `node`.
  std::string NodeChannel(absl::string_view node) const;
  // Broadcasts to all sessions.
  std::string AllChannel() const;
  // Nothing: every subscriber connection SUBSCRIBEs it again and again as its watchdog's probe
  // (RedisClientOptions::probe_channel).
  std::string ProbeChannel() const;

  // --- The session directory ------------------------------------------------------------------
  // Hash of one session: node, user, info (a serialized wsbridge.v1.Session without stats).
  std::string Session(absl::string_view session_id) const;
  // Sorted sets (every score 0, ordered by id: ZRANGEBYLEX pages them) of session ids.
  std::string AllSessions() const;
  std::string UserSessions(absl::string_view user) const;
  std::string TopicSessions(absl::string_view topic) const;
  // Set of the session ids a node holds (what the reaper closes when the node is lost).
  std::string NodeSessions(absl::string_view node) const;

  // --- Nodes ----------------------------------------------------------------------------------
  // Sorted set: node id -> the time (ms, Redis clock) after which it counts as lost.
  std::string Nodes() const;
  // String: the lease of the reaper working on a lost node (its token, SET PX), then, once the
  // node's sessions are all closed, the tombstone "reaped" (a day) by which a node that comes
  // back learns it was given up (lost_node_reaper.h, node_heartbeat.h).
  std::string ReapLease(absl::string_view node) const;

  // --- Events ---------------------------------------------------------------------------------
  // The cluster's event log: a stream whose entries carry a serialized wsbridge.v1.Event in field
  // EventField() (sequence unset: it is the entry id) or a group change in GroupField().
  std::string Events() const;
  static constexpr absl::string_view EventField() { return "e"; }
  static constexpr absl::string_view GroupField() { return "g"; }
  // Prefix of the keys of Events groups (members, acknowledged cursors): Group("g") + "...".
  std::string Group(absl::string_view group) const;

 private:
  std::string Key(absl::string_view kind, absl::string_view name) const;

  std::string prefix_;
};

// "<ms>-<seq>" -> ms << 20 | seq; nullopt when `id` is not a stream id or does not fit.
std::optional<uint64_t> SequenceOfStreamId(absl::string_view id);
// The inverse: the stream id of a sequence ("0-0" for 0).
std::string StreamIdOfSequence(uint64_t sequence);

}  // namespace wsbridge::cluster
