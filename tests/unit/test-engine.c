/* Unit tests for tls/engine.c and tls/ctx.c: two engines wired back to back
 * in memory, certificates made with the openssl CLI in a temp dir. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "tap.h"
#include "ctx.h"
#include "engine.h"
#include "libctx.h"
#include "util.h"

static char dir[] = "/tmp/test-engine-XXXXXX";

/* Runs SCRIPT with sh in directory D (a mkdtemp name: no quoting needed). */
static int
sh_in (const char *d, const char *script)
{
  char cmd[4096];
  snprintf (cmd, sizeof cmd, "cd '%s' && %s", d, script);
  return system (cmd);
}

/* ca/ + server/ + client dirs: client (CN=alice), builder, bob (CN=bob,
 * SAN DNS:builder), two (two CNs, one is alice), evil (other CA,
 * CN=alice), and shapes rotkit never issues: isca (CA:TRUE), noeku (no
 * clientAuth), nosan (no subjectAltName). */
static const char *mkcerts =
  "set -e; exec >/dev/null 2>&1;"
  "mk() { mkdir -p $1; openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
  "  -keyout $1/key.pem -subj \"$2\" -out $1/req.csr;"
  "  openssl x509 -req -in $1/req.csr -CA $3/cert.pem -CAkey $3/key.pem -CAcreateserial"
  "  -days 2 -out $1/cert.pem $4; cp $3/cert.pem $1/ca.pem; };"
  "ca() { mkdir -p $1; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
  "  -keyout $1/key.pem -subj /CN=$1 -days 3 -out $1/cert.pem; };"
  "ca ca; ca otherca;"
  "printf 'subjectAltName=DNS:localhost\\n' > srv.ext;"
  /* rotkit's client shape: CA:FALSE, clientAuth, SAN = the CN alone */
  "cli() { printf 'basicConstraints=critical,CA:FALSE\\nextendedKeyUsage=clientAuth\\nsubjectAltName=DNS:%s\\n' $1 > $1.ext; };"
  "cli alice; cli builder; cli carol;"
  "printf 'basicConstraints=critical,CA:FALSE\\nextendedKeyUsage=clientAuth\\nsubjectAltName=DNS:builder\\n' > bob.ext;"
  "printf 'basicConstraints=critical,CA:TRUE\\nextendedKeyUsage=clientAuth\\nsubjectAltName=DNS:alice\\n' > isca.ext;"
  "printf 'basicConstraints=critical,CA:FALSE\\nsubjectAltName=DNS:alice\\n' > noeku.ext;"
  "printf 'basicConstraints=critical,CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > nosan.ext;"
  "mk server /CN=localhost ca '-extfile srv.ext'; mk client /CN=alice ca '-extfile alice.ext';"
  "mk builder /CN=builder ca '-extfile builder.ext';"
  "mk bob /CN=bob ca '-extfile bob.ext'; mk two '/CN=mallory/CN=alice' ca '-extfile alice.ext';"
  "mk evil /CN=alice otherca '-extfile alice.ext'; mk carol /CN=carol ca '-extfile carol.ext';"
  "mk isca /CN=alice ca '-extfile isca.ext'; mk noeku /CN=alice ca '-extfile noeku.ext';"
  "mk nosan /CN=alice ca '-extfile nosan.ext';"
  /* rsa/: the same layout with RSA keys (rotkit's key_type = rsa2048) */
  "mkdir -p rsa/ca; openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa/ca/key.pem -subj /CN=rsaca"
  "  -days 3 -out rsa/ca/cert.pem;"
  "mkr() { mkdir -p rsa/$1; openssl req -new -newkey rsa:2048 -nodes -keyout rsa/$1/key.pem -subj \"$2\""
  "  -out rsa/$1/req.csr; openssl x509 -req -in rsa/$1/req.csr -CA rsa/ca/cert.pem -CAkey rsa/ca/key.pem"
  "  -CAcreateserial -days 2 -out rsa/$1/cert.pem $3; cp rsa/ca/cert.pem rsa/$1/ca.pem; };"
  "mkr server /CN=localhost '-extfile srv.ext'; mkr client /CN=alice '-extfile alice.ext'";

