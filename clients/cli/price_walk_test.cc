// The ticker's made-up prices: deterministic per seed, cents, small steps, never below 0.01; and
// the JSON each update is sent as.
#include "price_walk.h"

#include <cmath>

#include <gtest/gtest.h>

namespace wsbridge::cli {
namespace {

bool IsCents(double price) { return std::abs(price * 100 - std::round(price * 100)) < 1e-6; }

TEST(BridgectlPriceWalkTest, SameSeedSamePrices) {
  PriceWalk a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 50; ++i) {
    const double price = a.Next("AAPL");
    EXPECT_EQ(price, b.Next("AAPL"));
    differs = differs || price != c.Next("AAPL");
  }
  EXPECT_TRUE(differs);
}

TEST(BridgectlPriceWalkTest, StartsInRangeAndMovesByAtMostOnePercentInCents) {
  PriceWalk walk(7);
  double last = walk.Next("MSFT");
  EXPECT_GE(last, 50.0);
  EXPECT_LE(last, 250.0);
  for (int i = 0; i < 1000; ++i) {
    const double price = walk.Next("MSFT");
    EXPECT_TRUE(IsCents(price)) << price;
    EXPECT_LE(std::abs(price - last), last * 0.01 + 0.005 + 1e-9) << last << " -> " << price;
    EXPECT_GE(price, 0.01);
    last = price;
  }
}

TEST(BridgectlPriceWalkTest, SymbolsWalkApart) {
  PriceWalk walk(1);
  const double aapl = walk.Next("AAPL");
  const double msft = walk.Next("MSFT");
  EXPECT_NE(aapl, msft);
  const double aapl_again = walk.Next("AAPL");
  EXPECT_LE(std::abs(aapl_again - aapl), aapl * 0.01 + 0.005);
}

TEST(BridgectlPriceWalkTest, UpdateJson) {
  EXPECT_EQ(PriceUpdateJson("AAPL", 123.4, absl::FromUnixMillis(1700000000123)),
            R"({"symbol":"AAPL","price":123.40,"time":1700000000123})");
  EXPECT_EQ(PriceUpdateJson("a\"b\\c\n", 1, absl::FromUnixMillis(0)),
            R"({"symbol":"a\"b\\c\u000a","price":1.00,"time":0})");
}

}  // namespace
}  // namespace wsbridge::cli
