// The descriptor budget: how much of the descriptor limit WebSocket connections may take, and
// the cap that keeps the rest (the reserve) free for gRPC and the admin port.
#include "server/descriptor_budget.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "hub/connection_limiter.h"
#include "server/websocket_connection_budget.h"

namespace wsbridge {
namespace {

TEST(DescriptorBudgetTest, TheAutomaticReserveIsAtLeast128) {
  const DescriptorBudget budget = ComputeDescriptorBudget(1024, 0);
  EXPECT_EQ(budget.limit, 1024u);
  EXPECT_EQ(budget.reserve, 128u);
  EXPECT_EQ(budget.websocket_connections, 896u);
}

TEST(DescriptorBudgetTest, TheAutomaticReserveIsATenthOfALargeLimit) {
  const DescriptorBudget budget = ComputeDescriptorBudget(65536, 0);
  EXPECT_EQ(budget.reserve, 6553u);
  EXPECT_EQ(budget.websocket_connections, 65536u - 6553u);
}

TEST(DescriptorBudgetTest, TheAutomaticReserveTakesAtMostHalfOfASmallLimit) {
  EXPECT_EQ(ComputeDescriptorBudget(256, 0).reserve, 128u);
  EXPECT_EQ(ComputeDescriptorBudget(256, 0).websocket_connections, 128u);
  EXPECT_EQ(ComputeDescriptorBudget(100, 0).reserve, 50u);
  EXPECT_EQ(ComputeDescriptorBudget(100, 0).websocket_connections, 50u);
}

TEST(DescriptorBudgetTest, AConfiguredReserveIsTakenAsIs) {
  const DescriptorBudget budget = ComputeDescriptorBudget(1024, 300);
  EXPECT_EQ(budget.reserve, 300u);
  EXPECT_EQ(budget.websocket_connections, 724u);
  EXPECT_EQ(ComputeDescriptorBudget(256, 20).websocket_connections, 236u);
}

TEST(DescriptorBudgetTest, AReserveAtOrPastTheLimitLeavesNoWebSocketConnections) {
  EXPECT_EQ(ComputeDescriptorBudget(256, 256).websocket_connections, 0u);
  EXPECT_EQ(ComputeDescriptorBudget(256, 1000).websocket_connections, 0u);
}

TEST(DescriptorBudgetTest, TheCurrentLimitIsKnown) { EXPECT_GT(CurrentDescriptorLimit(), 0u); }

// Sessions and handshakes share the cap; a refused handshake takes nothing; tickets give their
// place back.
TEST(WebSocketConnectionBudgetTest, SessionsPlusHandshakesStayWithinTheCap) {
  ConnectionLimiter limiter(/*threads=*/1, /*max_sessions=*/0, /*max_sessions_per_user=*/0);
  WebSocketConnectionBudget budget(3, limiter);
  auto session = limiter.TryAdmit("alice", 0);
  ASSERT_TRUE(session.ok());
  std::vector<std::unique_ptr<WebSocketConnectionBudget::HandshakeTicket>> tickets;
  tickets.push_back(budget.TryStartHandshake());
  tickets.push_back(budget.TryStartHandshake());
  ASSERT_NE(tickets[0], nullptr);
  ASSERT_NE(tickets[1], nullptr);
  EXPECT_EQ(budget.pending_handshakes(), 2u);
  EXPECT_EQ(budget.TryStartHandshake(), nullptr);
  EXPECT_EQ(budget.TryStartHandshake(), nullptr);
  EXPECT_EQ(budget.refused_total(), 2u);
  EXPECT_EQ(budget.pending_handshakes(), 2u);

  tickets.pop_back();
  EXPECT_EQ(budget.pending_handshakes(), 1u);
  EXPECT_NE(budget.TryStartHandshake(), nullptr);  // admitted, and its ticket dropped at once
  session->Release();
  tickets.push_back(budget.TryStartHandshake());
  tickets.push_back(budget.TryStartHandshake());
  EXPECT_NE(tickets[1], nullptr);
  EXPECT_NE(tickets[2], nullptr);
  EXPECT_EQ(budget.TryStartHandshake(), nullptr);
  EXPECT_EQ(budget.refused_total(), 3u);
}

TEST(WebSocketConnectionBudgetTest, AZeroCapRefusesEveryConnection) {
  ConnectionLimiter limiter(1, 0, 0);
  WebSocketConnectionBudget budget(0, limiter);
  EXPECT_EQ(budget.TryStartHandshake(), nullptr);
  EXPECT_EQ(budget.pending_handshakes(), 0u);
}

}  // namespace
}  // namespace wsbridge
