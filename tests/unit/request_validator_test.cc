// Request validation: what a backend service is told when a gRPC request is wrong, and what a
// right one turns into. Each test writes the request a service would send and checks either the
// INVALID_ARGUMENT message (which must start with the field to fix) or the validated values.
#include "api/request_validator.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "broker/types.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hub/hub.h"
#include "ws/payload.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// Asserts INVALID_ARGUMENT whose message starts with `prefix` (the field, then the problem).
void ExpectInvalid(const absl::Status& status, const std::string& prefix) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith(prefix));
}

template <class T>
void ExpectInvalid(const absl::StatusOr<T>& result, const std::string& prefix) {
  ASSERT_FALSE(result.ok()) << "accepted, expected: " << prefix;
  ExpectInvalid(result.status(), prefix);
}

// The node's default limit (config.session.max_message_bytes); the payloads below are far under it.
const uint64_t kDefaultMaxMessageBytes = SessionOptions().max_message_bytes;

v1::PushRequest TextPush(std::vector<std::string> session_ids, std::vector<std::string> user_ids,
                         const std::string& text = "hello") {
  v1::PushRequest request;
  for (const std::string& id : session_ids) request.add_session_ids(id);
  for (const std::string& id : user_ids) request.add_user_ids(id);
  request.mutable_message()->set_text(text);
  return request;
}

v1::BroadcastRequest TopicBroadcast(std::vector<std::string> topics) {
  v1::BroadcastRequest request;
  for (const std::string& topic : topics) request.add_topics(topic);
  request.mutable_message()->set_text("hello");
  return request;
}

v1::DisconnectRequest DisconnectSession(uint32_t code, const std::string& reason = "") {
  v1::DisconnectRequest request;
  request.add_session_ids("s1");
  request.set_code(code);
  request.set_reason(reason);
  return request;
}

// --- Push ---------------------------------------------------------------------------------------

TEST(ValidatePushTest, APushToSessionsAndUsersBecomesTheirSelectorAndOneTextPayload) {
  const absl::StatusOr<ValidatedDelivery> push =
      ValidatePush(TextPush({"s1", "s2"}, {"alice"}, "hello"), kDefaultMaxMessageBytes);

  ASSERT_TRUE(push.ok()) << push.status();
  EXPECT_THAT(push->targets->selector.session_ids, ElementsAre("s1", "s2"));
  EXPECT_THAT(push->targets->selector.user_ids, ElementsAre("alice"));
  EXPECT_THAT(push->targets->topics, IsEmpty());
  EXPECT_FALSE(push->targets->all_sessions);
  EXPECT_THAT(push->targets->exclude_session_ids, IsEmpty());
  ASSERT_NE(push->payload, nullptr);
  EXPECT_EQ(push->payload->kind, Payload::Kind::kText);
  EXPECT_EQ(push->payload->bytes, "hello");
}

TEST(ValidatePushTest, ABinaryMessageBecomesABinaryPayloadWithTheSameBytes) {
  v1::PushRequest request = TextPush({}, {"alice"});
  request.mutable_message()->set_binary(std::string("\x00\xff\x01", 3));

  const absl::StatusOr<ValidatedDelivery> push = ValidatePush(request, kDefaultMaxMessageBytes);

  ASSERT_TRUE(push.ok()) << push.status();
  EXPECT_EQ(push->payload->kind, Payload::Kind::kBinary);
  EXPECT_EQ(push->payload->bytes, std::string("\x00\xff\x01", 3));
}

TEST(ValidatePushTest, AnEmptyTextIsStillAMessage) {
  const absl::StatusOr<ValidatedDelivery> push =
      ValidatePush(TextPush({"s1"}, {}, ""), kDefaultMaxMessageBytes);
  ASSERT_TRUE(push.ok()) << push.status();
  EXPECT_EQ(push->payload->bytes, "");
}

TEST(ValidatePushTest, APushWithNoSessionAndNoUserIsRefused) {
  ExpectInvalid(ValidatePush(TextPush({}, {}), kDefaultMaxMessageBytes),
                "session_ids or user_ids: ");
}

