// What an operator's monitoring stack sees. A real Prometheus server (Debian's /usr/bin/prometheus,
// on loopback, scraping the admin port every second) reads the sessions gauge back through its
// query API; and the shipped dashboard and alert rules (docs/grafana, docs/prometheus) only use
// metric names that /metrics exposes.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/src.hpp>

#include "absl/strings/str_cat.h"
#include "support/child_process.h"
#include "support/eventually.h"
#include "support/prometheus_text.h"
#include "support/sanitizers.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A port that was free a moment ago (the OS picks it; Prometheus binds it right after).
uint16_t FreeLoopbackPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0},
                                          /*reuse_address=*/true);
  return acceptor.local_endpoint().port();
}

// Every wsbridge_* name in `text`, with the series suffixes of a histogram reduced to its family.
std::set<std::string> MetricNamesIn(const std::string& text) {
  std::set<std::string> names;
  static const std::regex kName("wsbridge_[a-z_]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

// The families /metrics declares (# TYPE lines) plus the series names of its histograms.
std::set<std::string> ExposedNames(TestBridge& bridge) {
  std::set<std::string> exposed;
  const std::string body = HttpGet(bridge.admin_port(), "/metrics").body;
  static const std::regex kType("# TYPE (wsbridge_[a-z_]+) ([a-z]+)");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), kType);
       it != std::sregex_iterator(); ++it) {
    const std::string family = (*it)[1];
    exposed.insert(family);
    if ((*it)[2] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) exposed.insert(family + suffix);
    }
  }
  return exposed;
}

TEST(PrometheusTest, ARealPrometheusReadsTheSessionsGaugeBack) {
  if (kUnderSanitizers)
    GTEST_SKIP() << "drives the prometheus binary from outside: normal pass only";
  const char* binary = "/usr/bin/prometheus";
  ASSERT_EQ(access(binary, X_OK), 0) << binary << " is missing: .ci/install-deps.sh installs it";

  TestBridge bridge;
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (int i = 0; i < 3; ++i) {
    browsers.push_back(bridge.ConnectAnonymous());
    ASSERT_TRUE(browsers.back());
  }

  char directory_template[] = "/tmp/wsbridge-prometheus-XXXXXX";
  ASSERT_NE(mkdtemp(directory_template), nullptr);
  const std::filesystem::path directory = directory_template;
  const std::filesystem::path config = directory / "prometheus.yml";
  {
    std::ofstream out(config);
    out << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: wsbridge\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << bridge.admin_port() << "']\n";
  }
  const uint16_t port = FreeLoopbackPort();
  {
    ChildProcess prometheus(
        binary, {absl::StrCat("--config.file=", config.string()),
                 absl::StrCat("--storage.tsdb.path=", (directory / "data").string()),
                 absl::StrCat("--web.listen-address=127.0.0.1:", port), "--log.level=warn"});
    // The gauge through Prometheus's HTTP API: {"status":"success","data":{"resultType":"vector",
    // "result":[{"metric":{...},"value":[<time>,"3"]}]}}.
    std::string last;
    const bool read_back = Eventually(
        [&] {
          HttpReply reply;
          try {  // refused until Prometheus listens
            reply = HttpGet(port, "/api/v1/query?query=wsbridge_sessions");
          } catch (const std::exception& e) {
            last = e.what();
            return false;
          }
          last = reply.body;
          if (reply.status != 200) return false;
          boost::system::error_code ec;
          boost::json::value answer = boost::json::parse(reply.body, ec);
          if (ec) return false;
          const auto& result = answer.at("data").at("result").as_array();
          return result.size() == 1 && result[0].at("value").as_array()[1].as_string() == "3" &&
                 result[0].at("metric").at("job").as_string() == "wsbridge";
        },
        absl::Seconds(60));
    EXPECT_TRUE(read_back) << "last answer: " << last
                           << "\nprometheus stderr: " << prometheus.Stderr();
    prometheus.Signal(SIGTERM);
    EXPECT_TRUE(prometheus.WaitExit(absl::Seconds(30)).has_value());
  }
  std::filesystem::remove_all(directory);
}

TEST(PrometheusTest, TheDashboardIsJsonAndQueriesOnlyExposedMetrics) {
  const std::string text =
      ReadFile(std::filesystem::path(WSBRIDGE_SOURCE_DIR) / "docs/grafana/wsbridge-dashboard.json");
  boost::system::error_code ec;
  boost::json::value dashboard = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << "not JSON: " << ec.message();
  std::string queries;
  for (const auto& panel : dashboard.at("panels").as_array()) {
    for (const auto& target : panel.at("targets").as_array()) {
      queries += std::string(target.at("expr").as_string()) + "\n";
    }
  }
  TestBridge bridge;
  const std::set<std::string> exposed = ExposedNames(bridge);
  const std::set<std::string> used = MetricNamesIn(queries);
  EXPECT_GE(used.size(), 10u);
  for (const std::string& name : used)
    EXPECT_TRUE(exposed.count(name)) << name << " in the dashboard";
}

TEST(PrometheusTest, TheAlertRulesUseOnlyExposedMetrics) {
  const std::string rules =
      ReadFile(std::filesystem::path(WSBRIDGE_SOURCE_DIR) / "docs/prometheus/alerts.yml");
  TestBridge bridge;
  const std::set<std::string> exposed = ExposedNames(bridge);
  const std::set<std::string> used = MetricNamesIn(rules);
  EXPECT_GE(used.size(), 5u);
  for (const std::string& name : used) EXPECT_TRUE(exposed.count(name)) << name << " in alerts.yml";
}

}  // namespace
}  // namespace wsbridge::testing
