/* rdind - OpenSSL contexts (see ctx.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ctx.h"
#include "libctx.h"
#include "util.h"

static int
ctx_error (rdind_error_t *err, const char *what, const char *path)
{
  unsigned long e = ERR_get_error ();
  char buf[256] = "unknown error";
  if (e)
    ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  return rdind_make_error (err, 0, "%s %s: %s", what, path, buf);
}

static SSL_CTX *
ctx_new (OSSL_LIB_CTX *lib, bool server, const char *dir, rdind_error_t *err)
{
  cleanup_free char *cert = NULL;
  xasprintf (&cert, "%s/cert.pem", dir);
  cleanup_free char *key = NULL;
  xasprintf (&key, "%s/key.pem", dir);
  cleanup_free char *ca = NULL;
  xasprintf (&ca, "%s/ca.pem", dir);

  ERR_clear_error ();
  SSL_CTX *ctx = SSL_CTX_new_ex (lib, NULL, server ? TLS_server_method () : TLS_client_method ());
  if (ctx == NULL)
    {
      ctx_error (err, "create TLS context for", dir);
      return NULL;
    }
  /* TLS 1.0/1.1 are refused outright; renegotiation is off because a
   * renegotiated session could swap the authenticated client certificate
   * under a connection that was already let through. */
  SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
  /* AES-128-GCM first (OpenSSL's default puts AES-256 first): as strong as
   * anything the clients can check against, cheaper for both ends of bulk
   * streams, and what Go's crypto/tls (the docker CLI) prefers too. */
  if (SSL_CTX_set_ciphersuites (ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1)
    {
      ctx_error (err, "set the TLS 1.3 cipher suites for", dir);
      goto fail;
    }
  /* TLS 1.2: ephemeral key exchange and AEAD only (no RSA key transport,
   * no CBC; the library context has no CBC cipher anyway). */
  if (SSL_CTX_set_cipher_list (ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1)
    {
      ctx_error (err, "set the TLS 1.2 cipher suites for", dir);
      goto fail;
    }
  /* No resumption either (no TLS 1.2 tickets here, no session cache and no
   * TLS 1.3 tickets below): every connection proves its key again, and the
   * peer check always sees a fresh verification.  Issuing a TLS 1.2 ticket
   * also cost a server ~60% more CPU per handshake. */
  SSL_CTX_set_options (ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET
                       | SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* NO_AUTO_CHAIN: send our certificate alone.  OpenSSL would otherwise
   * complete the chain from the trust store and send the CA along, which
   * the other side must hold already to trust anything (docker clients
   * have ca.pem): ~400 bytes more per handshake for it to parse. */
  SSL_CTX_set_mode (ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);

  if (SSL_CTX_use_certificate_chain_file (ctx, cert) != 1)
    {
      ctx_error (err, "load certificate", cert);
      goto fail;
    }
  if (SSL_CTX_use_PrivateKey_file (ctx, key, SSL_FILETYPE_PEM) != 1)
    {
      ctx_error (err, "load private key", key);
      goto fail;
    }
  if (SSL_CTX_check_private_key (ctx) != 1)
    {
      ctx_error (err, "key does not match certificate", cert);
      goto fail;
    }
  if (SSL_CTX_load_verify_locations (ctx, ca, NULL) != 1)
    {
      ctx_error (err, "load CA", ca);
      goto fail;
    }
  /* Only our CA: never the system store. */
  SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
  SSL_CTX_set_verify_depth (ctx, 4);
  if (server)
    {
      STACK_OF (X509_NAME) *names = SSL_load_client_CA_file_ex (ca, lib, NULL);
      if (names)
        SSL_CTX_set_client_CA_list (ctx, names);
      SSL_CTX_set_session_cache_mode (ctx, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_num_tickets (ctx, 0);
    }
  return ctx;

fail:
  SSL_CTX_free (ctx);
  return NULL;
}

SSL_CTX *
tls_server_ctx_new_in (OSSL_LIB_CTX *lib, const char *certdir, rdind_error_t *err)
{
  cleanup_free char *dir = NULL;
  xasprintf (&dir, "%s/server", certdir);
  return ctx_new (lib, true, dir, err);
}

SSL_CTX *
tls_server_ctx_new (const char *certdir, rdind_error_t *err)
{
  OSSL_LIB_CTX *lib = tls_libctx (err);
  return lib ? tls_server_ctx_new_in (lib, certdir, err) : NULL;
}

SSL_CTX *
tls_client_ctx_new (const char *dir, rdind_error_t *err)
{
  OSSL_LIB_CTX *lib = tls_libctx (err);
  return lib ? ctx_new (lib, false, dir, err) : NULL;
}

int
tls_ctx_reload (struct tls_ctx_holder *h, const char *certdir, rdind_error_t *err)
{
  SSL_CTX *n = tls_server_ctx_new (certdir, err);
  if (n == NULL)
    return rdind_error_wrap (err, "reload TLS context (keeping the previous one)");
  /* Sessions hold their own reference, so freeing ours only drops the old
   * context once the last connection using it closes. */
  SSL_CTX_free (h->cur);
  h->cur = n;
  return 0;
}

void
tls_ctx_holder_release (struct tls_ctx_holder *h)
{
  SSL_CTX_free (h->cur);
  h->cur = NULL;
}

long long
tls_cert_not_after (const char *pem_path)
{
  cleanup_file FILE *f = fopen (pem_path, "re");
  if (f == NULL)
    return -1;
  X509 *x = PEM_read_X509 (f, NULL, NULL, NULL);
  if (x == NULL)
    {
      ERR_clear_error ();
      return -1;
    }
  struct tm tm;
  long long ret = -1;
  if (ASN1_TIME_to_tm (X509_get0_notAfter (x), &tm) == 1)
    ret = (long long) timegm (&tm);
  X509_free (x);
  return ret;
}
