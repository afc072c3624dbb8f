/* rdind - the OpenSSL library context of the TLS endpoint (see libctx.h).
 *
 * Why a context of its own: OpenSSL 3.0 decodes the public key of every
 * certificate it parses (the client's, on each handshake) through
 * OSSL_DECODER_CTX_new_for_pkey, which walks every key manager and every
 * decoder the library context offers, and then every pair of them.  With
 * the default provider that walk cost ~100 us of the ~700 us a server
 * handshake takes here, more than the ECDSA verification of the chain.
 * Later OpenSSL releases cache it; Debian 12 ships 3.0.
 *
 * So the endpoint's contexts live in a library context whose only provider
 * is a filter over the default provider: it offers the default provider's
 * own implementations (same code, same provider context), but only those a
 * TLS 1.2/1.3 endpoint with rotkit's keys (ECDSA P-256 or RSA) uses.  The
 * walk then meets a handful of decoders instead of 41.  Nothing is weaker:
 * the algorithms that remain are the same code, and those removed (DSA, DH,
 * SM2, CBC ciphers, MD5, ...) are ones the endpoint has no business with.
 * The filter idea is OpenSSL's own (test/filterprov.c); this is our
 * implementation of it on public API only. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_dispatch.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "libctx.h"
#include "util.h"

#define FILTER_NAME "rdind-tls"

/* Per operation, the algorithms kept, by their first (canonical) name. */
static const char *const keep[OSSL_OP__HIGHEST + 1][8] = {
  /* SHA1: OpenSSL fingerprints every certificate it parses with it. */
  [OSSL_OP_DIGEST] = { "SHA1", "SHA2-256", "SHA2-384", "SHA2-512" },
  /* The AEADs of TLS 1.3 and of TLS 1.2's ECDHE suites: no CBC. */
  [OSSL_OP_CIPHER] = { "AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305" },
  [OSSL_OP_MAC] = { "HMAC" },
  [OSSL_OP_KDF] = { "HKDF", "TLS13-KDF", "TLS1-PRF" },
  /* The context's own random generator (its ciphers come from the inner
   * context, which has everything). */
  [OSSL_OP_RAND] = { "CTR-DRBG", "SEED-SRC" },
  /* RSA-PSS: libssl offers the rsa_pss_rsae schemes (TLS 1.3 with RSA keys)
   * only if it can make a context of that key type. */
  [OSSL_OP_KEYMGMT] = { "EC", "X25519", "X448", "RSA", "RSA-PSS" },
  [OSSL_OP_KEYEXCH] = { "ECDH", "X25519", "X448" },
  [OSSL_OP_SIGNATURE] = { "ECDSA", "RSA" },
  /* DER/PEM readers of those keys (PEM files, certificates): "DER" names
   * the PEM-to-DER and PKCS#8 unwrapping steps. */
  [OSSL_OP_DECODER] = { "EC", "RSA", "DER" },
};

static struct
{
  OSSL_LIB_CTX *outer; /* what the endpoint's SSL_CTXs use */
  OSSL_LIB_CTX *inner; /* holds the default provider we filter */
  OSSL_PROVIDER *deflt;
  OSSL_PROVIDER *filter; /* our reference to the loaded filter */
  OSSL_ALGORITHM *ops[OSSL_OP__HIGHEST + 1];
} L;

static bool
first_name_is (const char *names, const char *want)
{
  size_t n = strlen (want);
  return strncasecmp (names, want, n) == 0 && (names[n] == ':' || names[n] == '\0');
}

static bool
kept (int op, const OSSL_ALGORITHM *a)
{
  const char *props = a->property_definition ? a->property_definition : "";
  /* Microsoft's key blob formats: never read here. */
  if (strstr (props, "input=msblob") || strstr (props, "input=pvk"))
    return false;
  for (size_t i = 0; i < sizeof keep[op] / sizeof keep[op][0] && keep[op][i]; i++)
    if (first_name_is (a->algorithm_names, keep[op][i]))
      return true;
  return false;
}