TEST(ValidatePushTest, AnEmptySessionIdIsRefusedNamingItsIndex) {
  ExpectInvalid(ValidatePush(TextPush({"s1", "", "s3"}, {}), kDefaultMaxMessageBytes),
                "session_ids[1]: empty id");
  ExpectInvalid(ValidatePush(TextPush({""}, {"alice"}), kDefaultMaxMessageBytes),
                "session_ids[0]: empty id");
}

TEST(ValidatePushTest, AnEmptyUserIdIsRefusedNamingItsIndex) {
  ExpectInvalid(ValidatePush(TextPush({"s1"}, {"alice", "bob", ""}), kDefaultMaxMessageBytes),
                "user_ids[2]: empty id");
}

TEST(ValidatePushTest, IdsLongerThan256BytesAreRefused) {
  ExpectInvalid(ValidatePush(TextPush({std::string(257, 'x')}, {}), kDefaultMaxMessageBytes),
                "session_ids[0]: id is 257 bytes, the limit is 256");
  ExpectInvalid(
      ValidatePush(TextPush({}, {"alice", std::string(300, 'u')}), kDefaultMaxMessageBytes),
      "user_ids[1]: id is 300 bytes");
  EXPECT_TRUE(ValidatePush(TextPush({std::string(256, 'x')}, {}), kDefaultMaxMessageBytes).ok());
}

TEST(ValidatePushTest, APushWithoutAMessageIsRefused) {
  v1::PushRequest request = TextPush({"s1"}, {});
  request.clear_message();
  ExpectInvalid(ValidatePush(request, kDefaultMaxMessageBytes), "message: required");

  // A message with neither text nor binary set is no message either.
  request.mutable_message();
  ExpectInvalid(ValidatePush(request, kDefaultMaxMessageBytes), "message: required");
}

TEST(ValidatePushTest, AMessageOverTheLimitIsRefusedNamingTheLimit) {
  const absl::StatusOr<ValidatedDelivery> push =
      ValidatePush(TextPush({"s1"}, {}, std::string(11, 'x')), 10);

  ExpectInvalid(push, "message: 11 bytes");
  EXPECT_THAT(std::string(push.status().message()), HasSubstr("limit of 10 bytes"));
  EXPECT_THAT(std::string(push.status().message()), HasSubstr("--max_message_bytes"));
}

TEST(ValidatePushTest, AMessageOfExactlyTheLimitIsAccepted) {
  EXPECT_TRUE(ValidatePush(TextPush({"s1"}, {}, std::string(10, 'x')), 10).ok());

  v1::PushRequest binary = TextPush({"s1"}, {});
  binary.mutable_message()->set_binary(std::string(11, '\0'));
  ExpectInvalid(ValidatePush(binary, 10), "message: 11 bytes");
}

TEST(ValidatePushTest, TheTargetIsCheckedBeforeTheMessage) {
  v1::PushRequest request;
  ExpectInvalid(ValidatePush(request, kDefaultMaxMessageBytes), "session_ids or user_ids: ");
}

// --- PushBatch ----------------------------------------------------------------------------------

constexpr size_t kDefaultMaxBatchItems = ApiOptions().max_batch_items;

v1::PushBatchRequest Batch(std::vector<v1::PushRequest> pushes) {
  v1::PushBatchRequest request;
  for (v1::PushRequest& push : pushes) *request.add_pushes() = std::move(push);
  return request;
}

TEST(ValidatePushBatchTest, EveryValidPushBecomesAnItemInRequestOrder) {
  auto batch =
      ValidatePushBatch(Batch({TextPush({}, {"alice"}, "one"), TextPush({"s1"}, {"bob"}, "two")}),
                        kDefaultMaxMessageBytes, kDefaultMaxBatchItems);

  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->verdicts.size(), 2u);
  EXPECT_TRUE(batch->verdicts[0].ok());
  EXPECT_TRUE(batch->verdicts[1].ok());
  ASSERT_EQ(batch->items->size(), 2u);
  EXPECT_THAT(batch->item_pushes, ElementsAre(0u, 1u));
  EXPECT_THAT((*batch->items)[0].targets->selector.user_ids, ElementsAre("alice"));
  EXPECT_EQ((*batch->items)[0].payload->bytes, "one");
  EXPECT_THAT((*batch->items)[1].targets->selector.session_ids, ElementsAre("s1"));
  EXPECT_THAT((*batch->items)[1].targets->selector.user_ids, ElementsAre("bob"));
  EXPECT_EQ((*batch->items)[1].payload->bytes, "two");
}

