// The mapping of --static_dir (ws/static_files.h): request targets that stay inside the directory
// become relative paths, every way of climbing out is refused before the file system is asked,
// content types follow extensions, and Read() serves regular files only, within the size cap.
#include "ws/static_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsbridge {
namespace {

using ::testing::HasSubstr;

std::string PathOf(absl::string_view target) {
  absl::StatusOr<std::string> path = StaticRelativePath(target);
  EXPECT_TRUE(path.ok()) << target << ": " << path.status();
  return path.value_or("<refused>");
}

void ExpectRefused(absl::string_view target) {
  absl::StatusOr<std::string> path = StaticRelativePath(target);
  EXPECT_TRUE(absl::IsInvalidArgument(path.status()))
      << target << " -> " << (path.ok() ? *path : path.status().ToString());
}

TEST(StaticRelativePathTest, TheRootAndDirectoriesNameTheirIndex) {
  EXPECT_EQ(PathOf("/"), "index.html");
  EXPECT_EQ(PathOf("/docs/"), "docs/index.html");
  EXPECT_EQ(PathOf("/?token=abc"), "index.html");
}

TEST(StaticRelativePathTest, PlainPathsAreRelativeToTheDirectory) {
  EXPECT_EQ(PathOf("/app.js"), "app.js");
  EXPECT_EQ(PathOf("/a/b/style.css"), "a/b/style.css");
  EXPECT_EQ(PathOf("/etc/passwd"), "etc/passwd");  // an absolute path stays under the directory
}

TEST(StaticRelativePathTest, TheQueryIsIgnored) {
  EXPECT_EQ(PathOf("/app.js?v=1&x=../../etc/passwd"), "app.js");
}

TEST(StaticRelativePathTest, SegmentsArePercentDecodedOnce) {
  EXPECT_EQ(PathOf("/my%20page.html"), "my page.html");
  EXPECT_EQ(PathOf("/a+b.txt"), "a+b.txt");
  // Double encoding stays literal: a file named "%2e%2e", not a parent directory.
  EXPECT_EQ(PathOf("/%252e%252e/secret"), "%2e%2e/secret");
}

TEST(StaticRelativePathTest, DotSegmentsAreRefusedEncodedOrNot) {
  for (const char* target :
       {"/..", "/../secret", "/a/../../secret", "/a/..", "/.", "/./index.html", "/a/./b",
        "/%2e%2e/secret", "/%2E%2E/secret", "/.%2e/secret", "/%2e/index.html", "/a/%2e%2e"}) {
    ExpectRefused(target);
  }
}

TEST(StaticRelativePathTest, EncodedSeparatorsBackslashesAndNulAreRefused) {
  for (const char* target : {"/..%2fsecret", "/a%2F..%2F..%2Fsecret", "/%2f", "/..\\secret",
                             "/a\\b", "/%5c..%5csecret", "/index.html%00.png", "/%00"}) {
    ExpectRefused(target);
  }
  ExpectRefused(std::string("/index.html\0.png", 16));
}

TEST(StaticRelativePathTest, EmptySegmentsAreRefused) {
  for (const char* target : {"//", "//etc/passwd", "/a//b", "/a//"}) ExpectRefused(target);
}

TEST(StaticRelativePathTest, MalformedEscapesAndRelativeTargetsAreRefused) {
  for (const char* target : {"/%", "/%2", "/%zz", "/a%g0", "", "index.html", "*"}) {
    ExpectRefused(target);
  }
  EXPECT_THAT(std::string(StaticRelativePath("/%2e%2e").status().message()), HasSubstr(".."));
}

TEST(StaticContentTypeTest, KnownExtensions) {
  EXPECT_EQ(StaticContentType("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(StaticContentType("a/b/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StaticContentType("mod.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StaticContentType("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(StaticContentType("data.json"), "application/json; charset=utf-8");
  EXPECT_EQ(StaticContentType("app.js.map"), "application/json; charset=utf-8");
  EXPECT_EQ(StaticContentType("logo.svg"), "image/svg+xml; charset=utf-8");
  EXPECT_EQ(StaticContentType("logo.png"), "image/png");
  EXPECT_EQ(StaticContentType("favicon.ico"), "image/x-icon");
  EXPECT_EQ(StaticContentType("notes.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(StaticContentType("module.wasm"), "application/wasm");
}

TEST(StaticContentTypeTest, ExtensionsAreCaseInsensitiveAndUnknownOnesAreBytes) {
  EXPECT_EQ(StaticContentType("INDEX.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(StaticContentType("archive.tar.gz"), "application/octet-stream");
  EXPECT_EQ(StaticContentType("Makefile"), "application/octet-stream");
  EXPECT_EQ(StaticContentType("dir.js/file"), "application/octet-stream");
}

// A scratch directory tree for Read(), removed at the end.
class StaticFilesReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/static_files_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    base_ = pattern;
    root_ = base_ + "/root";
    std::filesystem::create_directories(root_ + "/docs");
    Write(root_ + "/index.html", "<h1>home</h1>");
    Write(root_ + "/docs/index.html", "<h1>docs</h1>");
    Write(root_ + "/app.js", "console.log(1);");
    Write(base_ + "/outside.txt", "shared elsewhere");
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  static void Write(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
  }

  std::string base_;
  std::string root_;
};

TEST_F(StaticFilesReadTest, ARegularFileIsReadWithItsTypeAndAnEtag) {
  auto files = StaticFiles::Create(root_);
  ASSERT_TRUE(files.ok()) << files.status();
  auto file = files->Read("app.js");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->content, "console.log(1);");
  EXPECT_EQ(file->content_type, "text/javascript; charset=utf-8");
  EXPECT_THAT(file->etag, ::testing::MatchesRegex("\"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+\""));
}

TEST_F(StaticFilesReadTest, ADirectoryNamedWithoutItsSlashServesItsIndex) {
  auto files = StaticFiles::Create(root_ + "/");
  ASSERT_TRUE(files.ok());
  auto file = files->Read("docs");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->content, "<h1>docs</h1>");
  EXPECT_EQ(file->content_type, "text/html; charset=utf-8");
}

TEST_F(StaticFilesReadTest, MissingFilesAndNonRegularFilesAreNotFound) {
  ASSERT_EQ(::mkfifo((root_ + "/pipe").c_str(), 0600), 0);
  std::filesystem::create_directories(root_ + "/empty");
  auto files = StaticFiles::Create(root_);
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(absl::IsNotFound(files->Read("nope.html").status()));
  EXPECT_TRUE(absl::IsNotFound(files->Read("pipe").status()));  // and it does not block
  EXPECT_TRUE(absl::IsNotFound(files->Read("empty").status()));
  EXPECT_TRUE(absl::IsNotFound(files->Read("empty/index.html").status()));
}

TEST_F(StaticFilesReadTest, SymlinksPlacedInTheDirectoryAreFollowed) {
  std::filesystem::create_symlink("../outside.txt", root_ + "/linked.txt");
  auto files = StaticFiles::Create(root_);
  ASSERT_TRUE(files.ok());
  auto file = files->Read("linked.txt");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->content, "shared elsewhere");
}

TEST_F(StaticFilesReadTest, AFileOverTheCapIsRefused) {
  Write(root_ + "/big.bin", std::string(2048, 'x'));
  auto files = StaticFiles::Create(root_, /*max_file_bytes=*/1024);
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(files->Read("big.bin").status()));
  EXPECT_TRUE(files->Read("app.js").ok());
}

TEST_F(StaticFilesReadTest, TheDirectoryMustExistAndBeADirectory) {
  EXPECT_TRUE(absl::IsInvalidArgument(StaticFiles::Create(base_ + "/missing").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(StaticFiles::Create(base_ + "/outside.txt").status()));
}

}  // namespace
}  // namespace wsbridge
