/* rdind - TLS engine over memory BIOs (see engine.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "engine.h"
#include "util.h"

struct tls_engine
{
  SSL *ssl;
  BIO *in;   /* network -> SSL, owned by ssl */
  BIO *out;  /* SSL -> network, owned by ssl */
  bool server;
  bool established;
  bool sent_shutdown;
  char **peers;  /* borrowed; lives as long as the configuration */
  char *peer_name;
};

/* The OpenSSL error queue is per thread and sticky; turn its first entry
 * into our error and clear the rest so the next call starts clean. */
static int
ssl_error (rdind_error_t *err, const char *what)
{
  unsigned long e = ERR_get_error ();
  char buf[256] = "unknown error";
  if (e)
    ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  return rdind_make_error (err, 0, "%s: %s", what, buf);
}

struct tls_engine *
tls_engine_new (SSL_CTX *ctx, bool server, const char *sni, rdind_error_t *err)
{
  struct tls_engine *e = xmalloc0 (sizeof *e);
  e->server = server;
  e->ssl = SSL_new (ctx);
  if (e->ssl == NULL)
    goto fail;
  e->in = BIO_new (BIO_s_mem ());
  e->out = BIO_new (BIO_s_mem ());
  if (e->in == NULL || e->out == NULL)
    {
      BIO_free (e->in);
      BIO_free (e->out);
      goto fail;
    }
  /* An empty memory BIO must report "retry", not EOF, so SSL_read returns
   * WANT_READ while the peer's next record is still in flight. */
  BIO_set_mem_eof_return (e->in, -1);
  BIO_set_mem_eof_return (e->out, -1);
  SSL_set_bio (e->ssl, e->in, e->out);
  if (server)
    SSL_set_accept_state (e->ssl);
  else
    {
      if (sni && sni[0])
        SSL_set_tlsext_host_name (e->ssl, sni);
      SSL_set_connect_state (e->ssl);
    }
  return e;

fail:
  ssl_error (err, "create TLS session");
  SSL_free (e->ssl);
  free (e);
  return NULL;
}

void
tls_engine_free (struct tls_engine *e)
{
  if (e == NULL)
    return;
  SSL_free (e->ssl);
  free (e->peer_name);
  free (e);
}

int
tls_engine_feed (struct tls_engine *e, const void *buf, size_t len, rdind_error_t *err)
{
  while (len > 0)
    {
      int chunk = len > (1 << 30) ? (1 << 30) : (int) len;
      int n = BIO_write (e->in, buf, chunk);
      if (n <= 0)
        return ssl_error (err, "buffer TLS input");
      buf = (const char *) buf + n;
      len -= n;
    }
  return 0;
}

size_t
tls_engine_pending_out (struct tls_engine *e)
{
  return BIO_ctrl_pending (e->out);
}

size_t
tls_engine_take_out (struct tls_engine *e, void *buf, size_t len)
{
  if (len > (1u << 30))
    len = 1u << 30;
  int n = BIO_read (e->out, buf, (int) len);
  return n > 0 ? (size_t) n : 0;
}

void
tls_engine_set_peers (struct tls_engine *e, char **peers)
{
  e->peers = peers;
}

const char *
tls_engine_peer_name (struct tls_engine *e)
{
  return e->peer_name;
}

bool
tls_engine_established (struct tls_engine *e)
{
  return e->established;
}

bool
tls_engine_sent_shutdown (struct tls_engine *e)
{
  return e->sent_shutdown;
}

static bool
in_list (char **list, const char *s, size_t len)
{
  /* A NUL inside a certificate name would make a C comparison see a shorter
   * (attacker-chosen) name, so such names never match. */
  if (memchr (s, '\0', len) != NULL)
    return false;
  for (; list && *list; list++)
    if (strlen (*list) == len && memcmp (*list, s, len) == 0)
      return true;
  return false;
}

/* The endpoint accepts exactly the shape rotkit issues to a peer: an end
 * entity (no CA:TRUE), for client authentication (extended key usage
 * clientAuth), named once: one common name, and a subjectAltName that is
 * that name as its only DNS entry.  Only the holder of the CA key can mint
 * other shapes, but a name read one way here and another way elsewhere
 * (CN first, or SAN first) is a confusion an attacker can choose. */