TEST(ValidatePushBatchTest, AnInvalidPushIsRefusedAloneNamingItsIndexAndField) {
  v1::PushRequest no_message = TextPush({"s1"}, {});
  no_message.clear_message();
  auto batch = ValidatePushBatch(
      Batch({TextPush({}, {"alice"}, "ok"), TextPush({}, {"bob", ""}), TextPush({}, {}), no_message,
             TextPush({}, {"carol"}, std::string(11, 'x')), TextPush({}, {"dave"}, "also ok")}),
      10, kDefaultMaxBatchItems);

  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->verdicts.size(), 6u);
  EXPECT_TRUE(batch->verdicts[0].ok());
  ExpectInvalid(batch->verdicts[1], "pushes[1].user_ids[1]: empty id");
  ExpectInvalid(batch->verdicts[2], "pushes[2].session_ids or user_ids: ");
  ExpectInvalid(batch->verdicts[3], "pushes[3].message: required");
  ExpectInvalid(batch->verdicts[4], "pushes[4].message: 11 bytes is over the limit of 10");
  EXPECT_TRUE(batch->verdicts[5].ok());
  EXPECT_THAT(batch->item_pushes, ElementsAre(0u, 5u));
  ASSERT_EQ(batch->items->size(), 2u);
  EXPECT_EQ((*batch->items)[1].payload->bytes, "also ok");
}

TEST(ValidatePushBatchTest, APushOverTheIdCapIsRefusedAlone) {
  v1::PushRequest huge;
  for (size_t i = 0; i <= kMaxIdsPerRequest; ++i) huge.add_user_ids("u");
  huge.mutable_message()->set_text("x");
  auto batch = ValidatePushBatch(Batch({huge, TextPush({}, {"alice"})}), kDefaultMaxMessageBytes,
                                 kDefaultMaxBatchItems);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ExpectInvalid(batch->verdicts[0], "pushes[0].session_ids and user_ids: 10001 ids");
  EXPECT_TRUE(batch->verdicts[1].ok());
}

TEST(ValidatePushBatchTest, OnlyInvalidPushesLeaveNothingToDeliver) {
  auto batch = ValidatePushBatch(Batch({TextPush({""}, {})}), kDefaultMaxMessageBytes,
                                 kDefaultMaxBatchItems);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ExpectInvalid(batch->verdicts[0], "pushes[0].session_ids[0]: empty id");
  EXPECT_THAT(*batch->items, IsEmpty());
}

TEST(ValidatePushBatchTest, AnEmptyBatchFailsTheCall) {
  ExpectInvalid(ValidatePushBatch(Batch({}), kDefaultMaxMessageBytes, kDefaultMaxBatchItems),
                "pushes: name at least one push");
}

TEST(ValidatePushBatchTest, MoreThanTheLimitFailsTheCallNamingTheFlagAndExactlyTheLimitPasses) {
  std::vector<v1::PushRequest> three(3, TextPush({}, {"alice"}));
  auto over = ValidatePushBatch(Batch(three), kDefaultMaxMessageBytes, 2);
  ExpectInvalid(over, "pushes: 3 pushes is over the limit of 2 pushes per call");
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("--max_batch_items"));
  EXPECT_TRUE(ValidatePushBatch(Batch(three), kDefaultMaxMessageBytes, 3).ok());
  EXPECT_EQ(kDefaultMaxBatchItems, 1000u);
}

// --- Broadcast ----------------------------------------------------------------------------------

