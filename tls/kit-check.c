/* rdind - rotkit's read-only verbs: verify (chain, names, key match,
 * permissions) and show, plus the --now parser. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "kit-internal.h"
#include "util.h"

int
kit_parse_time (const char *s, time_t *out, rdind_error_t *err)
{
  struct tm tm;
  const char *end;
  if (s == NULL || *s == '\0')
    goto bad;
  if (*s == '+')
    {
      uint64_t d;
      if (conf_parse_duration (s + 1, &d, NULL) < 0)
        goto bad;
      *out = time (NULL) + (time_t)d;
      return 0;
    }
  if (*s == '@' || isdigit ((unsigned char)*s))
    {
      const char *p = *s == '@' ? s + 1 : s;
      char *e;
      long long v;
      if (strspn (p, "0123456789") == strlen (p) && *p)
        {
          errno = 0;
          v = strtoll (p, &e, 10);
          if (errno || v <= 0)
            goto bad;
          *out = (time_t)v;
          return 0;
        }
    }
  memset (&tm, 0, sizeof (tm));
  if ((end = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL
      && (end = strptime (s, "%Y-%m-%d %H:%M:%S", &tm)) == NULL)
    {
      memset (&tm, 0, sizeof (tm));
      end = strptime (s, "%Y-%m-%d", &tm);
    }
  if (end == NULL || !(*end == '\0' || (end[0] == 'Z' && end[1] == '\0')))
    goto bad;
  *out = timegm (&tm);
  return 0;
bad:
  return rdind_make_error (err, 0,
                           "bad time '%s': use unix seconds, an ISO-8601 UTC time like "
                           "2026-12-01T00:00:00Z, or +DURATION like +3d",
                           s ? s : "");
}

static bool
is_ip (const char *s)
{
  unsigned char b[16];
  return inet_pton (AF_INET, s, b) == 1 || inet_pton (AF_INET6, s, b) == 1;
}

struct checker
{
  FILE *out;
  int problems;
  time_t now;
  const char *certdir;
};

static void __attribute__ ((format (printf, 2, 3)))
problem (struct checker *c, const char *fmt, ...)
{
  va_list ap;
  fprintf (c->out, "FAIL ");
  va_start (ap, fmt);
  vfprintf (c->out, fmt, ap);
  va_end (ap);
  fputc ('\n', c->out);
  c->problems++;
}

static char *
pj (const char *a, const char *b)
{
  char *s;
  xasprintf (&s, "%s/%s", a, b);
  return s;
}

/* Checks one file's existence, owner and mode bits.  ALLOWED are the bits it
 * may have; REQUIRED those it must have. */
static bool
check_mode (struct checker *c, const char *dir, const char *rel, const char *name, mode_t allowed,
            mode_t required, gid_t gid)
{
  cleanup_free char *p = pj (dir, name);
  struct stat st;
  if (lstat (p, &st) < 0)
    {
      problem (c, "%s/%s: missing: run rotkit init", rel, name);
      return false;
    }
  if (!S_ISREG (st.st_mode))
    {
      problem (c, "%s/%s: not a regular file: delete it and run rotkit init", rel, name);
      return false;
    }
  if (st.st_uid != geteuid ())
    problem (c, "%s/%s: owned by uid %u, not %u: chown %u %s", rel, name, (unsigned)st.st_uid,
             (unsigned)geteuid (), (unsigned)geteuid (), p);
  if ((st.st_mode & 07777 & ~allowed) || (st.st_mode & required) != required)
    problem (c, "%s/%s: mode %04o, want %04o: run rotkit init (it fixes modes) or chmod %04o %s",
             rel, name, (unsigned)(st.st_mode & 07777), (unsigned)allowed, (unsigned)allowed, p);
  if (gid != (gid_t)-1 && st.st_gid != gid)
    problem (c, "%s/%s: group %u, want %u: run rotkit init or chgrp %u %s", rel, name,
             (unsigned)st.st_gid, (unsigned)gid, (unsigned)gid, p);
  return true;
}

