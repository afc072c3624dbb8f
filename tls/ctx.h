/* rdind - OpenSSL contexts for the sidecar endpoint and its clients. */
#ifndef RDIND_TLS_CTX_H
#define RDIND_TLS_CTX_H

#include <openssl/ssl.h>

#include "err.h"

/* Server context from CERTDIR/server/{cert,key,ca}.pem: TLS >= 1.2, no
 * renegotiation, client certificate required and verified against ca.pem. */
SSL_CTX *tls_server_ctx_new (const char *certdir, rdind_error_t *err);
/* The same in library context LIB (NULL: OpenSSL's default one), for
 * bench-handshake, which compares the two. */
SSL_CTX *tls_server_ctx_new_in (OSSL_LIB_CTX *lib, const char *certdir, rdind_error_t *err);
/* Client context from DIR/{cert,key,ca}.pem (e.g. CERTDIR/client) - used by
 * `rdind health` and the tests. */
SSL_CTX *tls_client_ctx_new (const char *dir, rdind_error_t *err);

/* The context new connections use.  Reloading builds the replacement aside
 * and swaps only when it is complete, so a broken certdir leaves the
 * previous context (and every open connection) untouched. */
struct tls_ctx_holder
{
  SSL_CTX *cur;
};
int tls_ctx_reload (struct tls_ctx_holder *h, const char *certdir, rdind_error_t *err);
void tls_ctx_holder_release (struct tls_ctx_holder *h);

/* notAfter of CERTDIR/server/cert.pem as a Unix time, or -1. */
long long tls_cert_not_after (const char *pem_path);

#endif