TEST(ValidateBroadcastTest, ABroadcastToTopicsKeepsTopicsAndExclusions) {
  v1::BroadcastRequest request = TopicBroadcast({"news", "sports"});
  request.add_exclude_session_ids("sender");

  const absl::StatusOr<ValidatedDelivery> broadcast =
      ValidateBroadcast(request, kDefaultMaxMessageBytes);

  ASSERT_TRUE(broadcast.ok()) << broadcast.status();
  EXPECT_THAT(broadcast->targets->topics, ElementsAre("news", "sports"));
  EXPECT_FALSE(broadcast->targets->all_sessions);
  EXPECT_THAT(broadcast->targets->exclude_session_ids, ElementsAre("sender"));
  EXPECT_THAT(broadcast->targets->selector.session_ids, IsEmpty());
  EXPECT_THAT(broadcast->targets->selector.user_ids, IsEmpty());
  EXPECT_EQ(broadcast->payload->bytes, "hello");
}

TEST(ValidateBroadcastTest, ABroadcastToAllSessionsIsAccepted) {
  v1::BroadcastRequest request = TopicBroadcast({});
  request.set_all_sessions(true);

  const absl::StatusOr<ValidatedDelivery> broadcast =
      ValidateBroadcast(request, kDefaultMaxMessageBytes);

  ASSERT_TRUE(broadcast.ok()) << broadcast.status();
  EXPECT_TRUE(broadcast->targets->all_sessions);
  EXPECT_THAT(broadcast->targets->topics, IsEmpty());
}

TEST(ValidateBroadcastTest, NeitherTopicsNorAllSessionsIsRefused) {
  ExpectInvalid(ValidateBroadcast(TopicBroadcast({}), kDefaultMaxMessageBytes),
                "topics or all_sessions: ");
}

TEST(ValidateBroadcastTest, BothTopicsAndAllSessionsIsRefused) {
  v1::BroadcastRequest request = TopicBroadcast({"news"});
  request.set_all_sessions(true);
  ExpectInvalid(ValidateBroadcast(request, kDefaultMaxMessageBytes), "topics and all_sessions: ");
}

TEST(ValidateBroadcastTest, ABadTopicIsRefusedNamingItsIndex) {
  ExpectInvalid(ValidateBroadcast(TopicBroadcast({"news", ""}), kDefaultMaxMessageBytes),
                "topics[1]: empty topic");
  ExpectInvalid(ValidateBroadcast(TopicBroadcast({"bad\ttopic"}), kDefaultMaxMessageBytes),
                "topics[0]: topic contains a control character");
  ExpectInvalid(
      ValidateBroadcast(TopicBroadcast({"ok", std::string(257, 't')}), kDefaultMaxMessageBytes),
      "topics[1]: topic is 257 bytes, the limit is 256");
}

TEST(ValidateBroadcastTest, AnEmptyExcludedIdIsRefusedNamingItsIndex) {
  v1::BroadcastRequest request = TopicBroadcast({"news"});
  request.add_exclude_session_ids("sender");
  request.add_exclude_session_ids("");
  ExpectInvalid(ValidateBroadcast(request, kDefaultMaxMessageBytes),
                "exclude_session_ids[1]: empty id");
}

TEST(ValidateBroadcastTest, ABroadcastWithoutAMessageIsRefused) {
  v1::BroadcastRequest request = TopicBroadcast({"news"});
  request.clear_message();
  ExpectInvalid(ValidateBroadcast(request, kDefaultMaxMessageBytes), "message: required");
}

TEST(ValidateBroadcastTest, AMessageOverTheLimitIsRefused) {
  v1::BroadcastRequest request = TopicBroadcast({"news"});
  request.mutable_message()->set_text(std::string(101, 'x'));
  ExpectInvalid(ValidateBroadcast(request, 100), "message: 101 bytes");
}

// --- Subscribe / Unsubscribe ------------------------------------------------------------------

TEST(ValidateSubscribeTest, ASubscribeBecomesASelectorAndTopics) {
  v1::SubscribeRequest request;
  request.add_session_ids("s1");
  request.add_user_ids("alice");
  request.add_topics("news");
  request.add_topics("chat");

  const absl::StatusOr<ValidatedTopicChange> change = ValidateSubscribe(request);

  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_THAT(change->selector->session_ids, ElementsAre("s1"));
  EXPECT_THAT(change->selector->user_ids, ElementsAre("alice"));
  EXPECT_THAT(*change->topics, ElementsAre("news", "chat"));
}