static X509 *
read_cert (struct checker *c, const char *dir, const char *rel, const char *name)
{
  cleanup_free char *p = pj (dir, name);
  cleanup_free char *pem = NULL;
  size_t len = 0;
  rdind_error_t e = NULL;
  X509 *x;
  if (read_file (p, &pem, &len, &e) < 0)
    {
      rdind_error_release (&e);
      return NULL;
    }
  x = kit_parse_cert (pem, len, p, &e);
  if (x == NULL)
    {
      problem (c,
               "%s/%s: not a PEM certificate (corrupt or truncated): delete it and run rotkit init",
               rel, name);
      rdind_error_release (&e);
    }
  return x;
}

static EVP_PKEY *
read_key (struct checker *c, const char *dir, const char *rel)
{
  cleanup_free char *p = pj (dir, "key.pem");
  cleanup_free char *pem = NULL;
  size_t len = 0;
  rdind_error_t e = NULL;
  EVP_PKEY *k;
  if (read_file (p, &pem, &len, &e) < 0)
    {
      rdind_error_release (&e);
      return NULL;
    }
  k = kit_parse_key (pem, len, p, &e);
  OPENSSL_cleanse (pem, len);
  if (k == NULL)
    {
      problem (c,
               "%s/key.pem: not an unencrypted PEM private key (corrupt or truncated): delete it "
               "with its cert.pem and run rotkit init",
               rel);
      rdind_error_release (&e);
    }
  return k;
}

static const char *
verify_chain (struct checker *c, X509 *leaf, const char *bundle_path, int purpose)
{
  cleanup_free char *pem = NULL;
  size_t len = 0;
  rdind_error_t e = NULL;
  STACK_OF (X509) *sk = NULL;
  X509_STORE *store = NULL;
  X509_STORE_CTX *ctx = NULL;
  const char *res = NULL;
  static char buf[256];

  if (read_file (bundle_path, &pem, &len, &e) < 0
      || (sk = kit_parse_bundle (pem, len, bundle_path, &e)) == NULL)
    {
      rdind_error_release (&e);
      return "ca.pem missing or unreadable";
    }
  store = X509_STORE_new ();
  ctx = X509_STORE_CTX_new ();
  for (int i = 0; i < sk_X509_num (sk); i++)
    X509_STORE_add_cert (store, sk_X509_value (sk, i));
  X509_STORE_CTX_init (ctx, store, leaf, NULL);
  X509_STORE_CTX_set_purpose (ctx, purpose);
  X509_STORE_CTX_set_time (ctx, 0, c->now);
  if (X509_verify_cert (ctx) != 1)
    {
      snprintf (buf, sizeof (buf), "%s",
                X509_verify_cert_error_string (X509_STORE_CTX_get_error (ctx)));
      res = buf;
    }
  X509_STORE_CTX_free (ctx);
  X509_STORE_free (store);
  sk_X509_pop_free (sk, X509_free);
  ERR_clear_error ();
  return res;
}

static void
ok_line (struct checker *c, const char *rel, X509 *x)
{
  cleanup_free char *cn = kit_cert_cn (x);
  cleanup_free char *na = kit_time_str (kit_cert_not_after (x));
  fprintf (c->out, "ok   %s/cert.pem: CN=%s expires %s%s\n", rel, cn, na,
           c->now >= kit_cert_due (x) ? " (due for renewal: run rotkit renew)" : "");
}