/* Counts the sessions a client was handed that carry a ticket (TLS 1.2
 * ticket or TLS 1.3 NewSessionTicket): any would let it resume. */
static int tickets;
static int
count_ticket (SSL *ssl UNUSED, SSL_SESSION *sess)
{
  if (SSL_SESSION_has_ticket (sess))
    tickets++;
  return 0;
}

/* Shuttles ciphertext both ways until nothing moves. */
static void
pump (struct tls_engine *a, struct tls_engine *b)
{
  char buf[65536];
  for (int moved = 1; moved;)
    {
      moved = 0;
      size_t n;
      while ((n = tls_engine_take_out (a, buf, sizeof buf)) > 0)
        {
          tls_engine_feed (b, buf, n, NULL);
          moved = 1;
        }
      while ((n = tls_engine_take_out (b, buf, sizeof buf)) > 0)
        {
          tls_engine_feed (a, buf, n, NULL);
          moved = 1;
        }
    }
}

/* Drives both handshakes; returns the server's result (1 ok, < 0 failed). */
static int
handshake (struct tls_engine *c, struct tls_engine *s, rdind_error_t *serr)
{
  rdind_error_t cerr = NULL;
  int rs = 0, rc = 0;
  for (int i = 0; i < 20 && (rs == 0 || rc == 0); i++)
    {
      if (rc == 0)
        rc = tls_engine_handshake (c, &cerr);
      pump (c, s);
      if (rs == 0)
        rs = tls_engine_handshake (s, serr);
      pump (c, s);
      if (rs < 0 || rc < 0)
        break;
    }
  if (cerr) diag ("client: %s", cerr->msg);
  rdind_error_release (&cerr);
  return rs;
}

static char *peers[] = { "alice", "builder", NULL };

/* A client engine from CCTX against a server engine from SCTX checking
 * `peers`; returns the server's handshake result (ERR: its reason). */
static int
pair_handshake (SSL_CTX *cctx, SSL_CTX *sctx, rdind_error_t *err)
{
  struct tls_engine *c = tls_engine_new (cctx, false, "localhost", err);
  struct tls_engine *s = tls_engine_new (sctx, true, NULL, err);
  tls_engine_set_peers (s, peers);
  int r = handshake (c, s, err);
  tls_engine_free (c);
  tls_engine_free (s);
  return r;
}

static int
try_client (SSL_CTX *sctx, const char *cdir, char **out_reason, char **out_name)
{
  rdind_error_t err = NULL;
  cleanup_free char *p = NULL;
  xasprintf (&p, "%s/%s", dir, cdir);
  SSL_CTX *cctx = tls_client_ctx_new (p, &err);
  if (cctx == NULL)
    {
      diag ("client ctx %s: %s", cdir, err->msg);
      rdind_error_release (&err);
      return -100;
    }
  struct tls_engine *c = tls_engine_new (cctx, false, "localhost", &err);
  struct tls_engine *s = tls_engine_new (sctx, true, NULL, &err);
  tls_engine_set_peers (s, peers);
  int r = handshake (c, s, &err);
  if (r < 0 && out_reason)
    *out_reason = xstrdup (err->msg);
  if (r > 0 && out_name)
    *out_name = xstrdup (tls_engine_peer_name (s));
  rdind_error_release (&err);
  tls_engine_free (c);
  tls_engine_free (s);
  SSL_CTX_free (cctx);
  return r;
}

