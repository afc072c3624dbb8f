/* rdind - the OpenSSL library context of the TLS endpoint.
 *
 * Every SSL_CTX that tls/ctx.c builds (the sidecar's endpoint, `rdind
 * health`'s client) lives in one library context whose provider offers
 * only what TLS 1.2/1.3 with ECDSA or RSA keys uses; see libctx.c for why
 * (OpenSSL 3.0's per-certificate decoder setup).  rotkit keeps OpenSSL's
 * default context. */
#ifndef RDIND_TLS_LIBCTX_H
#define RDIND_TLS_LIBCTX_H

#include <openssl/crypto.h>

#include "err.h"

/* The context, created on first use and kept for the life of the process;
 * NULL (ERR filled) if OpenSSL's default provider cannot be loaded. */
OSSL_LIB_CTX *tls_libctx (rdind_error_t *err);

/* Frees it; every SSL_CTX made in it must be gone already.  For leak
 * checks at exit. */
void tls_libctx_release (void);

#endif
