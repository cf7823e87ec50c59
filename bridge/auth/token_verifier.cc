#include "auth/token_verifier.h"

#include <jwt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "auth/owned_handles.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace wsbridge::auth {
namespace {

constexpr std::string_view kHs256 = "HS256";
constexpr std::string_view kRs256 = "RS256";
constexpr std::string_view kEs256 = "ES256";

// Browser tokens travel in a query parameter or an Authorization header; anything larger than
// this is not a token we issued, and is refused before any parsing.
constexpr size_t kMaxTokenBytes = 16 * 1024;
// Generous bounds on configuration inputs; libjwt and OpenSSL take their lengths as int.
constexpr size_t kMaxKeyBytes = 1024 * 1024;
constexpr int kMinRsaBits = 2048;

// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0),
// which does not convert implicitly from std::string_view.
absl::string_view ToAbsl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

absl::Status Unauthenticated(std::string_view message) {
  return absl::UnauthenticatedError(ToAbsl(message));
}

absl::Status Malformed(std::string_view detail) {
  return absl::UnauthenticatedError(absl::StrCat("malformed token: ", ToAbsl(detail)));
}

// True when `part` is non-empty and uses only the unpadded base64url alphabet (RFC 7515 §2).
bool IsBase64UrlPart(std::string_view part) {
  if (part.empty()) return false;
  for (const char c : part) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

// Decodes one base64url part into JSON text. Text containing NUL bytes is refused because libjwt
// and jansson read it as a C string and would silently see a prefix of it.
std::optional<std::string> DecodeJsonPart(std::string_view part) {
  std::string text;
  if (!absl::WebSafeBase64Unescape(ToAbsl(part), &text) || text.empty()) return std::nullopt;
  if (text.find('\0') != std::string::npos) return std::nullopt;
  return text;
}

// An alg value echoed back to the client: bounded and escaped, since it is attacker-supplied.
std::string PrintableAlgorithm(std::string_view alg) {
  constexpr size_t kMaxShown = 20;
  std::string shown = absl::CHexEscape(ToAbsl(alg.substr(0, kMaxShown)));
  if (alg.size() > kMaxShown) shown += "...";
  return shown;
}

// The claims as libjwt holds them after verification, re-serialized by jansson (so strict JSON),
// parsed into a protobuf Struct so that each claim's JSON type can be inspected.
absl::StatusOr<google::protobuf::Struct> VerifiedClaims(jwt_t* jwt) {
  const MallocStringPtr claims_json(jwt_get_grants_json(jwt, nullptr));
  if (claims_json == nullptr) return Malformed("payload has no claims");
  google::protobuf::Struct claims;
  if (!google::protobuf::util::JsonStringToMessage(claims_json.get(), &claims).ok()) {
    return Malformed("claims could not be parsed");
  }
  return claims;
}

// A NumericDate claim (RFC 7519 §2) as an absl::Time; nullopt when absent.
absl::StatusOr<std::optional<absl::Time>> NumericDateClaim(const google::protobuf::Struct& claims,
                                                           const std::string& name) {
  const auto it = claims.fields().find(name);
  if (it == claims.fields().end()) return std::nullopt;
  const google::protobuf::Value& value = it->second;
  if (value.kind_case() != google::protobuf::Value::kNumberValue ||
      !std::isfinite(value.number_value())) {
    return Unauthenticated(absl::StrCat("'", name, "' claim is not a number"));
  }
  // absl::Seconds(double) saturates to an infinite duration for out-of-range values.
  return absl::UnixEpoch() + absl::Seconds(value.number_value());
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenVerifier>> TokenVerifier::Create(TokenVerifierOptions options) {
  if (options.hs256_secret.size() > kMaxKeyBytes) {
    return absl::InvalidArgumentError("hs256_secret is longer than 1 MiB");
  }
  std::string public_key_algorithm;
  if (!options.public_key_pem.empty()) {
    if (options.public_key_pem.size() > kMaxKeyBytes) {
      return absl::InvalidArgumentError("public_key_pem is longer than 1 MiB");
    }
    const BioPtr pem_bio(BIO_new_mem_buf(options.public_key_pem.data(),
                                         static_cast<int>(options.public_key_pem.size())));
    if (pem_bio == nullptr) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
    // The same reader (SubjectPublicKeyInfo PEM) libjwt uses when it verifies RS256/ES256.
    const EvpPkeyPtr public_key(PEM_read_bio_PUBKEY(pem_bio.get(), nullptr, nullptr, nullptr));
    // OpenSSL's error queue is per thread; leave it clean for whoever uses OpenSSL next.
    ERR_clear_error();
    if (public_key == nullptr) {
      return absl::InvalidArgumentError(
          "public_key_pem does not parse as a PEM public key (expected a "
          "'-----BEGIN PUBLIC KEY-----' block)");
    }
    switch (EVP_PKEY_get_base_id(public_key.get())) {
      case EVP_PKEY_RSA: {
        const int bits = EVP_PKEY_get_bits(public_key.get());
        if (bits < kMinRsaBits) {
          return absl::InvalidArgumentError(
              absl::StrFormat("public_key_pem is a %d-bit RSA key; RS256 needs at least %d bits",
                              bits, kMinRsaBits));
        }
        public_key_algorithm = std::string(kRs256);
        break;
      }
      case EVP_PKEY_EC: {
        char curve_name[64] = {};
        size_t curve_name_length = 0;
        if (EVP_PKEY_get_group_name(public_key.get(), curve_name, sizeof(curve_name),
                                    &curve_name_length) != 1) {
          ERR_clear_error();
          return absl::InvalidArgumentError("public_key_pem is an EC key on an unnamed curve");
        }
        if (std::string_view(curve_name, curve_name_length) != SN_X9_62_prime256v1) {
          return absl::InvalidArgumentError(
              absl::StrCat("public_key_pem is an EC key on curve ",
                           absl::string_view(curve_name, curve_name_length),
                           "; only P-256 (prime256v1, for ES256) is supported"));
        }
        public_key_algorithm = std::string(kEs256);
        break;
      }
      default: {
        const char* type_name = EVP_PKEY_get0_type_name(public_key.get());
        return absl::InvalidArgumentError(
            absl::StrCat("public_key_pem is a ", type_name != nullptr ? type_name : "unknown",
                         " key; only RSA (RS256) and EC P-256 (ES256) keys are supported"));
      }
    }
  }
  return std::unique_ptr<TokenVerifier>(new TokenVerifier(std::move(options.hs256_secret),
                                                          std::move(options.public_key_pem),
                                                          std::move(public_key_algorithm)));
}

TokenVerifier::TokenVerifier(std::string hs256_secret, std::string public_key_pem,
                             std::string public_key_algorithm)
    : hs256_secret_(std::move(hs256_secret)),
      public_key_pem_(std::move(public_key_pem)),
      public_key_algorithm_(std::move(public_key_algorithm)) {}

bool TokenVerifier::enabled() const {
  return !hs256_secret_.empty() || !public_key_algorithm_.empty();
}

std::vector<std::string> TokenVerifier::algorithms() const {
  std::vector<std::string> accepted;
  if (!hs256_secret_.empty()) accepted.emplace_back(kHs256);
  if (!public_key_algorithm_.empty()) accepted.push_back(public_key_algorithm_);
  return accepted;
}

absl::StatusOr<VerifiedToken> TokenVerifier::Verify(std::string_view token, absl::Time now) const {
  if (token.empty()) return Unauthenticated("token is empty");
  if (!enabled()) return Unauthenticated("token authentication is not configured on this server");
  if (token.size() > kMaxTokenBytes) {
    return Unauthenticated(absl::StrCat("token is too long (limit ", kMaxTokenBytes, " bytes)"));
  }

  // --- Structure: header.payload.signature, each unpadded base64url. -------------------------
  const size_t first_dot = token.find('.');
  const size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return Malformed("expected three dot-separated parts");
  }
  const std::string_view header_part = token.substr(0, first_dot);
  const std::string_view payload_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_part = token.substr(second_dot + 1);
  if (!IsBase64UrlPart(header_part) || !IsBase64UrlPart(payload_part) ||
      (!signature_part.empty() && !IsBase64UrlPart(signature_part))) {
    return Malformed("parts are not base64url-encoded");
  }

  // --- Header, read here BEFORE libjwt sees the token, so that the header alone decides which
  // key (if any) is used. jwt_add_*_json parse with jansson, strictly, as jwt_decode does. ------
  const std::optional<std::string> header_json = DecodeJsonPart(header_part);
  if (!header_json.has_value()) return Malformed("header is not base64url-encoded JSON");
  jwt_t* unverified_raw = nullptr;
  if (jwt_new(&unverified_raw) != 0) {
    return Unauthenticated("token could not be checked (out of memory)");
  }
  const JwtPtr unverified(unverified_raw);
  if (jwt_add_headers_json(unverified.get(), header_json->c_str()) != 0) {
    return Malformed("header is not a JSON object");
  }
  const char* header_alg = jwt_get_header(unverified.get(), "alg");
  if (header_alg == nullptr) return Malformed("header has no string 'alg'");
  const std::string_view alg(header_alg);
  if (absl::EqualsIgnoreCase(ToAbsl(alg), "none")) {
    return Unauthenticated("unsigned tokens (alg 'none') are not accepted");
  }
  std::string_view key;
  jwt_alg_t expected_alg = JWT_ALG_NONE;
  if (alg == kHs256 && !hs256_secret_.empty()) {
    key = hs256_secret_;
    expected_alg = JWT_ALG_HS256;
  } else if (!public_key_algorithm_.empty() && alg == public_key_algorithm_) {
    key = public_key_pem_;
    expected_alg = alg == kRs256 ? JWT_ALG_RS256 : JWT_ALG_ES256;
  } else {
    const std::vector<std::string> accepted = algorithms();
    return Unauthenticated(
        absl::StrCat("token algorithm '", PrintableAlgorithm(alg),
                     "' is not allowed (accepted: ", absl::StrJoin(accepted, ", "), ")"));
  }
  if (const MallocStringPtr typ(jwt_get_headers_json(unverified.get(), "typ")); typ != nullptr) {
    const char* typ_text = jwt_get_header(unverified.get(), "typ");
    if (typ_text == nullptr || !absl::EqualsIgnoreCase(typ_text, "JWT")) {
      return Unauthenticated("unsupported token type (header 'typ' must be \"JWT\")");
    }
  }
  if (const MallocStringPtr crit(jwt_get_headers_json(unverified.get(), "crit")); crit != nullptr) {
    return Unauthenticated("token header has unsupported critical extensions ('crit')");
  }

  const std::optional<std::string> payload_json = DecodeJsonPart(payload_part);
  if (!payload_json.has_value()) return Malformed("payload is not base64url-encoded JSON");
  if (jwt_add_grants_json(unverified.get(), payload_json->c_str()) != 0) {
    return Malformed("payload is not a JSON object");
  }
  if (signature_part.empty()) return Malformed("signature is missing");

  // --- Signature, by libjwt, with the one key that the (allowed) header alg selects. ----------
  // The key is never empty here, so libjwt cannot take its "no key, no verification" path.
  const std::string token_text(token);
  jwt_t* verified_raw = nullptr;
  const int decode_error =
      jwt_decode(&verified_raw, token_text.c_str(),
                 reinterpret_cast<const unsigned char*>(key.data()), static_cast<int>(key.size()));
  const JwtPtr verified(verified_raw);
  // libjwt's OpenSSL calls may leave errors queued on this thread; do not leak them to others.
  ERR_clear_error();
  if (decode_error != 0 || verified == nullptr) {
    return Unauthenticated("token signature is invalid");
  }
  if (jwt_get_alg(verified.get()) != expected_alg) {
    // Unreachable unless libjwt disagrees with the header read above; refuse rather than trust.
    return Unauthenticated("token signature is invalid (algorithm mismatch)");
  }

  // --- Claims. ---------------------------------------------------------------------------------
  absl::StatusOr<google::protobuf::Struct> claims = VerifiedClaims(verified.get());
  if (!claims.ok()) return claims.status();
  const auto& fields = claims->fields();
  VerifiedToken result;

  absl::StatusOr<std::optional<absl::Time>> expires_at = NumericDateClaim(*claims, "exp");
  if (!expires_at.ok()) return expires_at.status();
  if (expires_at->has_value() && **expires_at <= now) return Unauthenticated("token has expired");
  result.expires_at = *expires_at;

  absl::StatusOr<std::optional<absl::Time>> not_before = NumericDateClaim(*claims, "nbf");
  if (!not_before.ok()) return not_before.status();
  if (not_before->has_value() && **not_before > now) {
    return Unauthenticated("token is not valid yet ('nbf' is in the future)");
  }

  const auto sub = fields.find("sub");
  if (sub == fields.end()) return Unauthenticated("token has no 'sub' claim");
  if (sub->second.kind_case() != google::protobuf::Value::kStringValue) {
    return Unauthenticated("'sub' claim is not a string");
  }
  if (sub->second.string_value().empty()) return Unauthenticated("'sub' claim is empty");
  result.user_id = sub->second.string_value();

  if (const auto topics = fields.find("topics"); topics != fields.end()) {
    constexpr std::string_view kBadTopics = "'topics' claim must be an array of strings";
    if (topics->second.kind_case() != google::protobuf::Value::kListValue) {
      return Unauthenticated(kBadTopics);
    }
    for (const google::protobuf::Value& topic : topics->second.list_value().values()) {
      if (topic.kind_case() != google::protobuf::Value::kStringValue) {
        return Unauthenticated(kBadTopics);
      }
      result.topics.push_back(topic.string_value());
    }
  }

  if (const auto meta = fields.find("meta"); meta != fields.end()) {
    constexpr std::string_view kBadMeta = "'meta' claim must be an object whose values are strings";
    if (meta->second.kind_case() != google::protobuf::Value::kStructValue) {
      return Unauthenticated(kBadMeta);
    }
    for (const auto& [name, value] : meta->second.struct_value().fields()) {
      if (value.kind_case() != google::protobuf::Value::kStringValue) {
        return Unauthenticated(kBadMeta);
      }
      result.metadata.emplace(name, value.string_value());
    }
  }
  return result;
}

}  // namespace wsbridge::auth