TEST(ValidateSubscribeTest, EveryRuleOfSubscribeIsEnforced) {
  v1::SubscribeRequest no_target;
  no_target.add_topics("news");
  ExpectInvalid(ValidateSubscribe(no_target), "session_ids or user_ids: ");

  v1::SubscribeRequest no_topics;
  no_topics.add_user_ids("alice");
  ExpectInvalid(ValidateSubscribe(no_topics), "topics: name at least one topic");

  v1::SubscribeRequest bad_topic = no_topics;
  bad_topic.add_topics("news");
  bad_topic.add_topics("");
  ExpectInvalid(ValidateSubscribe(bad_topic), "topics[1]: empty topic");

  v1::SubscribeRequest bad_id;
  bad_id.add_session_ids("");
  bad_id.add_topics("news");
  ExpectInvalid(ValidateSubscribe(bad_id), "session_ids[0]: empty id");
}

TEST(ValidateUnsubscribeTest, AnUnsubscribeBecomesASelectorAndTopics) {
  v1::UnsubscribeRequest request;
  request.add_user_ids("alice");
  request.add_topics("news");

  const absl::StatusOr<ValidatedTopicChange> change = ValidateUnsubscribe(request);

  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_THAT(change->selector->session_ids, IsEmpty());
  EXPECT_THAT(change->selector->user_ids, ElementsAre("alice"));
  EXPECT_THAT(*change->topics, ElementsAre("news"));
}

TEST(ValidateUnsubscribeTest, EveryRuleOfUnsubscribeIsEnforced) {
  v1::UnsubscribeRequest no_target;
  no_target.add_topics("news");
  ExpectInvalid(ValidateUnsubscribe(no_target), "session_ids or user_ids: ");

  v1::UnsubscribeRequest no_topics;
  no_topics.add_session_ids("s1");
  ExpectInvalid(ValidateUnsubscribe(no_topics), "topics: name at least one topic");

  v1::UnsubscribeRequest bad_topic = no_topics;
  bad_topic.add_topics("a\x7f");
  ExpectInvalid(ValidateUnsubscribe(bad_topic), "topics[0]: topic contains a control character");

  v1::UnsubscribeRequest bad_user;
  bad_user.add_user_ids("");
  bad_user.add_topics("news");
  ExpectInvalid(ValidateUnsubscribe(bad_user), "user_ids[0]: empty id");
}

// --- Disconnect ---------------------------------------------------------------------------------

TEST(ValidateDisconnectTest, NoCodeMeansANormalClosure) {
  const absl::StatusOr<ValidatedDisconnect> disconnect = ValidateDisconnect(DisconnectSession(0));
  ASSERT_TRUE(disconnect.ok()) << disconnect.status();
  EXPECT_EQ(disconnect->code, 1000);
  EXPECT_EQ(disconnect->reason, "");
  EXPECT_THAT(disconnect->selector->session_ids, ElementsAre("s1"));
}

TEST(ValidateDisconnectTest, ServiceCloseCodesAreAccepted) {
  for (const uint32_t code : {1000u, 3000u, 4000u, 4999u}) {
    const absl::StatusOr<ValidatedDisconnect> disconnect =
        ValidateDisconnect(DisconnectSession(code, "bye"));
    ASSERT_TRUE(disconnect.ok()) << code << ": " << disconnect.status();
    EXPECT_EQ(disconnect->code, code);
    EXPECT_EQ(disconnect->reason, "bye");
  }
}

TEST(ValidateDisconnectTest, CodesAServiceMayNotSendAreRefusedNamingTheCode) {
  for (const uint32_t code : {1u, 999u, 1001u, 1006u, 1011u, 2999u, 5000u, 65536u + 1000u}) {
    ExpectInvalid(ValidateDisconnect(DisconnectSession(code)),
                  "code: " + std::to_string(code) + " is not a close code");
  }
}

