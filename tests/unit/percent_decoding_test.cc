// PercentDecode: one decoding pass, '+' by context, malformed escapes refused.
#include "common/percent_decoding.h"

#include "gtest/gtest.h"

namespace wsbridge {
namespace {

TEST(PercentDecodingTest, DecodesEscapesOnceInEitherCase) {
  EXPECT_EQ(PercentDecode("a%2Fb%2fc", PlusSign::kLiteral).value(), "a/b/c");
  EXPECT_EQ(PercentDecode("%252e%252e", PlusSign::kLiteral).value(), "%2e%2e");
  EXPECT_EQ(PercentDecode("%00", PlusSign::kLiteral).value(), std::string(1, '\0'));
  EXPECT_EQ(PercentDecode("", PlusSign::kSpace).value(), "");
}

TEST(PercentDecodingTest, PlusIsASpaceOnlyWhereAskedFor) {
  EXPECT_EQ(PercentDecode("a+b%2B", PlusSign::kSpace).value(), "a b+");
  EXPECT_EQ(PercentDecode("a+b%2B", PlusSign::kLiteral).value(), "a+b+");
}

TEST(PercentDecodingTest, MalformedEscapesAreRefusedWithWhatIsWrong) {
  EXPECT_EQ(PercentDecode("ab%4", PlusSign::kLiteral).status().message(),
            "truncated percent-encoding");
  EXPECT_EQ(PercentDecode("%", PlusSign::kSpace).status().message(), "truncated percent-encoding");
  EXPECT_EQ(PercentDecode("%zz", PlusSign::kLiteral).status().message(), "bad percent-encoding");
  EXPECT_EQ(PercentDecode("%4g", PlusSign::kSpace).status().message(), "bad percent-encoding");
}

}  // namespace
}  // namespace wsbridge
