/* rdind - TLS engine over OpenSSL memory BIOs.
 *
 * No I/O and no libuv types here: the caller feeds ciphertext read from the
 * network with tls_engine_feed(), drains ciphertext to send with
 * tls_engine_take_out(), and moves plaintext with tls_engine_read()/write().
 * This keeps the engine unit-testable by wiring two engines back to back in
 * memory, and lets the proxy apply backpressure by simply not reading.
 */
#ifndef RDIND_TLS_ENGINE_H
#define RDIND_TLS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "err.h"

struct tls_engine;

/* Read results besides a positive byte count. */
#define TLS_ENGINE_AGAIN 0     /* need more ciphertext */
#define TLS_ENGINE_EOF (-1)    /* peer sent close_notify */
#define TLS_ENGINE_ERROR (-2)  /* fatal; see err */

/* The engine takes its own reference on CTX, so a reloaded context does not
 * disturb connections that are already open. */
struct tls_engine *tls_engine_new (SSL_CTX *ctx, bool server, const char *sni, rdind_error_t *err);
void tls_engine_free (struct tls_engine *e);

/* Ciphertext from the network.  Never fails short: memory BIOs grow. */
int tls_engine_feed (struct tls_engine *e, const void *buf, size_t len, rdind_error_t *err);
/* Ciphertext waiting to be sent. */
size_t tls_engine_pending_out (struct tls_engine *e);
size_t tls_engine_take_out (struct tls_engine *e, void *buf, size_t len);

/* 1 when the handshake is complete, 0 when it needs more input, < 0 on
 * failure (err says why, including the peer-name rejection). */
int tls_engine_handshake (struct tls_engine *e, rdind_error_t *err);
bool tls_engine_established (struct tls_engine *e);

/* Plaintext: > 0 bytes, TLS_ENGINE_AGAIN, TLS_ENGINE_EOF or TLS_ENGINE_ERROR. */
ssize_t tls_engine_read (struct tls_engine *e, void *buf, size_t len, rdind_error_t *err);
/* Encrypts all of BUF (records go to the output BIO); < 0 on failure. */
int tls_engine_write (struct tls_engine *e, const void *buf, size_t len, rdind_error_t *err);
/* Queues close_notify; the read side stays usable (half-close). */
int tls_engine_shutdown (struct tls_engine *e, rdind_error_t *err);
bool tls_engine_sent_shutdown (struct tls_engine *e);

/* Peer certificate checks (server side).  PEERS is a NULL-terminated list of
 * accepted names; when non-NULL, the handshake fails unless the client
 * certificate's single CN or one of its DNS SANs equals one of them. */
void tls_engine_set_peers (struct tls_engine *e, char **peers);
/* The matched peer name after a successful handshake, or NULL. */
const char *tls_engine_peer_name (struct tls_engine *e);

/* Exposed for tests: checks CERT against PEERS (exact, case-sensitive
 * match; several CNs or a NUL inside a name are rejected).  Returns 0 and
 * sets *MATCHED (owned by the caller) or < 0 with the reason in ERR. */
int tls_peer_name_check (X509 *cert, char **peers, char **matched, rdind_error_t *err);

#endif
