// --static_dir over real sockets: the WebSocket port serves the directory's files at every path
// other than --ws_path with their content types, refuses every way out of the directory (a
// secret file beside it is never served), answers HEAD without a body and other methods with
// 405, revalidates with ETag, and still upgrades at --ws_path; without --static_dir other paths
// keep their 404.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "support/raw_ws_client.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kIndex[] = "<!doctype html><title>demo</title>";
constexpr char kScript[] = "export const answer = 42;\n";
constexpr char kSecret[] = "the-secret-beside-the-directory";

struct Answer {
  std::string head;  // status line and header fields
  std::string body;
  unsigned status() const {
    return head.size() > 12 ? static_cast<unsigned>(std::stoi(head.substr(9, 3))) : 0;
  }
};

// Sends `request` as it is and reads the whole answer up to the bridge's close.
Answer Exchange(uint16_t port, std::string_view request) {
  RawWsClient socket(port);
  socket.Write(request);
  std::optional<std::string> all = socket.ReadToEnd(absl::Seconds(10));
  EXPECT_TRUE(all.has_value()) << "the bridge kept the connection open";
  const std::string bytes = all.value_or("");
  const size_t end = bytes.find("\r\n\r\n");
  if (end == std::string::npos) return {bytes, ""};
  return {bytes.substr(0, end + 4), bytes.substr(end + 4)};
}

std::string Request(const std::string& method, const std::string& target,
                    const std::string& extra_fields = "") {
  return absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n", extra_fields,
                      "\r\n");
}

// A scratch directory `root` with a page, a script and a subdirectory, and a secret file next
// to it that no URL may reach.
class StaticDir {
 public:
  StaticDir() {
    char pattern[] = "/tmp/wsbridge_static.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) ADD_FAILURE() << "mkdtemp";
    base_ = pattern;
    std::filesystem::create_directories(root() + "/sub");
    Write(root() + "/index.html", kIndex);
    Write(root() + "/app.js", kScript);
    Write(root() + "/sub/index.html", "<p>sub</p>");
    Write(root() + "/my page.txt", "spaced");
    Write(base_ + "/secret.txt", kSecret);
  }
  ~StaticDir() { std::filesystem::remove_all(base_); }
  std::string root() const { return base_ + "/root"; }

 private:
  static void Write(const std::string& path, std::string_view content) {
    std::ofstream(path, std::ios::binary) << content;
  }
  std::string base_;
};

class StaticFilesTest : public ::testing::Test {
 protected:
  StaticDir dir_;
  TestBridge bridge_{[this](Config& config) { config.listeners.static_dir = dir_.root(); }};
};