static void
check_leaf (struct checker *c, const char *rel, enum kit_role role, const char *peer, char **dns,
            char **ips, gid_t gid)
{
  cleanup_free char *dir = pj (c->certdir, rel);
  cleanup_free char *bundle = pj (dir, "ca.pem");
  cleanup_x509 X509 *x = NULL;
  cleanup_pkey EVP_PKEY *k = NULL;
  const char *why;
  int before = c->problems;
  bool have_key, have_cert;

  have_key = check_mode (c, dir, rel, "key.pem", gid != (gid_t)-1 ? 0640 : 0600, 0400, gid);
  have_cert = check_mode (c, dir, rel, "cert.pem", 0644, 0444, (gid_t)-1);
  check_mode (c, dir, rel, "ca.pem", 0644, 0444, (gid_t)-1);
  if (!have_cert)
    return;
  x = read_cert (c, dir, rel, "cert.pem");
  if (x == NULL)
    return;
  if (have_key && (k = read_key (c, dir, rel)) != NULL && !kit_cert_matches_key (x, k))
    problem (c, "%s/cert.pem does not match %s/key.pem: delete both and run rotkit init", rel, rel);
  if ((why = verify_chain (c, x, bundle,
                           role == KIT_ROLE_SERVER ? X509_PURPOSE_SSL_SERVER
                                                   : X509_PURPOSE_SSL_CLIENT)))
    problem (c, "%s/cert.pem: does not verify against %s/ca.pem: %s: run rotkit renew", rel, rel,
             why);
  if (!kit_cert_has_role (x, role))
    problem (c, "%s/cert.pem: wrong key usage for a %s certificate: run rotkit renew", rel,
             role == KIT_ROLE_SERVER ? "server" : "client");
  if (role == KIT_ROLE_SERVER)
    {
      for (char **d = dns; d && *d; d++)
        if (X509_check_host (x, *d, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1)
          problem (c, "%s/cert.pem: name %s missing: run rotkit renew", rel, *d);
      for (char **i = ips; i && *i; i++)
        if (X509_check_ip_asc (x, *i, 0) != 1)
          problem (c, "%s/cert.pem: address %s missing: run rotkit renew", rel, *i);
    }
  else
    {
      cleanup_free char *cn = kit_cert_cn (x);
      char *one[2] = { (char *)peer, NULL };
      if (strcmp (cn, peer) != 0 || !kit_cert_names_equal (x, one, NULL))
        problem (c, "%s/cert.pem: subject/name is '%s', want '%s': run rotkit renew", rel, cn,
                 peer);
    }
  ERR_clear_error ();
  if (c->problems == before)
    ok_line (c, rel, x);
}

int
kit_verify (const struct kit_opts *o, FILE *out, rdind_error_t *err)
{
  struct checker c = { .out = out, .now = o->now ? o->now : time (NULL), .certdir = o->certdir };
  cleanup_free char *cadir = pj (o->certdir, "ca");
  cleanup_strv char **peers = NULL;
  cleanup_strv char **dns = xmalloc0 (sizeof (char *));
  cleanup_strv char **ips = xmalloc0 (sizeof (char *));
  gid_t gid = (gid_t)-1;
  struct stat st;
  char host[256] = "";

  if (stat (o->certdir, &st) < 0)
    return rdind_make_error (err, errno, "certdir `%s`", o->certdir);
  if (st.st_mode & S_IWOTH)
    problem (&c, "%s: world-writable: chmod o-w %s", o->certdir, o->certdir);
  if (st.st_uid != geteuid () && st.st_uid != 0)
    problem (&c, "%s: owned by uid %u: chown %u %s", o->certdir, (unsigned)st.st_uid,
             (unsigned)geteuid (), o->certdir);
  if (stat (cadir, &st) < 0)
    problem (&c, "ca/: missing: run rotkit init");
  else
    {
      if ((st.st_mode & 07777) != 0700)
        problem (&c, "ca/: mode %04o, want 0700 (the CA key must stay private): chmod 0700 %s",
                 (unsigned)(st.st_mode & 07777), cadir);
      if (check_mode (&c, cadir, "ca", "key.pem", 0600, 0400, (gid_t)-1)
          && check_mode (&c, cadir, "ca", "cert.pem", 0644, 0400, (gid_t)-1))
        {
          cleanup_x509 X509 *ca = read_cert (&c, cadir, "ca", "cert.pem");
          cleanup_pkey EVP_PKEY *k = read_key (&c, cadir, "ca");
          if (ca && k && !kit_cert_matches_key (ca, k))
            problem (&c, "ca/cert.pem does not match ca/key.pem: restore the pair or delete ca/ "
                         "and run rotkit init");
          if (ca && !kit_cert_has_role (ca, KIT_ROLE_CA))
            problem (&c, "ca/cert.pem: not a CA certificate");
          if (ca && c.now >= kit_cert_not_after (ca))
            problem (&c, "ca/cert.pem: expired: run rotkit renew");
        }
    }

  if (o->client_group && *o->client_group)
    {
      struct group *g = getgrnam (o->client_group);
      if (g == NULL)
        return rdind_make_error (err, 0, "client group '%s' does not exist", o->client_group);
      gid = g->gr_gid;
    }
  strv_append (&dns, "docker");
  strv_append (&dns, "localhost");
  if (gethostname (host, sizeof (host) - 1) == 0 && *host
      && strspn (host, "0123456789.:") != strlen (host))
    strv_append (&dns, host);
  strv_append (&ips, "127.0.0.1");
  strv_append (&ips, "::1");
  for (char **s = o->server_names; s && *s; s++)
    strv_append (is_ip (*s) ? &ips : &dns, *s);
  check_leaf (&c, "server", KIT_ROLE_SERVER, NULL, dns, ips, (gid_t)-1);

  if (o->peers && o->peers[0])
    {
      peers = xmalloc0 (sizeof (char *));
      for (char **p = o->peers; *p; p++)
        strv_append (&peers, *p);
    }
  else if (kit_list_peers (o->certdir, &peers, err) < 0)
    return -1;
  if (peers[0] == NULL)
    problem (&c, "client/: no client certificate: run rotkit init");
  for (size_t i = 0; peers[i]; i++)
    {
      cleanup_free char *rel = NULL;
      if (i == 0)
        rel = xstrdup ("client");
      else
        xasprintf (&rel, "clients/%s", peers[i]);
      check_leaf (&c, rel, KIT_ROLE_CLIENT, peers[i], NULL, NULL, gid);
    }
  return c.problems;
}

static void
show_one (FILE *out, const char *certdir, const char *rel, time_t now)
{
  cleanup_free char *p = pj (certdir, rel);
  cleanup_free char *pem = NULL;
  size_t len = 0;
  rdind_error_t e = NULL;
  cleanup_x509 X509 *x = NULL;
  if (kit_read_opt (p, &pem, &len, &e) < 0 || pem == NULL)
    {
      rdind_error_release (&e);
      return;
    }
  x = kit_parse_cert (pem, len, rel, &e);
  if (x == NULL)
    {
      fprintf (out, "%s\n  error:   not a PEM certificate (corrupt or truncated)\n", rel);
      rdind_error_release (&e);
      return;
    }
  {
    cleanup_free char *cn = kit_cert_cn (x);
    cleanup_free char *names = kit_cert_names (x);
    cleanup_free char *fp = kit_cert_fingerprint (x);
    cleanup_free char *nb = kit_time_str (kit_cert_not_before (x));
    cleanup_free char *na = kit_time_str (kit_cert_not_after (x));
    cleanup_free char *due = kit_time_str (kit_cert_due (x));
    const char *state = now >= kit_cert_not_after (x)   ? "expired"
                        : now < kit_cert_not_before (x) ? "not yet valid"
                        : now >= kit_cert_due (x)       ? "due for renewal"
                                                        : "valid";
    fprintf (out,
             "%s\n  subject: CN=%s\n  names:   %s\n  sha256:  %s\n  valid:   %s .. %s (renew from "
             "%s)\n  state:   %s\n",
             rel, cn, *names ? names : "-", fp, nb, na, due, state);
  }
}

int
kit_show (const char *certdir, time_t now, FILE *out, rdind_error_t *err)
{
  cleanup_strv char **peers = NULL;
  static const char *const fixed[] = { "ca/cert.pem", "ca/next-cert.pem", "ca/prev-cert.pem",
                                       "server/cert.pem", "client/cert.pem" };
  if (access (certdir, F_OK) < 0)
    return rdind_make_error (err, errno, "certdir `%s`", certdir);
  if (now == 0)
    now = time (NULL);
  for (size_t i = 0; i < ARRAY_SIZE (fixed); i++)
    show_one (out, certdir, fixed[i], now);
  if (kit_list_peers (certdir, &peers, err) < 0)
    return -1;
  for (size_t i = 0; peers[i]; i++)
    {
      cleanup_free char *rel = NULL;
      xasprintf (&rel, "clients/%s/cert.pem", peers[i]);
      show_one (out, certdir, rel, now);
    }
  return 0;
}