TEST(ValidateDisconnectTest, AReasonOfUpTo123BytesIsAccepted) {
  const std::string reason(123, 'r');
  const absl::StatusOr<ValidatedDisconnect> disconnect =
      ValidateDisconnect(DisconnectSession(4000, reason));
  ASSERT_TRUE(disconnect.ok()) << disconnect.status();
  EXPECT_EQ(disconnect->reason, reason);
}

TEST(ValidateDisconnectTest, AReasonOf124BytesIsRefusedNamingTheLimit) {
  const absl::StatusOr<ValidatedDisconnect> disconnect =
      ValidateDisconnect(DisconnectSession(4000, std::string(124, 'r')));
  ExpectInvalid(disconnect, "reason: 124 bytes");
  EXPECT_THAT(std::string(disconnect.status().message()), HasSubstr("123 bytes"));
}

TEST(ValidateDisconnectTest, ADisconnectNeedsValidTargets) {
  v1::DisconnectRequest no_target;
  ExpectInvalid(ValidateDisconnect(no_target), "session_ids or user_ids: ");

  v1::DisconnectRequest bad_user;
  bad_user.add_user_ids("");
  ExpectInvalid(ValidateDisconnect(bad_user), "user_ids[0]: empty id");

  v1::DisconnectRequest by_user;
  by_user.add_user_ids("alice");
  const absl::StatusOr<ValidatedDisconnect> disconnect = ValidateDisconnect(by_user);
  ASSERT_TRUE(disconnect.ok()) << disconnect.status();
  EXPECT_THAT(disconnect->selector->user_ids, ElementsAre("alice"));
}

// --- Size caps: ids and topics per request ----------------------------------------------------

// `count` distinct, valid ids: "id-0", "id-1", ...
std::vector<std::string> Ids(size_t count) {
  std::vector<std::string> ids;
  ids.reserve(count);
  for (size_t i = 0; i < count; ++i) ids.push_back("id-" + std::to_string(i));
  return ids;
}

// Asserts INVALID_ARGUMENT naming `fields` first and the limit in the message.
template <class T>
void ExpectOverLimit(const absl::StatusOr<T>& result, const std::string& fields, size_t count,
                     size_t limit) {
  ExpectInvalid(result, fields + ": " + std::to_string(count) + " ");
  if (!result.ok()) {
    EXPECT_THAT(std::string(result.status().message()),
                HasSubstr("limit of " + std::to_string(limit)));
  }
}

TEST(RequestCapsTest, TheCapsAreTenThousandIdsAndAThousandTopics) {
  // The documented numbers (README): a change here is a change of the public contract.
  EXPECT_EQ(kMaxIdsPerRequest, 10000u);
  EXPECT_EQ(kMaxTopicsPerRequest, 1000u);
}

TEST(RequestCapsTest, APushMayNameUpToTheCapOfSessionsAndUsersTogether) {
  std::vector<std::string> sessions = Ids(kMaxIdsPerRequest / 2);
  std::vector<std::string> users = Ids(kMaxIdsPerRequest - sessions.size());
  EXPECT_TRUE(ValidatePush(TextPush(sessions, users), kDefaultMaxMessageBytes).ok());

  users.push_back("one-too-many");
  ExpectOverLimit(ValidatePush(TextPush(sessions, users), kDefaultMaxMessageBytes),
                  "session_ids and user_ids", kMaxIdsPerRequest + 1, kMaxIdsPerRequest);
  ExpectOverLimit(ValidatePush(TextPush(Ids(kMaxIdsPerRequest + 1), {}), kDefaultMaxMessageBytes),
                  "session_ids and user_ids", kMaxIdsPerRequest + 1, kMaxIdsPerRequest);
}

TEST(RequestCapsTest, AMillionIdPushIsRefusedBeforeItsIdsAreLookedAt) {
  // The last id is invalid too; the count is what the caller hears about.
  std::vector<std::string> ids = Ids(1000000);
  ids.back() = "";
  ExpectOverLimit(ValidatePush(TextPush(ids, {}), kDefaultMaxMessageBytes),
                  "session_ids and user_ids", 1000000, kMaxIdsPerRequest);
}