TEST_F(StaticFilesTest, TheRootServesIndexHtmlAsHtml) {
  const Answer answer = Exchange(bridge_.ws_port(), Request("GET", "/"));
  EXPECT_EQ(answer.status(), 200u) << answer.head;
  EXPECT_EQ(HeaderValue(answer.head, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(HeaderValue(answer.head, "Cache-Control"), "no-cache");
  EXPECT_EQ(HeaderValue(answer.head, "Content-Length"), std::to_string(sizeof(kIndex) - 1));
  EXPECT_EQ(answer.body, kIndex);
}

TEST_F(StaticFilesTest, AScriptIsJavascriptAndTheQueryIsIgnored) {
  const Answer answer = Exchange(bridge_.ws_port(), Request("GET", "/app.js?v=3"));
  EXPECT_EQ(answer.status(), 200u) << answer.head;
  EXPECT_EQ(HeaderValue(answer.head, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(answer.body, kScript);
}

TEST_F(StaticFilesTest, DirectoriesAndEncodedNamesAreServed) {
  EXPECT_EQ(Exchange(bridge_.ws_port(), Request("GET", "/sub/")).body, "<p>sub</p>");
  EXPECT_EQ(Exchange(bridge_.ws_port(), Request("GET", "/sub")).body, "<p>sub</p>");
  EXPECT_EQ(Exchange(bridge_.ws_port(), Request("GET", "/my%20page.txt")).body, "spaced");
  // The absolute form a proxy may send is the same request.
  const std::string absolute = absl::StrCat("http://127.0.0.1:", bridge_.ws_port(), "/app.js");
  EXPECT_EQ(Exchange(bridge_.ws_port(), Request("GET", absolute)).body, kScript);
}

TEST_F(StaticFilesTest, AMissingFileIs404) {
  const Answer answer = Exchange(bridge_.ws_port(), Request("GET", "/nope.js"));
  EXPECT_EQ(answer.status(), 404u) << answer.head;
}

TEST_F(StaticFilesTest, NoTraversalReachesTheSecretBesideTheDirectory) {
  for (const char* target :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt", "/sub/../../secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt",
        "/%252e%252e/secret.txt", "/.%2e/secret.txt", "/..%5csecret.txt", "/..\\secret.txt",
        "//secret.txt", "/./../secret.txt", "/secret.txt%00", "/%00/../secret.txt"}) {
    SCOPED_TRACE(target);
    const Answer answer = Exchange(bridge_.ws_port(), Request("GET", target));
    EXPECT_THAT(answer.status(), ::testing::AnyOf(400u, 404u)) << answer.head;
    EXPECT_THAT(answer.body, Not(HasSubstr(kSecret)));
  }
  const std::string absolute =
      absl::StrCat("http://127.0.0.1:", bridge_.ws_port(), "/%2e%2e/secret.txt");
  const Answer answer = Exchange(bridge_.ws_port(), Request("GET", absolute));
  EXPECT_EQ(answer.status(), 400u) << answer.head;
  EXPECT_THAT(answer.body, Not(HasSubstr(kSecret)));
}

TEST_F(StaticFilesTest, HeadHasTheHeadersOfGetAndNoBody) {
  const Answer answer = Exchange(bridge_.ws_port(), Request("HEAD", "/app.js"));
  EXPECT_EQ(answer.status(), 200u) << answer.head;
  EXPECT_EQ(HeaderValue(answer.head, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(HeaderValue(answer.head, "Content-Length"), std::to_string(sizeof(kScript) - 1));
  EXPECT_EQ(answer.body, "");
}

TEST_F(StaticFilesTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    SCOPED_TRACE(method);
    const Answer answer =
        Exchange(bridge_.ws_port(), Request(method, "/app.js", "Content-Length: 0\r\n"));
    EXPECT_EQ(answer.status(), 405u) << answer.head;
    EXPECT_EQ(HeaderValue(answer.head, "Allow"), "GET, HEAD");
  }
}

TEST_F(StaticFilesTest, AMatchingEtagIs304WithoutBody) {
  const Answer first = Exchange(bridge_.ws_port(), Request("GET", "/app.js"));
  const std::string etag = HeaderValue(first.head, "ETag");
  ASSERT_THAT(etag, StartsWith("\""));
  const Answer again = Exchange(
      bridge_.ws_port(), Request("GET", "/app.js", absl::StrCat("If-None-Match: ", etag, "\r\n")));
  EXPECT_EQ(again.status(), 304u) << again.head;
  EXPECT_EQ(again.body, "");
  const Answer other = Exchange(bridge_.ws_port(),
                                Request("GET", "/app.js", "If-None-Match: \"something-else\"\r\n"));
  EXPECT_EQ(other.status(), 200u) << other.head;
  EXPECT_EQ(other.body, kScript);
}

TEST_F(StaticFilesTest, TheWebSocketPathStillUpgrades) {
  RawWsClient socket(bridge_.ws_port());
  socket.Write(UpgradeRequest());
  EXPECT_THAT(socket.ReadHttpHead().value_or(""), StartsWith("HTTP/1.1 101 "));
  // A plain GET at the WebSocket path is still told to upgrade, not served a file.
  EXPECT_EQ(Exchange(bridge_.ws_port(), Request("GET", "/ws")).status(), 426u);
}

TEST_F(StaticFilesTest, AnUpgradeAtAnotherPathIsStill404) {
  const Answer answer = Exchange(bridge_.ws_port(), UpgradeRequest(kRfcKey, "13", "/index.html"));
  EXPECT_EQ(answer.status(), 404u) << answer.head;
}

TEST(StaticFilesOffTest, WithoutStaticDirOtherPathsAre404) {
  StaticDir dir;
  TestBridge bridge;
  EXPECT_EQ(Exchange(bridge.ws_port(), Request("GET", "/")).status(), 404u);
  EXPECT_EQ(Exchange(bridge.ws_port(), Request("GET", "/index.html")).status(), 404u);
}

TEST(StaticFilesConfigTest, AStaticDirThatIsNotADirectoryFailsTheStart) {
  Config config = DefaultTestConfig();
  config.listeners.static_dir = "/nonexistent/wsbridge-static";
  absl::StatusOr<std::unique_ptr<BridgeServer>> server = BridgeServer::Start(config);
  EXPECT_TRUE(absl::IsInvalidArgument(server.status())) << server.status();
}

}  // namespace
}  // namespace wsbridge::testing
