#include "support/test_certificates.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <stdexcept>
#include <vector>

namespace wsbridge::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificates: ") + what + " failed");
}

EVP_PKEY* NewKey() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  Check(key != nullptr, "EC key generation");
  return key;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  Check(extension != nullptr, "extension");
  X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
}

// An unsigned certificate for `key` named `common_name`, issued by `issuer` (null: by itself).
X509* NewCertificate(EVP_PKEY* key, const std::string& common_name, X509* issuer, long serial) {
  X509* cert = X509_new();
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  // A little in the past: clocks of the machine and OpenSSL's checks agree at once.
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  return cert;
}

void Sign(X509* cert, EVP_PKEY* key) { Check(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign"); }

void WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* file = std::fopen(path.c_str(), "w");
  Check(file != nullptr, "opening a PEM file");
  const bool ok = cert != nullptr
                      ? PEM_write_X509(file, cert) == 1
                      : PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(file);
  Check(ok, "writing a PEM file");
}

}  // namespace

std::string MakeTempDirectory(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  Check(mkdtemp(buffer.data()) != nullptr, "mkdtemp");
  return std::string(buffer.data());
}

struct TestCa::Material {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  mutable long next_serial = 2;
};

TestCa::TestCa(std::string directory, std::string name)
    : directory_(std::move(directory)), name_(std::move(name)), material_(new Material) {
  material_->key = NewKey();
  material_->cert = NewCertificate(material_->key, name_, nullptr, 1);
  AddExtension(material_->cert, material_->cert, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(material_->cert, material_->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(material_->cert, material_->cert, NID_subject_key_identifier, "hash");
  Sign(material_->cert, material_->key);
  cert_path_ = directory_ + "/" + name_ + "-ca.crt";
  WritePem(cert_path_, material_->cert, nullptr);
}

TestCa::~TestCa() {
  X509_free(material_->cert);
  EVP_PKEY_free(material_->key);
  delete material_;
}

CertificateFiles TestCa::Issue(const std::string& common_name, const std::string& file_stem,
                               bool client) const {
  EVP_PKEY* key = NewKey();
  X509* cert = NewCertificate(key, common_name, material_->cert, material_->next_serial++);
  AddExtension(cert, material_->cert, NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert, material_->cert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  AddExtension(cert, material_->cert, NID_ext_key_usage, client ? "clientAuth" : "serverAuth");
  AddExtension(cert, material_->cert, NID_authority_key_identifier, "keyid:always");
  if (!client)
    AddExtension(cert, material_->cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  Sign(cert, material_->key);
  CertificateFiles files{directory_ + "/" + file_stem + ".crt",
                         directory_ + "/" + file_stem + ".key"};
  WritePem(files.cert, cert, nullptr);
  WritePem(files.key, nullptr, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return files;
}

std::string CommonNameOfFile(const std::string& pem_path) {
  FILE* file = std::fopen(pem_path.c_str(), "r");
  if (file == nullptr) return "";
  X509* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  if (cert == nullptr) return "";
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof(name));
  X509_free(cert);
  return name;
}

}  // namespace wsbridge::testing
