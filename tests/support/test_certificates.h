// TestCertificates: throwaway X.509 material for the TLS tests, made with the OpenSSL API and
// written as PEM files into a temporary directory of the test's own: a CA (self-signed) and
// certificates it signs, for a server (SAN DNS:localhost and IP:127.0.0.1) or for a client
// (extended key usage clientAuth). Each certificate carries the common name it was asked for, so
// a test can tell which of two certificates a server presented.
//
// Thread-safety: use from one thread.
#pragma once

#include <string>

namespace wsbridge::testing {

// A new empty directory under $TMPDIR (or /tmp) named after `prefix`; removed by nobody (the
// files are small and the test may want to read them after a failure).
std::string MakeTempDirectory(const std::string& prefix);

// Paths of a PEM certificate and its PEM private key.
struct CertificateFiles {
  std::string cert;
  std::string key;
};

class TestCa {
 public:
  // A CA named `name` whose certificate is written to `directory`/`name`-ca.crt.
  TestCa(std::string directory, std::string name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert_path() const { return cert_path_; }

  // A certificate for `common_name` signed by this CA (a server one unless `client`), written to
  // `directory`/`file_stem`.crt and .key (overwriting them: the way an operator renews).
  CertificateFiles Issue(const std::string& common_name, const std::string& file_stem,
                         bool client = false) const;

 private:
  struct Material;
  std::string directory_;
  std::string name_;
  std::string cert_path_;
  Material* material_;  // the CA's key and certificate
};

// The common name of the certificate `pem_path` holds ("" if unreadable).
std::string CommonNameOfFile(const std::string& pem_path);

}  // namespace wsbridge::testing
