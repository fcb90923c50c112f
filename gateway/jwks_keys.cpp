#include "gateway/jwks_keys.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace herald::gateway {
namespace {

constexpr std::size_t max_jwks_bytes = 1 << 20;
constexpr std::size_t max_jwks_keys = 64;
constexpr int min_rsa_bits = 2048;

struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};
struct bn_free {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct bld_free {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct param_free {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct ctx_free {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;

// The algorithm a public key verifies, or why it cannot be used.
jwt_alg alg_of(EVP_PKEY* k) {
  const int id = EVP_PKEY_get_base_id(k);
  if (id == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(k) < min_rsa_bits) {
      throw std::invalid_argument("RSA key has " + std::to_string(EVP_PKEY_get_bits(k)) +
                                  " bits; at least 2048 are required");
    }
    return jwt_alg::rs256;
  }
  if (id == EVP_PKEY_EC) {
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
            1 ||
        std::string_view(group, len) != "prime256v1") {
      throw std::invalid_argument("EC key is not on the P-256 curve (ES256)");
    }
    return jwt_alg::es256;
  }
  throw std::invalid_argument("the key is neither RSA (RS256) nor EC P-256 (ES256)");
}

// libjwt takes public keys as PEM text: write the key back in the one form it reads.
std::string pem_of(EVP_PKEY* k) {
  bio_ptr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), k) != 1)
    throw std::invalid_argument("cannot encode the key");
  char* data = nullptr;
  const long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

bn_ptr bignum(const std::string& bytes) {
  bn_ptr b(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                     static_cast<int>(bytes.size()), nullptr));
  if (!b) throw std::invalid_argument("out of memory");
  return b;
}

pkey_ptr from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, param_free> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, ctx_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || !raw) {
    throw std::invalid_argument("the key's parameters do not form a valid public key");
  }
  return pkey_ptr(raw);
}

std::string member_bytes(const nlohmann::json& jwk, const char* name) {
  auto it = jwk.find(name);
  std::string out;
  if (it == jwk.end() || !it->is_string() ||
      !base64url_decode(it->get_ref<const std::string&>(), &out) || out.empty()) {
    throw std::invalid_argument(std::string("\"") + name + "\" is missing or not base64url");
  }
  return out;
}

pkey_ptr rsa_from_jwk(const nlohmann::json& jwk) {
  const auto n = bignum(member_bytes(jwk, "n"));
  const auto e = bignum(member_bytes(jwk, "e"));
  std::unique_ptr<OSSL_PARAM_BLD, bld_free> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    throw std::invalid_argument("out of memory");
  }
  return from_params("RSA", bld.get());
}

pkey_ptr ec_from_jwk(const nlohmann::json& jwk) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || *crv != "P-256") throw std::invalid_argument("\"crv\" is not P-256");
  const std::string x = member_bytes(jwk, "x"), y = member_bytes(jwk, "y");
  if (x.size() != 32 || y.size() != 32)
    throw std::invalid_argument("\"x\" and \"y\" must be 32 bytes each");
  std::string point = "\x04" + x + y;  // uncompressed point
  std::unique_ptr<OSSL_PARAM_BLD, bld_free> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    throw std::invalid_argument("out of memory");
  }
  return from_params("EC", bld.get());
}

verify_key key_from_jwk(const nlohmann::json& jwk) {
  if (!jwk.is_object()) throw std::invalid_argument("not an object");
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) throw std::invalid_argument("no \"kty\"");
  if (auto use = jwk.find("use"); use != jwk.end() && *use != "sig")
    throw std::invalid_argument("\"use\" is not sig");
  verify_key k;
  if (auto kid = jwk.find("kid"); kid != jwk.end()) {
    if (!kid->is_string() || kid->get_ref<const std::string&>().size() > 256) {
      throw std::invalid_argument("\"kid\" is not a string of at most 256 characters");
    }
    k.kid = kid->get<std::string>();
  }
  pkey_ptr pk;
  if (*kty == "RSA") {
    pk = rsa_from_jwk(jwk);
  } else if (*kty == "EC") {
    pk = ec_from_jwk(jwk);
  } else {
    throw std::invalid_argument("\"kty\" " + kty->dump() + " is not RSA or EC");
  }
  k.alg = alg_of(pk.get());
  if (auto alg = jwk.find("alg"); alg != jwk.end() && *alg != alg_name(k.alg)) {
    throw std::invalid_argument("\"alg\" " + alg->dump() + " is not " + alg_name(k.alg));
  }
  k.material = pem_of(pk.get());
  return k;
}

int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

const char* alg_name(jwt_alg a) {
  switch (a) {
    case jwt_alg::hs256:
      return "HS256";
    case jwt_alg::rs256:
      return "RS256";
    case jwt_alg::es256:
      return "ES256";
  }
  return "";
}

bool base64url_decode(std::string_view in, std::string* out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  out->clear();
  out->reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = b64url_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

verify_key parse_public_key_pem(std::string_view pem) {
  if (pem.size() > 64 * 1024) throw std::invalid_argument("the file is over 64 KiB");
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    throw std::invalid_argument("holds a private key; give the public key (openssl pkey -pubout)");
  }
  pkey_ptr pk;
  if (pem.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
    bio_ptr in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    std::unique_ptr<X509, x509_free> cert(
        in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr);
    if (cert) pk.reset(X509_get_pubkey(cert.get()));
  } else {
    // "PUBLIC KEY" (SubjectPublicKeyInfo) or PKCS#1 "RSA PUBLIC KEY".
    EVP_PKEY* raw = nullptr;
    OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, nullptr,
                                                           EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
    const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
    std::size_t len = pem.size();
    if (dctx) OSSL_DECODER_from_data(dctx, &data, &len);
    OSSL_DECODER_CTX_free(dctx);
    pk.reset(raw);
  }
  if (!pk) throw std::invalid_argument("is not a PEM public key or certificate");
  verify_key k;
  k.alg = alg_of(pk.get());
  k.material = pem_of(pk.get());
  return k;
}

key_list parse_jwks(std::string_view text, std::vector<std::string>* skipped) {
  if (text.size() > max_jwks_bytes) throw std::invalid_argument("the key set is over 1 MiB");
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) throw std::invalid_argument("is not valid JSON");
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    throw std::invalid_argument("is not a JWKS document (an object with a \"keys\" array)");
  }
  key_list out;
  std::size_t i = 0;
  for (const auto& jwk : doc["keys"]) {
    if (out.size() == max_jwks_keys) {
      if (skipped) skipped->push_back("keys past the first 64 are ignored");
      break;
    }
    try {
      out.push_back(key_from_jwk(jwk));
    } catch (const std::invalid_argument& e) {
      if (skipped) skipped->push_back("key " + std::to_string(i) + ": " + e.what());
    }
    ++i;
  }
  return out;
}

}  // namespace herald::gateway