TEST(RequestCapsTest, ABroadcastMayExcludeUpToTheCapOfSessions) {
  v1::BroadcastRequest request = TopicBroadcast({"news"});
  for (const std::string& id : Ids(kMaxIdsPerRequest)) request.add_exclude_session_ids(id);
  EXPECT_TRUE(ValidateBroadcast(request, kDefaultMaxMessageBytes).ok());

  request.add_exclude_session_ids("one-too-many");
  ExpectOverLimit(ValidateBroadcast(request, kDefaultMaxMessageBytes), "exclude_session_ids",
                  kMaxIdsPerRequest + 1, kMaxIdsPerRequest);
}

TEST(RequestCapsTest, ABroadcastMayNameUpToTheCapOfTopics) {
  std::vector<std::string> topics = Ids(kMaxTopicsPerRequest);
  EXPECT_TRUE(ValidateBroadcast(TopicBroadcast(topics), kDefaultMaxMessageBytes).ok());

  topics.push_back("one-too-many");
  ExpectOverLimit(ValidateBroadcast(TopicBroadcast(topics), kDefaultMaxMessageBytes), "topics",
                  kMaxTopicsPerRequest + 1, kMaxTopicsPerRequest);
}

TEST(RequestCapsTest, SubscribeAndUnsubscribeAreCappedInIdsAndInTopics) {
  v1::SubscribeRequest subscribe;
  for (const std::string& id : Ids(kMaxIdsPerRequest)) subscribe.add_session_ids(id);
  for (const std::string& topic : Ids(kMaxTopicsPerRequest)) subscribe.add_topics(topic);
  EXPECT_TRUE(ValidateSubscribe(subscribe).ok());
  v1::UnsubscribeRequest unsubscribe;
  unsubscribe.mutable_session_ids()->CopyFrom(subscribe.session_ids());
  unsubscribe.mutable_topics()->CopyFrom(subscribe.topics());
  EXPECT_TRUE(ValidateUnsubscribe(unsubscribe).ok());

  v1::SubscribeRequest too_many_topics = subscribe;
  too_many_topics.add_topics("one-too-many");
  ExpectOverLimit(ValidateSubscribe(too_many_topics), "topics", kMaxTopicsPerRequest + 1,
                  kMaxTopicsPerRequest);
  v1::SubscribeRequest too_many_ids = subscribe;
  too_many_ids.add_user_ids("one-too-many");
  ExpectOverLimit(ValidateSubscribe(too_many_ids), "session_ids and user_ids",
                  kMaxIdsPerRequest + 1, kMaxIdsPerRequest);

  v1::UnsubscribeRequest unsubscribe_too_many_topics = unsubscribe;
  unsubscribe_too_many_topics.add_topics("one-too-many");
  ExpectOverLimit(ValidateUnsubscribe(unsubscribe_too_many_topics), "topics",
                  kMaxTopicsPerRequest + 1, kMaxTopicsPerRequest);
  v1::UnsubscribeRequest unsubscribe_too_many_ids = unsubscribe;
  unsubscribe_too_many_ids.add_user_ids("one-too-many");
  ExpectOverLimit(ValidateUnsubscribe(unsubscribe_too_many_ids), "session_ids and user_ids",
                  kMaxIdsPerRequest + 1, kMaxIdsPerRequest);
}

TEST(RequestCapsTest, ADisconnectIsCappedInIds) {
  v1::DisconnectRequest request;
  for (const std::string& id : Ids(kMaxIdsPerRequest)) request.add_user_ids(id);
  EXPECT_TRUE(ValidateDisconnect(request).ok());

  request.add_session_ids("one-too-many");
  ExpectOverLimit(ValidateDisconnect(request), "session_ids and user_ids", kMaxIdsPerRequest + 1,
                  kMaxIdsPerRequest);
}

// --- GetSession ---------------------------------------------------------------------------------