static const OSSL_ALGORITHM *
filter_query (void *provctx UNUSED, int op, int *no_cache)
{
  *no_cache = 0;
  if (op < 0 || op > OSSL_OP__HIGHEST || keep[op][0] == NULL)
    return NULL;
  if (L.ops[op])
    return L.ops[op];
  int nc = 0;
  const OSSL_ALGORITHM *all = OSSL_PROVIDER_query_operation (L.deflt, op, &nc);
  size_t n = 0;
  for (const OSSL_ALGORITHM *a = all; a && a->algorithm_names; a++)
    n++;
  OSSL_ALGORITHM *out = xmalloc0 ((n + 1) * sizeof *out);
  size_t k = 0;
  for (const OSSL_ALGORITHM *a = all; a && a->algorithm_names; a++)
    if (kept (op, a))
      out[k++] = *a;
  /* The default provider's tables are static; ours copy their entries and
   * live as long as the provider. */
  L.ops[op] = out;
  return out;
}

/* TLS-GROUP (the key exchange groups and their parameters) as the default
 * provider states them; groups whose key manager we dropped are skipped by
 * libssl. */
static int
filter_caps (void *provctx UNUSED, const char *capability, OSSL_CALLBACK *cb, void *arg)
{
  return OSSL_PROVIDER_get_capabilities (L.deflt, capability, cb, arg);
}

static void
filter_teardown (void *provctx UNUSED)
{
  for (size_t i = 0; i <= OSSL_OP__HIGHEST; i++)
    {
      free (L.ops[i]);
      L.ops[i] = NULL;
    }
  OSSL_PROVIDER_unload (L.deflt);
  L.deflt = NULL;
  OSSL_LIB_CTX_free (L.inner);
  L.inner = NULL;
}

static const OSSL_DISPATCH filter_dispatch[] = {
  { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*) (void))filter_query },
  { OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*) (void))filter_caps },
  { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*) (void))filter_teardown },
  { 0, NULL },
};

static int
filter_init (const OSSL_CORE_HANDLE *handle UNUSED, const OSSL_DISPATCH *in UNUSED,
             const OSSL_DISPATCH **out, void **provctx)
{
  L.inner = OSSL_LIB_CTX_new ();
  if (L.inner == NULL)
    return 0;
  L.deflt = OSSL_PROVIDER_load (L.inner, "default");
  if (L.deflt == NULL)
    {
      OSSL_LIB_CTX_free (L.inner);
      L.inner = NULL;
      return 0;
    }
  /* The implementations we hand out are the default provider's: they get
   * its provider context, so everything they fetch themselves (the DRBG's
   * AES, HKDF's digest) comes from the inner context. */
  *provctx = OSSL_PROVIDER_get0_provider_ctx (L.deflt);
  *out = filter_dispatch;
  return 1;
}

OSSL_LIB_CTX *
tls_libctx (rdind_error_t *err)
{
  if (L.outer)
    return L.outer;
  ERR_clear_error ();
  OSSL_LIB_CTX *c = OSSL_LIB_CTX_new ();
  /* Keep the reference OSSL_PROVIDER_load hands out: dropped, it was a
   * leak LeakSanitizer reported once the ASan tier ran the unit tests. */
  if (c == NULL || !OSSL_PROVIDER_add_builtin (c, FILTER_NAME, filter_init)
      || (L.filter = OSSL_PROVIDER_load (c, FILTER_NAME)) == NULL)
    {
      unsigned long e = ERR_get_error ();
      char buf[256] = "unknown error";
      if (e)
        ERR_error_string_n (e, buf, sizeof buf);
      ERR_clear_error ();
      OSSL_LIB_CTX_free (c);
      rdind_make_error (err, 0,
                        "load OpenSSL's default provider for the TLS endpoint: %s "
                        "(is libssl3 complete? check with 'openssl list -providers')",
                        buf);
      return NULL;
    }
  L.outer = c;
  return c;
}

void
tls_libctx_release (void)
{
  /* Unloads the filter, whose teardown unloads the default provider. */
  if (L.filter)
    OSSL_PROVIDER_unload (L.filter);
  L.filter = NULL;
  OSSL_LIB_CTX_free (L.outer);
  L.outer = NULL;
}