int
main (void)
{
  if (system ("command -v openssl >/dev/null") != 0)
    {
      printf ("1..0 # SKIP openssl CLI not installed\n");
      return 0;
    }
  if (mkdtemp (dir) == NULL || sh_in (dir, mkcerts) != 0)
    {
      ok (0, "make test certificates in %s", dir);
      return done_testing ();
    }

  rdind_error_t err = NULL;
  SSL_CTX *sctx = tls_server_ctx_new (dir, &err);
  ok (sctx != NULL, "server context loads");
  cleanup_free char *cdir = NULL;
  xasprintf (&cdir, "%s/client", dir);
  SSL_CTX *cctx = tls_client_ctx_new (cdir, &err);
  ok (cctx != NULL, "client context loads");

  /* Handshake and data both ways. */
  struct tls_engine *c = tls_engine_new (cctx, false, "localhost", &err);
  struct tls_engine *s = tls_engine_new (sctx, true, NULL, &err);
  tls_engine_set_peers (s, peers);
  ok (handshake (c, s, &err) == 1 && tls_engine_established (c), "handshake completes");
  ok (tls_engine_peer_name (s) && strcmp (tls_engine_peer_name (s), "alice") == 0,
      "peer name is the CN");

  size_t big = 1 << 20;
  char *data = malloc (big), *got = malloc (big);
  for (size_t i = 0; i < big; i++)
    data[i] = (char) (i * 7);
  ok (tls_engine_write (c, data, big, &err) == 0, "client writes 1 MiB");
  pump (c, s);
  size_t have = 0;
  ssize_t n;
  while ((n = tls_engine_read (s, got + have, big - have, &err)) > 0)
    have += n;
  ok (have == big && memcmp (data, got, big) == 0, "server reads the same 1 MiB");
  ok (tls_engine_write (s, "pong", 4, &err) == 0, "server writes");
  pump (c, s);
  char small[16] = "";
  ok (tls_engine_read (c, small, sizeof small, &err) == 4 && memcmp (small, "pong", 4) == 0,
      "client reads the reply");
  ok (tls_engine_read (c, small, sizeof small, &err) == TLS_ENGINE_AGAIN, "nothing more: AGAIN");

  /* Half-close: client sends close_notify, server sees EOF and can still
   * stream to the client. */
  ok (tls_engine_shutdown (c, &err) == 0 && tls_engine_sent_shutdown (c), "client close_notify");
  pump (c, s);
  ok (tls_engine_read (s, small, sizeof small, &err) == TLS_ENGINE_EOF, "server sees EOF");
  ok (tls_engine_write (s, "after", 5, &err) == 0, "server still writes after peer EOF");
  pump (c, s);
  ok (tls_engine_read (c, small, sizeof small, &err) == 5 && memcmp (small, "after", 5) == 0,
      "client still reads after its close_notify");
  ok (tls_engine_write (c, "x", 1, &err) < 0, "client write after close_notify refused");
  rdind_error_release (&err);
  ok (tls_engine_shutdown (s, &err) == 0, "server close_notify");
  pump (c, s);
  ok (tls_engine_read (c, small, sizeof small, &err) == TLS_ENGINE_EOF, "client sees EOF");
  tls_engine_free (c);
  tls_engine_free (s);

  /* Peer-name and CA checks. */
  char *reason = NULL, *name = NULL;
  ok (try_client (sctx, "builder", NULL, &name) == 1 && name && strcmp (name, "builder") == 0,
      "CN and SAN builder: accepted as builder");
  free (name), name = NULL;
  ok (try_client (sctx, "bob", &reason, NULL) < 0 && reason && strstr (reason, "not given once"),
      "CN=bob with SAN=builder (names that disagree) rejected (%s)", reason ? reason : "");
  free (reason), reason = NULL;
  ok (try_client (sctx, "isca", &reason, NULL) < 0 && reason && strstr (reason, "CA certificate"),
      "a CA:TRUE certificate rejected (%s)", reason ? reason : "");
  free (reason), reason = NULL;
  ok (try_client (sctx, "noeku", &reason, NULL) < 0 && reason && strstr (reason, "clientAuth"),
      "a certificate without clientAuth rejected (%s)", reason ? reason : "");
  free (reason), reason = NULL;
  ok (try_client (sctx, "nosan", &reason, NULL) < 0 && reason && strstr (reason, "not given once"),
      "a certificate without the SAN rejected (%s)", reason ? reason : "");
  free (reason), reason = NULL;
  ok (try_client (sctx, "carol", &reason, NULL) < 0 && reason && strstr (reason, "not in sidecar.peers"),
      "name not in peers rejected (%s)", reason ? reason : "");
  free (reason), reason = NULL;
  ok (try_client (sctx, "two", &reason, NULL) < 0 && reason && strstr (reason, "several common names"),
      "several CNs rejected (%s)", reason ? reason : "");
  free (reason), reason = NULL;
  ok (try_client (sctx, "evil", &reason, NULL) < 0, "other CA rejected (%s)", reason ? reason : "");
  free (reason), reason = NULL;

  /* No client certificate at all. */
  {
    SSL_CTX *bare = SSL_CTX_new (TLS_client_method ());
    SSL_CTX_set_verify (bare, SSL_VERIFY_NONE, NULL);
    struct tls_engine *bc = tls_engine_new (bare, false, NULL, &err);
    struct tls_engine *bs = tls_engine_new (sctx, true, NULL, &err);
    tls_engine_set_peers (bs, peers);
    int r = handshake (bc, bs, &err);
    ok (r < 0, "client without certificate rejected (%s)", err ? err->msg : "");
    rdind_error_release (&err);
    tls_engine_free (bc);
    tls_engine_free (bs);
    /* TLS 1.1 only. */
    SSL_CTX_set_min_proto_version (bare, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version (bare, TLS1_1_VERSION);
    SSL_CTX_set_security_level (bare, 0);
    bc = tls_engine_new (bare, false, NULL, &err);
    bs = tls_engine_new (sctx, true, NULL, &err);
    r = handshake (bc, bs, &err);
    ok (r < 0, "TLS 1.1 client rejected (%s)", err ? err->msg : "");
    rdind_error_release (&err);
    tls_engine_free (bc);
    tls_engine_free (bs);
    SSL_CTX_free (bare);
  }

  /* The endpoint's contexts live in rdind's library context, which offers
   * what TLS with ECDSA/RSA keys uses and nothing else. */
  {
    OSSL_LIB_CTX *lib = tls_libctx (&err);
    ok (lib != NULL, "rdind's TLS library context loads");
    /* Seen from a context: a CBC suite cannot be enabled, since its
     * library context has no CBC cipher (OpenSSL's default one has). */
    SSL_CTX *probe = tls_server_ctx_new (dir, &err);
    SSL_CTX *dflt = tls_server_ctx_new_in (NULL, dir, &err);
    ok (probe && dflt && SSL_CTX_set_cipher_list (dflt, "ECDHE-ECDSA-AES128-SHA") == 1
        && SSL_CTX_set_cipher_list (probe, "ECDHE-ECDSA-AES128-SHA") == 0,
        "server context lives there: no CBC suite (the same settings in OpenSSL's default context have one)");
    SSL_CTX_free (probe);
    SSL_CTX_free (dflt);
    EVP_MD *sha = EVP_MD_fetch (lib, "SHA2-256", NULL), *md5 = EVP_MD_fetch (lib, "MD5", NULL);
    EVP_CIPHER *gcm = EVP_CIPHER_fetch (lib, "AES-128-GCM", NULL), *cbc = EVP_CIPHER_fetch (lib, "AES-128-CBC", NULL);
    EVP_KEYMGMT *dsa = EVP_KEYMGMT_fetch (lib, "DSA", NULL), *ec = EVP_KEYMGMT_fetch (lib, "EC", NULL);
    ok (sha && gcm && ec && !md5 && !cbc && !dsa,
        "it offers SHA2-256, AES-128-GCM and EC keys, not MD5, AES-CBC or DSA");
    EVP_MD_free (sha), EVP_MD_free (md5), EVP_CIPHER_free (gcm), EVP_CIPHER_free (cbc);
    EVP_KEYMGMT_free (dsa), EVP_KEYMGMT_free (ec);
    ERR_clear_error ();
  }

  /* RSA keys (rotkit's rsa key types) load and handshake in that context. */
  {
    cleanup_free char *rdir = NULL, *rcdir = NULL;
    xasprintf (&rdir, "%s/rsa", dir);
    xasprintf (&rcdir, "%s/rsa/client", dir);
    SSL_CTX *rs = tls_server_ctx_new (rdir, &err);
    SSL_CTX *rc = rs ? tls_client_ctx_new (rcdir, &err) : NULL;
    int r = rc ? pair_handshake (rc, rs, &err) : -1;
    ok (r == 1, "RSA server and client certificates handshake (%s)", err ? err->msg : "ok");
    rdind_error_release (&err);
    /* TLS 1.2 with an RSA server certificate: RSA key transport (no
     * forward secrecy) is not offered, even to a client that wants only it. */
    r = -1;
    if (rc)
      {
        SSL_CTX_set_max_proto_version (rc, TLS1_2_VERSION);
        SSL_CTX_set_cipher_list (rc, "AES128-GCM-SHA256");
        r = pair_handshake (rc, rs, &err);
      }
    ok (r < 0 && err && strstr (err->msg, "no shared cipher"), "TLS 1.2 RSA key transport refused (%s)",
        err ? err->msg : "accepted");
    rdind_error_release (&err);
    SSL_CTX_free (rs);
    SSL_CTX_free (rc);
  }

  /* No resumption: neither TLS 1.3 nor TLS 1.2 clients get a ticket. */
  for (int v = 0; v < 2; v++)
    {
      int version = v ? TLS1_2_VERSION : TLS1_3_VERSION;
      SSL_CTX *tc = tls_client_ctx_new (cdir, &err);
      SSL_CTX_set_max_proto_version (tc, version);
      SSL_CTX_set_session_cache_mode (tc, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb (tc, count_ticket);
      tickets = 0;
      struct tls_engine *ec = tls_engine_new (tc, false, "localhost", &err);
      struct tls_engine *es = tls_engine_new (sctx, true, NULL, &err);
      tls_engine_set_peers (es, peers);
      int r = handshake (ec, es, &err);
      /* TLS 1.3 tickets follow the handshake: let a round trip happen. */
      tls_engine_write (es, "x", 1, &err);
      pump (ec, es);
      char one[4];
      tls_engine_read (ec, one, sizeof one, &err);
      ok (r == 1 && tickets == 0, "%s: handshake without a session ticket (%d tickets)",
          v ? "TLS 1.2" : "TLS 1.3", tickets);
      rdind_error_release (&err);
      tls_engine_free (ec);
      tls_engine_free (es);
      SSL_CTX_free (tc);
    }

  /* Direct name checks on a certificate with no CN. */
  {
    X509 *x = X509_new ();
    char *m = NULL;
    ok (tls_peer_name_check (x, peers, &m, &err) < 0 && m == NULL, "certificate without names rejected");
    rdind_error_release (&err);
    ok (tls_peer_name_check (NULL, peers, &m, &err) < 0, "missing certificate rejected");
    rdind_error_release (&err);
    X509_free (x);
  }

  /* Reload: a broken certdir keeps the old context. */
  struct tls_ctx_holder h = { NULL };
  ok (tls_ctx_reload (&h, dir, &err) == 0 && h.cur != NULL, "reload from a good certdir");
  SSL_CTX *before = h.cur;
  cleanup_free char *bad = NULL;
  xasprintf (&bad, "%s/nonexistent", dir);
  ok (tls_ctx_reload (&h, bad, &err) < 0 && h.cur == before, "failed reload keeps the old context");
  diag ("%s", err ? err->msg : "");
  rdind_error_release (&err);
  tls_ctx_holder_release (&h);

  cleanup_free char *certp = NULL;
  xasprintf (&certp, "%s/server/cert.pem", dir);
  long long na = tls_cert_not_after (certp);
  ok (na > time (NULL) && na < time (NULL) + 3 * 86400, "not_after of the server cert");

  free (data);
  free (got);
  SSL_CTX_free (cctx);
  SSL_CTX_free (sctx);
  tls_libctx_release ();
  sh_in (dir, "cd / && rm -rf -- \"$OLDPWD\"");
  return done_testing ();
}