TEST(ValidateGetSessionTest, ASessionIdIsRequired) {
  v1::GetSessionRequest request;
  ExpectInvalid(ValidateGetSession(request), "session_id: empty id");

  request.set_session_id(std::string(257, 's'));
  ExpectInvalid(ValidateGetSession(request), "session_id: id is 257 bytes");

  request.set_session_id("s1");
  EXPECT_TRUE(ValidateGetSession(request).ok());
}

// --- ListSessions -------------------------------------------------------------------------------

v1::ListSessionsRequest ListRequest(int32_t page_size, const std::string& page_token = "") {
  v1::ListSessionsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  return request;
}

TEST(ValidateListSessionsTest, AnEmptyRequestListsTheFirstPageOf100) {
  const absl::StatusOr<ListQuery> query = ValidateListSessions(v1::ListSessionsRequest());
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->page_size, 100u);
  EXPECT_EQ(query->after_id, "");
  EXPECT_EQ(query->user_id, "");
  EXPECT_EQ(query->topic, "");
}

TEST(ValidateListSessionsTest, FiltersArePassedThrough) {
  v1::ListSessionsRequest request;
  request.set_user_id("alice");
  request.set_topic("news");

  const absl::StatusOr<ListQuery> query = ValidateListSessions(request);

  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->user_id, "alice");
  EXPECT_EQ(query->topic, "news");
}

TEST(ValidateListSessionsTest, ABadTopicFilterIsRefused) {
  v1::ListSessionsRequest request;
  request.set_topic("bad\ntopic");
  ExpectInvalid(ValidateListSessions(request), "topic: topic contains a control character");
}

TEST(ValidateListSessionsTest, PageSizeZeroMeans100AndLargeSizesAreCappedAt1000) {
  const std::vector<std::pair<int32_t, size_t>> cases = {
      {0, 100},     {1, 1},       {100, 100},   {999, 999},
      {1000, 1000}, {1001, 1000}, {5000, 1000}, {2147483647, 1000}};
  for (const auto& [requested, expected] : cases) {
    const absl::StatusOr<ListQuery> query = ValidateListSessions(ListRequest(requested));
    ASSERT_TRUE(query.ok()) << requested << ": " << query.status();
    EXPECT_EQ(query->page_size, expected) << requested;
  }
}

TEST(ValidateListSessionsTest, ANegativePageSizeIsRefused) {
  ExpectInvalid(ValidateListSessions(ListRequest(-1)), "page_size: -1 is negative");
  ExpectInvalid(ValidateListSessions(ListRequest(-2147483647 - 1)),
                "page_size: -2147483648 is negative");
}

TEST(ValidateListSessionsTest, APageTokenContinuesAfterTheSessionItWasMadeFrom) {
  const std::vector<std::string> ids = {"s1", "0123456789abcdef0123456789abcdef",
                                        "with spaces/and:colons", std::string("\xff\x00z", 3)};
  for (const std::string& id : ids) {
    const absl::StatusOr<ListQuery> query =
        ValidateListSessions(ListRequest(10, EncodePageToken(id)));
    ASSERT_TRUE(query.ok()) << id << ": " << query.status();
    EXPECT_EQ(query->after_id, id);
    EXPECT_EQ(query->page_size, 10u);
  }
}

TEST(ValidateListSessionsTest, APageTokenIsOpaqueAndSafeInAUrl) {
  const std::string token = EncodePageToken("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(token.find("0123456789abcdef"), std::string::npos) << token;
  EXPECT_EQ(
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos)
      << token;
}

TEST(ValidateListSessionsTest, TokensNotMadeByListSessionsAreRefused) {
  const std::vector<std::string> garbage = {
      "not a token!",                          // not base64
      "%%%%",                                  // not base64
      absl::WebSafeBase64Escape("s1"),         // base64, but no prefix
      absl::WebSafeBase64Escape("before:s1"),  // another prefix
      absl::Base64Escape("after:s1?>"),        // standard, not web-safe, alphabet
      EncodePageToken(""),                     // the prefix and no id
      EncodePageToken("s1") + "!",             // a token with junk appended
  };
  for (const std::string& token : garbage) {
    ExpectInvalid(ValidateListSessions(ListRequest(10, token)), "page_token: ");
  }
}

}  // namespace
}  // namespace wsbridge
