// The keys and the clock every fuzz target and the seed generator share, so that the committed
// seeds verify against the targets' TokenVerifiers. Made once with `openssl genpkey` for fuzzing
// only: the private keys are public (they are in this file) and are trusted by nothing else.
//
// Thread-safety: constants.
#pragma once

#include <cstdint>

namespace wsbridge::fuzz {

// The HS256 secret of every verifier in the fuzz targets.
inline constexpr char kHs256Secret[] = "fuzz-only-hs256-secret-0123456789abcdef";

// "Now" for every verification: 2030-01-01T00:00:00Z. Seeds' valid tokens expire in 2100, the
// expired ones in 2020, so the seeds mean the same whenever the fuzzers run.
inline constexpr int64_t kNowUnixSeconds = 1893456000;

// RS256: a 2048-bit RSA key.
inline constexpr char kRsaPublicPem[] = R"pem(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvRfvGAKIKPszNs14Ayo3
9zo4yioOLBwbMBMmek9MYq3I1OuKtKOuAtqySHYbRgJ/eaAHS7biGPOKlIZcxuQc
mi0ZJ9uNamfRlaG86T+T5d+hd4D3VG6qqk+2GOJfXIFjnHF+XLVqsNqhdqqJ5e1l
2LZWphez1RioxxIbZXULh9yNR/nETG7I0kMsw9O9WWtMEJxu1UX4Og+uiwLdBrPq
ak8R+fFiGmMirHed3+gIxgvhhIUkXvfH/8r7AuC1AVAk/VyBEzSC6aTx5Pn4/OIl
fENqHqOf0XnIVlYNIb7n+caVWrzf8c5csitVFrNw4Uu9GkHPdYmZZqj9t+OAFFMG
dwIDAQAB
-----END PUBLIC KEY-----
)pem";
inline constexpr char kRsaPrivatePem[] = R"pem(-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC9F+8YAogo+zM2
zXgDKjf3OjjKKg4sHBswEyZ6T0xircjU64q0o64C2rJIdhtGAn95oAdLtuIY84qU
hlzG5ByaLRkn241qZ9GVobzpP5Pl36F3gPdUbqqqT7YY4l9cgWOccX5ctWqw2qF2
qonl7WXYtlamF7PVGKjHEhtldQuH3I1H+cRMbsjSQyzD071Za0wQnG7VRfg6D66L
At0Gs+pqTxH58WIaYyKsd53f6AjGC+GEhSRe98f/yvsC4LUBUCT9XIETNILppPHk
+fj84iV8Q2oeo5/RechWVg0hvuf5xpVavN/xzlyyK1UWs3DhS70aQc91iZlmqP23
44AUUwZ3AgMBAAECggEANR2I+ryTVLejHiy/Hlx4lgiTtS31Byzp8ioe79JgiYN5
W13Ce5VSptiZpcMPTC4dcqOiCQGZJxsZ/Th0zSV8Z05tt4VzhsUc2SQydW53c+XK
bFAcqWngpLB5XSoRUWHDAknbDd2j14PCQRwMWjrCFgq58jPMPvqLRkfuzCQBlirA
urFMj6r2jVgkVmQL0Op0DiNhsF/HEm3aFKwZUIbzUSve5RNH1lsZwVkXaqibXoeV
AFJHNGmSAbhiiWFKz5yMz8I1NbP1UV1KhLPE531KysFYg8idOaaTN3j/M07/QyUc
AinLb60ISj9rMztuFW1IuMxjsHIYwf4kkl/Z0FakMQKBgQDu3/W0DADSQbzl9d36
jsX3nKazaRDYj9Yx7mfpQ/2NhK2aC5ZSbZ4wW/B0zHN+vri8BA29gqO22U7z8EPT
J5sUPHiIBdaNoB3thpFcaY59TBanXM3dyCDnh6Rue8cujlgr0LffYGhNgZ7w/Q1O
KxM4huLiG8MoOJ46GZprJpcTnwKBgQDKplffdIPZN9WzFcQ5V8M6jSNVRVVEyq7K
8DUFBgA/uFJTv28BBdNkwbaHRDXOx3fPU4DvJWioA93MgL0dPsz24jIZO4T+IImJ
JUqtTRVootDkcz/ATvbwNwBnMys9LeeonTLwqqVY3Gtw3vhC7z7CfDADvfVtsCoE
e9V2b8PeKQKBgQDWwMQdbRkj7fPMbiF1y/vQo6X+77s0ZwPzedkzjmuaWijUsAwh
6Ojpow5ngxNmZEKizaYotRVIIs/nYR8o65dxNvhJma4NP2EIlQ2EHmX64XgQWM+/
ztc+L+U1atRkV5aPNaLJENxUqe7hyy62EuXB0QqSqtDmDRi7NR9tq5DxEwKBgEht
YVSk8QaulPsXmXUhL856aRlt2Ubn5cb0SQ7NkUM03n++GK9V5LLLJTB9KXoJAoIg
ByHxzdDW6OvRS0XrjxfhyiQIiMTG3kEdCe6ccT1fi6dKpYtW7Zz3G3bG6/pGsNgr
ruwjIUt8JA5IMpTBqz2ZYxPDTbdxUeMeWzGkSm3ZAoGBAJMYjykj7sYJ8Si60XNy
+XG0GxuDqNjQ0aFnDDaFSD5n9TcQn+gsoDln4gBDFS9CCkGDebOzU61yML6zG4AY
pkRgOog3Tr4lSISp8vC0FMENVjsXPijHZDbfjZOxMM3mwd6qaJGrqcjDixyA+xO6
KEJ6Dtj9Z6DZ92IyLVJvfmaQ
-----END PRIVATE KEY-----
)pem";

// ES256: an EC P-256 key.
inline constexpr char kEcPublicPem[] = R"pem(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8q/tIcnkgcaMNk+mZ3Mdi5wrhtuE
juHhVAJQ++lISpnAMbwKIw05Ip93tWIwwt83ZvVjX3nQ5hd8m653QjwoWQ==
-----END PUBLIC KEY-----
)pem";
inline constexpr char kEcPrivatePem[] = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTcOFsl7aqvErmoRk
9o4VF4/owffMY+r6OLQz+6TflPyhRANCAATyr+0hyeSBxow2T6Zncx2LnCuG24SO
4eFUAlD76UhKmcAxvAojDTkin3e1YjDC3zdm9WNfedDmF3ybrndCPChZ
-----END PRIVATE KEY-----
)pem";

}  // namespace wsbridge::fuzz