int
tls_peer_name_check (X509 *cert, char **peers, char **matched, rdind_error_t *err)
{
  *matched = NULL;
  if (cert == NULL)
    return rdind_make_error (err, 0, "no client certificate");

  if (X509_check_ca (cert) != 0)
    return rdind_make_error (err, 0, "client certificate is a CA certificate (CA:TRUE or certificate signing): "
                                     "only end-entity certificates as rotkit issues them are accepted");
  uint32_t xf = X509_get_extension_flags (cert);
  if (!(xf & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage (cert) & XKU_SSL_CLIENT))
    return rdind_make_error (err, 0, "client certificate lacks the clientAuth extended key usage "
                                     "(rotkit issue makes one that has it)");

  X509_NAME *subj = X509_get_subject_name (cert);
  int idx = X509_NAME_get_index_by_NID (subj, NID_commonName, -1);
  if (idx >= 0 && X509_NAME_get_index_by_NID (subj, NID_commonName, idx) >= 0)
    return rdind_make_error (err, 0, "client certificate has several common names");
  if (idx < 0)
    return rdind_make_error (err, 0, "client certificate has no common name");

  ASN1_STRING *d = X509_NAME_ENTRY_get_data (X509_NAME_get_entry (subj, idx));
  unsigned char *u = NULL;
  int n = ASN1_STRING_to_UTF8 (&u, d);
  if (n < 0)
    return rdind_make_error (err, 0, "client certificate common name is not valid text");
  if (memchr (u, '\0', n) != NULL)
    {
      OPENSSL_free (u);
      return rdind_make_error (err, 0, "client certificate common name contains a NUL byte");
    }
  cleanup_free char *cn = xstrdup ((char *) u);
  OPENSSL_free (u);

  GENERAL_NAMES *sans = X509_get_ext_d2i (cert, NID_subject_alt_name, NULL, NULL);
  int nsan = sans ? sk_GENERAL_NAME_num (sans) : 0;
  bool agree = nsan == 1;
  for (int i = 0; agree && i < nsan; i++)
    {
      GENERAL_NAME *g = sk_GENERAL_NAME_value (sans, i);
      const char *s = g->type == GEN_DNS ? (const char *) ASN1_STRING_get0_data (g->d.dNSName) : NULL;
      int l = s ? ASN1_STRING_length (g->d.dNSName) : 0;
      agree = s && (size_t) l == strlen (cn) && memcmp (s, cn, (size_t) l) == 0;
    }
  GENERAL_NAMES_free (sans);
  if (!agree)
    return rdind_make_error (err, 0,
                             "client certificate name '%s' is not given once: its subjectAltName must be DNS:%s "
                             "alone, as rotkit issues it",
                             cn, cn);
  if (!in_list (peers, cn, strlen (cn)))
    return rdind_make_error (err, 0, "client certificate name '%s' is not in sidecar.peers", cn);
  *matched = steal_pointer (&cn);
  return 0;
}

int
tls_engine_handshake (struct tls_engine *e, rdind_error_t *err)
{
  if (e->established)
    return 1;
  ERR_clear_error ();
  int r = SSL_do_handshake (e->ssl);
  if (r != 1)
    {
      int code = SSL_get_error (e->ssl, r);
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
        return 0;
      long v = SSL_get_verify_result (e->ssl);
      if (v != X509_V_OK)
        {
          ERR_clear_error ();
          return rdind_make_error (err, 0, "TLS handshake: certificate verify failed: %s",
                                   X509_verify_cert_error_string (v));
        }
      return ssl_error (err, "TLS handshake");
    }

  if (e->server && e->peers)
    {
      X509 *cert = SSL_get1_peer_certificate (e->ssl);
      int ret = tls_peer_name_check (cert, e->peers, &e->peer_name, err);
      X509_free (cert);
      if (ret < 0)
        return ret;
    }
  e->established = true;
  return 1;
}

ssize_t
tls_engine_read (struct tls_engine *e, void *buf, size_t len, rdind_error_t *err)
{
  if (!e->established)
    {
      int r = tls_engine_handshake (e, err);
      if (r <= 0)
        return r < 0 ? TLS_ENGINE_ERROR : TLS_ENGINE_AGAIN;
    }
  size_t got = 0;
  ERR_clear_error ();
  int r = SSL_read_ex (e->ssl, buf, len, &got);
  if (r == 1)
    return (ssize_t) got;
  switch (SSL_get_error (e->ssl, r))
    {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return TLS_ENGINE_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
      return TLS_ENGINE_EOF;
    default:
      ssl_error (err, "TLS read");
      return TLS_ENGINE_ERROR;
    }
}

int
tls_engine_write (struct tls_engine *e, const void *buf, size_t len, rdind_error_t *err)
{
  if (!e->established)
    return rdind_make_error (err, 0, "TLS write before the handshake completed");
  if (e->sent_shutdown)
    return rdind_make_error (err, EPIPE, "TLS write after close_notify");
  while (len > 0)
    {
      size_t done = 0;
      ERR_clear_error ();
      /* Memory BIOs never block, so SSL_write only fails for real errors. */
      if (SSL_write_ex (e->ssl, buf, len, &done) != 1)
        return ssl_error (err, "TLS write");
      buf = (const char *) buf + done;
      len -= done;
    }
  return 0;
}

int
tls_engine_shutdown (struct tls_engine *e, rdind_error_t *err)
{
  if (e->sent_shutdown)
    return 0;
  ERR_clear_error ();
  int r = SSL_shutdown (e->ssl);
  if (r < 0)
    {
      int code = SSL_get_error (e->ssl, r);
      if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE)
        return ssl_error (err, "TLS close_notify");
    }
  e->sent_shutdown = true;
  return 0;
}
