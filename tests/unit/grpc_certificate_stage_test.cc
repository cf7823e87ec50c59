// GrpcCertificateStage without a gRPC server: what it stages (one identity file, key first, then
// the chain; the client CA bundle), with what permissions, that only a successful Reload changes
// the staged files, that refusals name the flags and the operator's file, and that the directory
// is gone with the stage.
#include "server/grpc_certificate_stage.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_certificates.h"

namespace wsbridge {
namespace {

using testing::CertificateFiles;
using ::testing::HasSubstr;
using testing::MakeTempDirectory;
using ::testing::Not;
using ::testing::StartsWith;
using testing::TestCa;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

mode_t PermissionsOf(const std::string& path) {
  struct stat status {};
  EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
  return status.st_mode & 0777;
}

struct Fixture {
  Fixture()
      : directory(MakeTempDirectory("wsbridge-stage")),
        ca(directory, "test"),
        server(ca.Issue("grpc-A", "server")) {}
  std::string directory;
  TestCa ca;
  CertificateFiles server;
};

TEST(GrpcCertificateStageTest, StagesTheKeyAndChainAsOnePrivateFileAndRemovesItAtTheEnd) {
  Fixture f;
  const std::string client_ca = f.directory + "/clients.pem";
  std::ofstream(client_ca) << ReadAll(f.ca.cert_path());
  auto stage = GrpcCertificateStage::Create({f.server.cert, f.server.key, client_ca});
  ASSERT_TRUE(stage.ok()) << stage.status();
  const std::string directory = (*stage)->directory();
  EXPECT_NE((*stage)->provider(), nullptr);
  EXPECT_EQ(PermissionsOf(directory), 0700u);
  EXPECT_EQ(PermissionsOf(directory + "/identity.pem"), 0600u);
  EXPECT_EQ(PermissionsOf(directory + "/client_ca.pem"), 0600u);
  const std::string identity = ReadAll(directory + "/identity.pem");
  EXPECT_THAT(identity, StartsWith(ReadAll(f.server.key)));
  EXPECT_THAT(identity, HasSubstr(ReadAll(f.server.cert)));
  EXPECT_EQ(ReadAll(directory + "/client_ca.pem"), ReadAll(f.ca.cert_path()));
  // The renewal reaches the staged files only through Reload.
  f.ca.Issue("grpc-B", "server");
  EXPECT_THAT(ReadAll(directory + "/identity.pem"), Not(HasSubstr(ReadAll(f.server.cert))));
  ASSERT_TRUE((*stage)->Reload().ok());
  EXPECT_THAT(ReadAll(directory + "/identity.pem"), HasSubstr(ReadAll(f.server.cert)));
  EXPECT_EQ(testing::CommonNameOfFile(directory + "/identity.pem"), "grpc-B");
  stage->reset();
  EXPECT_FALSE(std::filesystem::exists(directory));
}

TEST(GrpcCertificateStageTest, UnusableFilesAreRefusedNamingTheFlagAndTheStagedOnesStay) {
  Fixture f;
  auto stage = GrpcCertificateStage::Create({f.server.cert, f.server.key, ""});
  ASSERT_TRUE(stage.ok()) << stage.status();
  const std::string staged = ReadAll((*stage)->directory() + "/identity.pem");
  const CertificateFiles other = f.ca.Issue("other", "other");
  struct Case {
    std::string key_contents;
    std::string expected;
  };
  for (const Case& c : {Case{"not a key\n", f.server.key},
                        Case{ReadAll(other.key), "does not match"}, Case{"", f.server.key}}) {
    SCOPED_TRACE(c.expected);
    std::ofstream(f.server.key, std::ios::trunc) << c.key_contents;
    const absl::Status refused = (*stage)->Reload();
    EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
    EXPECT_THAT(std::string(refused.message()), StartsWith("--grpc_tls_cert/--grpc_tls_key: "));
    EXPECT_THAT(std::string(refused.message()), HasSubstr(c.expected));
    EXPECT_EQ(ReadAll((*stage)->directory() + "/identity.pem"), staged);
  }
  // Nothing half-written is left beside the staged files.
  EXPECT_FALSE(std::filesystem::exists((*stage)->directory() + "/identity.pem.next"));
}

TEST(GrpcCertificateStageTest, CreateRefusesWhatWouldNotStartNamingTheFiles) {
  Fixture f;
  auto missing = GrpcCertificateStage::Create({"/nonexistent/grpc.crt", f.server.key, ""});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/grpc.crt"));
  auto bad_ca = GrpcCertificateStage::Create({f.server.cert, f.server.key, "/nonexistent/ca.pem"});
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_THAT(std::string(bad_ca.status().message()),
              HasSubstr("--grpc_tls_cert/--grpc_tls_key/--grpc_tls_client_ca: "));
  EXPECT_THAT(std::string(bad_ca.status().message()), HasSubstr("/nonexistent/ca.pem"));
}

}  // namespace
}  // namespace wsbridge
