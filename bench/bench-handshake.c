/* bench-handshake: server CPU per TLS handshake, rdind's endpoint context
 * (tls_server_ctx_new: its own library context, see tls/libctx.c) side by
 * side with the very same settings in OpenSSL's default library context
 * (tls_server_ctx_new_in (NULL, ...)), in one run.
 * Usage: bench-handshake CERTDIR [ROUNDS]  (CERTDIR as rotkit makes it, with
 * a client directory named "client").
 *
 * Client and server run in this process over an in-memory BIO pair; only
 * the server's calls are timed (thread CPU time): SSL_new, every
 * SSL_do_handshake step, SSL_free.  The sides alternate handshake by
 * handshake so that frequency changes and other load hit both alike. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ctx.h"
#include "util.h"

static double
cpu_now (void)
{
  struct timespec t;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* One handshake; returns the server's CPU seconds, or -1. */
static double
one (SSL_CTX *sctx, SSL_CTX *cctx)
{
  double t0 = cpu_now ();
  SSL *s = SSL_new (sctx);
  double spent = cpu_now () - t0;
  SSL *c = SSL_new (cctx);
  BIO *bc, *bs;
  if (s == NULL || c == NULL || BIO_new_bio_pair (&bc, 0, &bs, 0) != 1)
    return -1;
  SSL_set_bio (c, bc, bc);
  SSL_set_bio (s, bs, bs);
  SSL_set_connect_state (c);
  SSL_set_accept_state (s);
  int dc = 0, ds = 0;
  for (int i = 0; i < 20 && !(dc && ds); i++)
    {
      if (!dc)
        {
          int r = SSL_do_handshake (c);
          if (r == 1)
            dc = 1;
          else if (SSL_get_error (c, r) != SSL_ERROR_WANT_READ)
            break;
        }
      if (!ds)
        {
          t0 = cpu_now ();
          int r = SSL_do_handshake (s);
          spent += cpu_now () - t0;
          if (r == 1)
            ds = 1;
          else if (SSL_get_error (s, r) != SSL_ERROR_WANT_READ)
            break;
        }
    }
  SSL_free (c);
  t0 = cpu_now ();
  SSL_free (s);
  spent += cpu_now () - t0;
  return dc && ds ? spent : -1;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: %s CERTDIR [ROUNDS]\n", argv[0]);
      return 2;
    }
  const char *certdir = argv[1];
  int rounds = argc > 2 ? atoi (argv[2]) : 2000;
  if (rounds < 10)
    rounds = 10;
  rdind_error_t err = NULL;
  cleanup_free char *cdir = NULL;
  xasprintf (&cdir, "%s/client", certdir);
  SSL_CTX *ours = tls_server_ctx_new (certdir, &err);
  SSL_CTX *cctx = ours ? tls_client_ctx_new (cdir, &err) : NULL;
  if (ours == NULL || cctx == NULL)
    return rdind_error_report (&err, 1);
  /* The anchor: the very same settings in OpenSSL's default context. */
  SSL_CTX *anchor = tls_server_ctx_new_in (NULL, certdir, &err);
  if (anchor == NULL)
    return rdind_error_report (&err, 1);
  const struct
  {
    const char *name;
    int version;
  } protos[] = { { "TLS 1.3", TLS1_3_VERSION }, { "TLS 1.2", TLS1_2_VERSION } };
  double *ta = xmalloc0 (rounds * sizeof *ta), *tr = xmalloc0 (rounds * sizeof *tr);
  printf ("bench-handshake: server CPU per handshake (median of %d, sides alternating),\n"
          "client certificate required and verified, ECDSA P-256 keys as rotkit issues them\n",
          rounds);
  printf ("%-8s %22s %22s %8s\n", "protocol", "OpenSSL default (us)", "rdind endpoint (us)",
          "ratio");
  for (size_t p = 0; p < sizeof protos / sizeof protos[0]; p++)
    {
      SSL_CTX_set_max_proto_version (cctx, protos[p].version);
      for (int i = -20; i < rounds; i++) /* 20 warm-up rounds */
        {
          double a = one (anchor, cctx), r = one (ours, cctx);
          if (a < 0 || r < 0)
            {
              ERR_print_errors_fp (stderr);
              fprintf (stderr, "bench-handshake: %s handshake failed\n", protos[p].name);
              return 1;
            }
          if (i >= 0)
            ta[i] = a, tr[i] = r;
        }
      qsort (ta, rounds, sizeof *ta, cmp_double);
      qsort (tr, rounds, sizeof *tr, cmp_double);
      double ma = ta[rounds / 2] * 1e6, mr = tr[rounds / 2] * 1e6;
      printf ("%-8s %22.0f %22.0f %7.2fx\n", protos[p].name, ma, mr, mr / ma);
    }
  free (ta);
  free (tr);
  SSL_CTX_free (anchor);
  SSL_CTX_free (ours);
  SSL_CTX_free (cctx);
  return 0;
}
