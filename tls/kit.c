/* rdind - the certificate kit: layout, reuse, renewal and CA rollover.
 *
 * One run (kit_ensure) has three phases so bad input never leaves a half
 * updated tree: (1) load and check everything on disk, refusing corrupt or
 * mismatched files and unsafe directories before anything is written;
 * (2) bring the CA up to date (introduce, promote, retire); (3) reissue the
 * leaves that are missing, due or no longer signed by the current CA.
 *
 * Crash safety.  Each file is written to a temporary name, fsynced and
 * renamed (one rename = one atomic switch).  A renewal keeps the key, so only
 * cert.pem changes and a reader sees the old pair or the new pair.  When a
 * key must change too (first issue, key type changed) the new pair is first
 * staged complete as key.pem.next + cert.pem.next, then renamed key first,
 * cert second; a run killed between the two renames is rolled forward by the
 * next run before anything looks at the pair.  The CA uses the same scheme
 * with ca/next-{key,cert}.pem, which double as the "introduced, not yet
 * signing" CA of a rollover.
 *
 * Rollover.  At two thirds of the CA's life a next CA is made and added to
 * every ca.pem (clients rereading ca.pem now trust both); leaves keep being
 * signed by the current CA.  Halfway between that and the current CA's
 * expiry the next CA is promoted: the old one is kept as ca/prev-cert.pem
 * (still in every ca.pem, so client certificates it signed are accepted
 * until they expire) and every leaf is reissued by the new CA. */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "kit-internal.h"
#include "log.h"
#include "util.h"

#define CA_CN_PREFIX "rdind CA"
#define SERVER_CN "rdind server"

struct leaf
{
  char *dir; /* absolute */
  char *rel; /* for messages: "server", "client", "clients/x" */
  enum kit_role role;
  char *cn;
  char **dns, **ips; /* borrowed */
  mode_t key_mode;
  gid_t gid; /* (gid_t) -1: none */
  X509 *cert;
  EVP_PKEY *key;
  char *ca_pem;
  size_t ca_pem_len;
};

struct kit_run
{
  const struct kit_opts *o;
  time_t now;
  gid_t client_gid;
  char *certdir;
  char *cadir;
  int lock_fd;
  X509 *ca, *next, *prev;
  EVP_PKEY *ca_key, *next_key;
  char *bundle;
  size_t bundle_len;
  time_t next_due;
  char **server_dns, **server_ips;
  struct leaf *leaves;
  size_t n_leaves;
};

static void
run_free (struct kit_run *r)
{
  for (size_t i = 0; i < r->n_leaves; i++)
    {
      struct leaf *l = &r->leaves[i];
      free (l->dir);
      free (l->rel);
      free (l->cn);
      X509_free (l->cert);
      EVP_PKEY_free (l->key);
      free (l->ca_pem);
    }
  free (r->leaves);
  free (r->certdir);
  free (r->cadir);
  if (r->lock_fd >= 0)
    close (r->lock_fd); /* releases the flock */
  X509_free (r->ca);
  X509_free (r->next);
  X509_free (r->prev);
  EVP_PKEY_free (r->ca_key);
  EVP_PKEY_free (r->next_key);
  free (r->bundle);
  strv_free (r->server_dns);
  strv_free (r->server_ips);
}

static void
due_min (struct kit_run *r, time_t t)
{
  if (t > r->now && (r->next_due == 0 || t < r->next_due))
    r->next_due = t;
}

/* ---- options --------------------------------------------------------------- */

void
kit_opts_from_conf (const struct rdind_conf *conf, struct kit_opts *out)
{
  memset (out, 0, sizeof (*out));
  out->certdir = conf->certdir;
  out->peers = conf->peers;
  out->server_names = conf->server_names;
  out->lifetime = conf->lifetime;
  out->ca_lifetime = conf->ca_lifetime;
  out->key_type = conf->key_type;
  out->client_group = conf->client_group;
}

static bool
is_ip (const char *s)
{
  unsigned char b[16];
  return inet_pton (AF_INET, s, b) == 1 || inet_pton (AF_INET6, s, b) == 1;
}

static bool
valid_dns_name (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
          || *s == '.' || *s == '-' || *s == '*'))
      return false;
  return true;
}

static int
check_opts (const struct kit_opts *o, rdind_error_t *err)
{
  if (o->certdir == NULL || o->certdir[0] != '/')
    return rdind_make_error (err, 0,
                             "certdir `%s` is not an absolute path: pass --certdir /some/dir",
                             o->certdir ? o->certdir : "");
  if (o->lifetime < 300)
    return rdind_make_error (err, 0, "certificate lifetime must be at least 5m");
  if (o->ca_lifetime < 2 * o->lifetime)
    return rdind_make_error (err, 0, "CA lifetime must be at least twice the certificate lifetime");
  for (char **p = o->peers; p && *p; p++)
    {
      if (!conf_valid_name (*p))
        return rdind_make_error (
            err, 0, "bad peer name '%s': use only letters, digits, '.', '_' and '-' (at most 64)",
            *p);
      for (char **q = o->peers; q < p; q++)
        if (strcmp (*p, *q) == 0)
          return rdind_make_error (err, 0, "peer '%s' is listed twice", *p);
    }
  for (char **s = o->server_names; s && *s; s++)
    if (!is_ip (*s) && !valid_dns_name (*s))
      return rdind_make_error (err, 0, "bad server name '%s': use a DNS name or an IP address", *s);
  return 0;
}

static void
server_names (struct kit_run *r)
{
  char host[256] = "";
  r->server_dns = xmalloc0 (sizeof (char *));
  r->server_ips = xmalloc0 (sizeof (char *));
  strv_append (&r->server_dns, "docker");
  strv_append (&r->server_dns, "localhost");
  if (gethostname (host, sizeof (host) - 1) == 0 && valid_dns_name (host) && !is_ip (host)
      && !strv_contains (r->server_dns, host))
    strv_append (&r->server_dns, host);
  strv_append (&r->server_ips, "127.0.0.1");
  strv_append (&r->server_ips, "::1");
  for (char **s = r->o->server_names; s && *s; s++)
    {
      char ***v = is_ip (*s) ? &r->server_ips : &r->server_dns;
      if (!strv_contains (*v, *s))
        strv_append (v, *s);
    }
}

/* ---- CA -------------------------------------------------------------------- */

static int
new_ca (struct kit_run *r, X509 **cert, EVP_PKEY **key, rdind_error_t *err)
{
  unsigned char rnd[4];
  char cn[64];
  struct kit_profile p = { .role = KIT_ROLE_CA, .now = r->now, .lifetime = r->o->ca_lifetime };
  cleanup_pkey EVP_PKEY *k = kit_key_new (r->o->key_type, err);
  if (k == NULL)
    return -1;
  /* A distinct subject per CA generation: during a rollover two CAs sit in
   * every ca.pem and chain building must never confuse them. */
  if (RAND_bytes (rnd, sizeof (rnd)) != 1)
    return rdind_make_error (err, 0, "random CA name");
  snprintf (cn, sizeof (cn), "%s %02x%02x%02x%02x", CA_CN_PREFIX, rnd[0], rnd[1], rnd[2], rnd[3]);
  p.cn = cn;
  *cert = kit_cert_issue (&p, k, NULL, NULL, err);
  if (*cert == NULL)
    return -1;
  *key = steal_pointer (&k);
  return 0;
}

static int
write_pem_cert (const char *dir, const char *name, X509 *x, rdind_error_t *err)
{
  cleanup_free char *path = kit_path_join (dir, name);
  size_t len;
  cleanup_free char *pem = kit_pem_cert (x, &len);
  return kit_write_atomic (path, pem, len, 0644, (gid_t)-1, err);
}

static int
write_pem_key (const char *dir, const char *name, EVP_PKEY *k, mode_t mode, gid_t gid,
               rdind_error_t *err)
{
  cleanup_free char *path = kit_path_join (dir, name);
  size_t len;
  cleanup_free char *pem = kit_pem_key (k, &len);
  int ret = kit_write_atomic (path, pem, len, mode, gid, err);
  OPENSSL_cleanse (pem, len);
  return ret;
}

/* Phase 1 for the CA: finish an interrupted switch, then load. */
static int
ca_load (struct kit_run *r, rdind_error_t *err)
{
  const char *d = r->cadir;
  if (kit_recover_staged (d, "ca", "next-key.pem", "next-cert.pem", "key.pem", "cert.pem", true,
                          err)
      < 0)
    return -1;
  if (kit_load_cert (d, "cert.pem", "ca", &r->ca, err) < 0
      || kit_load_key (d, "key.pem", "ca", &r->ca_key, err) < 0
      || kit_load_cert (d, "next-cert.pem", "ca", &r->next, err) < 0
      || kit_load_key (d, "next-key.pem", "ca", &r->next_key, err) < 0
      || kit_load_cert (d, "prev-cert.pem", "ca", &r->prev, err) < 0)
    return -1;
  if (r->ca && r->ca_key == NULL)
    return rdind_make_error (
        err, 0,
        "ca/key.pem is missing beside ca/cert.pem in %s: restore the CA key, or delete ca/cert.pem "
        "to start a new CA (clients must then fetch the new ca.pem)",
        r->certdir);
  if (r->ca_key && r->ca == NULL)
    return rdind_make_error (err, 0,
                             "ca/cert.pem is missing beside ca/key.pem in %s: restore it, or "
                             "delete ca/key.pem to start a new CA",
                             r->certdir);
  if (r->ca && !kit_cert_matches_key (r->ca, r->ca_key))
    return rdind_make_error (err, 0,
                             "ca/cert.pem does not match ca/key.pem in %s: restore the matching "
                             "pair, or delete both to start a new CA",
                             r->certdir);
  if (r->ca && !kit_cert_has_role (r->ca, KIT_ROLE_CA))
    return rdind_make_error (err, 0,
                             "ca/cert.pem in %s is not a CA certificate: delete ca/cert.pem and "
                             "ca/key.pem to start a new CA",
                             r->certdir);
  if (r->next
      && (!kit_cert_matches_key (r->next, r->next_key)
          || !kit_cert_has_role (r->next, KIT_ROLE_CA)))
    return rdind_make_error (
        err, 0,
        "ca/next-cert.pem and ca/next-key.pem in %s are not a matching CA pair: delete both",
        r->certdir);
  return 0;
}

static time_t
promote_at (X509 *cur, X509 *next)
{
  /* Halfway to the current CA's expiry, but no later than a sixth into the
   * next CA's own life: an old long-lived CA (docker:dind's 825 days) must
   * not keep a 30-day successor waiting until it expires. */
  time_t intro = kit_cert_issued (next), end = kit_cert_not_after (cur);
  time_t half = end <= intro ? intro : intro + (end - intro) / 2;
  time_t sixth = intro + (kit_cert_not_after (next) - intro) / 6;
  return half < sixth ? half : sixth;
}

static void
log_cert (const char *what, const char *rel, X509 *x, const char *reason)
{
  cleanup_free char *cn = kit_cert_cn (x);
  cleanup_free char *na = kit_time_str (kit_cert_not_after (x));
  cleanup_free char *fp = kit_cert_fingerprint (x);
  log_info (what, "file=%s subject=%s not_after=%s sha256=%.23s%s%s", log_quote (0, rel),
            log_quote (1, cn), na, fp, reason ? " reason=" : "",
            reason ? log_quote (2, reason) : "");
}

/* Introduces a next CA: staged pair, then in every ca.pem (phase 3). */
static int
ca_introduce (struct kit_run *r, const char *reason, rdind_error_t *err)
{
  if (new_ca (r, &r->next, &r->next_key, err) < 0)
    return -1;
  if (write_pem_key (r->cadir, "next-key.pem", r->next_key, 0600, (gid_t)-1, err) < 0
      || write_pem_cert (r->cadir, "next-cert.pem", r->next, err) < 0)
    return -1;
  if (r->ca)
    log_cert ("CA introduced for rollover", "ca/next-cert.pem", r->next, reason);
  return 0;
}

/* Switches signing to the next CA; the current one becomes prev. */
static int
ca_promote (struct kit_run *r, rdind_error_t *err)
{
  if (r->ca && write_pem_cert (r->cadir, "prev-cert.pem", r->ca, err) < 0)
    return -1;
  if (kit_rename_in (r->cadir, "next-key.pem", "key.pem", err) < 0
      || kit_rename_in (r->cadir, "next-cert.pem", "cert.pem", err) < 0)
    return -1;
  if (r->ca)
    {
      X509_free (r->prev);
      r->prev = steal_pointer (&r->ca);
    }
  EVP_PKEY_free (r->ca_key);
  r->ca = steal_pointer (&r->next);
  r->ca_key = steal_pointer (&r->next_key);
  log_cert (r->prev ? "CA rolled over" : "CA issued", "ca/cert.pem", r->ca, NULL);
  return 0;
}

static int
ca_update (struct kit_run *r, rdind_error_t *err)
{
  if (r->next && r->now < kit_cert_not_before (r->next))
    {
      /* A next CA made "in the future" (the clock moved back) would sign
       * leaves nobody can verify yet: drop it and introduce one again. */
      kit_unlink_in (r->cadir, "next-cert.pem");
      kit_unlink_in (r->cadir, "next-key.pem");
      X509_free (r->next);
      EVP_PKEY_free (r->next_key);
      r->next = NULL;
      r->next_key = NULL;
    }
  if (r->ca == NULL)
    {
      /* First CA: staged and switched like a rollover with no old CA. */
      if (r->next == NULL && ca_introduce (r, "new", err) < 0)
        return -1;
      if (ca_promote (r, err) < 0)
        return -1;
    }
  else if (r->now >= kit_cert_not_after (r->ca) || r->now < kit_cert_not_before (r->ca))
    {
      /* Expired (or from the future: the clock moved back): nobody can use
       * it now, so there is no overlap to respect; switch at once. */
      if (r->next == NULL && ca_introduce (r, "CA unusable now", err) < 0)
        return -1;
      log_warn ("CA unusable at this time: switching to a new CA at once; clients must fetch the "
                "new ca.pem",
                "certdir=%s", log_quote (0, r->certdir));
      if (ca_promote (r, err) < 0)
        return -1;
    }
  else if (r->next && r->now >= promote_at (r->ca, r->next))
    {
      if (ca_promote (r, err) < 0)
        return -1;
    }
  else if (r->next == NULL
           && (r->now >= kit_cert_due (r->ca) || !kit_key_is_type (r->ca_key, r->o->key_type)))
    {
      if (ca_introduce (r, r->now >= kit_cert_due (r->ca) ? "due" : "key type changed", err) < 0)
        return -1;
    }
  else
    log_cert ("CA reused", "ca/cert.pem", r->ca, NULL);

  if (r->prev && (r->now >= kit_cert_not_after (r->prev) || kit_cert_same (r->prev, r->ca)))
    {
      if (!kit_cert_same (r->prev, r->ca))
        log_cert ("previous CA expired, removed from ca.pem", "ca/prev-cert.pem", r->prev, NULL);
      kit_unlink_in (r->cadir, "prev-cert.pem");
      X509_free (r->prev);
      r->prev = NULL;
    }

  if (r->next)
    due_min (r, promote_at (r->ca, r->next));
  else
    due_min (r, kit_cert_due (r->ca));
  if (r->prev)
    due_min (r, kit_cert_not_after (r->prev));
  due_min (r, kit_cert_not_after (r->ca));

  /* The trust bundle: what signs now, what will sign next, what signed the
   * certificates still in the field. */
  {
    X509 *all[3] = { r->ca, r->next, r->prev };
    cleanup_bio BIO *b = BIO_new (BIO_s_mem ());
    char *data = NULL;
    long n;
    for (size_t i = 0; i < 3; i++)
      if (all[i])
        PEM_write_bio_X509 (b, all[i]);
    n = BIO_get_mem_data (b, &data);
    r->bundle = xstrndup (data, (size_t)n);
    r->bundle_len = (size_t)n;
  }
  return 0;
}

/* ---- leaves ---------------------------------------------------------------- */

static struct leaf *
add_leaf (struct kit_run *r, const char *rel, enum kit_role role, const char *cn)
{
  struct leaf *l;
  r->leaves = xrealloc (r->leaves, (r->n_leaves + 1) * sizeof (*r->leaves));
  l = &r->leaves[r->n_leaves++];
  memset (l, 0, sizeof (*l));
  l->rel = xstrdup (rel);
  l->dir = kit_path_join (r->certdir, rel);
  l->role = role;
  l->cn = xstrdup (cn);
  l->gid = (gid_t)-1;
  l->key_mode = 0600;
  if (role == KIT_ROLE_SERVER)
    {
      l->dns = r->server_dns;
      l->ips = r->server_ips;
    }
  else if (r->client_gid != (gid_t)-1)
    {
      l->gid = r->client_gid;
      l->key_mode = 0640;
    }
  return l;
}

/* Phase 1 for a leaf: refuse what we must not overwrite. */
static int
leaf_load (struct kit_run *r, struct leaf *l, rdind_error_t *err)
{
  if (kit_ensure_subdir (l->dir, 0755, false, err) < 0)
    return -1;
  kit_remove_stale_temps (l->dir);
  if (kit_recover_staged (l->dir, l->rel, "key.pem.next", "cert.pem.next", "key.pem", "cert.pem",
                          false, err)
      < 0)
    return -1;
  if (kit_load_key (l->dir, "key.pem", l->rel, &l->key, err) < 0
      || kit_load_cert (l->dir, "cert.pem", l->rel, &l->cert, err) < 0)
    return -1;
  {
    cleanup_free char *p = kit_path_join (l->dir, "ca.pem");
    cleanup_free char *rel = kit_path_join (l->rel, "ca.pem");
    if (kit_read_owned (p, rel, &l->ca_pem, &l->ca_pem_len, err) < 0)
      return -1;
  }
  if (l->key && l->cert && !kit_cert_matches_key (l->cert, l->key))
    return rdind_make_error (
        err, 0, "%s/cert.pem does not match %s/key.pem: delete both to have a new pair issued",
        l->rel, l->rel);
  if (l->cert && !l->key)
    {
      /* A certificate without its key is useless to everyone. */
      X509_free (l->cert);
      l->cert = NULL;
    }
  return 0;
}

/* Brings a file's mode (and group) to what it must be without rewriting it. */
static int
fix_mode (const char *dir, const char *name, mode_t mode, gid_t gid, rdind_error_t *err)
{
  cleanup_free char *p = kit_path_join (dir, name);
  struct stat st;
  if (stat (p, &st) < 0)
    return rdind_make_error (err, errno, "stat `%s`", p);
  if (gid != (gid_t)-1 && st.st_gid != gid && chown (p, (uid_t)-1, gid) < 0)
    return rdind_make_error (err, errno, "give `%s` to group %u (is this account a member of it?)",
                             p, (unsigned)gid);
  if ((st.st_mode & 07777) != mode || gid != (gid_t)-1)
    if (chmod (p, mode) < 0)
      return rdind_make_error (err, errno, "chmod %04o `%s`", (unsigned)mode, p);
  return 0;
}

static const char *
leaf_reason (struct kit_run *r, struct leaf *l)
{
  cleanup_free char *cn = NULL;
  char *one[2] = { l->cn, NULL };
  if (l->cert == NULL)
    return "missing";
  if (!kit_key_is_type (l->key, r->o->key_type))
    return "key type changed";
  if (!kit_cert_signed_by (l->cert, r->ca))
    return "not signed by the current CA";
  if (!kit_cert_has_role (l->cert, l->role))
    return "wrong key usage";
  cn = kit_cert_cn (l->cert);
  if (strcmp (cn, l->cn) != 0)
    return "subject changed";
  if (!kit_cert_names_equal (l->cert, l->role == KIT_ROLE_SERVER ? l->dns : one, l->ips))
    return "names changed";
  if (r->now >= kit_cert_not_after (l->cert))
    return "expired";
  if (r->now >= kit_cert_due (l->cert))
    return "due";
  if (r->now < kit_cert_not_before (l->cert))
    return "not yet valid (clock moved back)";
  return NULL;
}

/* Phase 3 for a leaf. */
static int
leaf_update (struct kit_run *r, struct leaf *l, rdind_error_t *err)
{
  const char *reason = leaf_reason (r, l);
  bool had = l->cert != NULL;
  bool new_key = l->key == NULL || !kit_key_is_type (l->key, r->o->key_type);

  /* ca.pem first: it always contains the CA that signs the certificate
   * about to be written, so a client never holds a cert its ca.pem lacks. */
  if (l->ca_pem == NULL || l->ca_pem_len != r->bundle_len
      || memcmp (l->ca_pem, r->bundle, r->bundle_len) != 0)
    {
      cleanup_free char *p = kit_path_join (l->dir, "ca.pem");
      if (kit_write_atomic (p, r->bundle, r->bundle_len, 0644, (gid_t)-1, err) < 0)
        return -1;
    }
  else if (fix_mode (l->dir, "ca.pem", 0644, (gid_t)-1, err) < 0)
    return -1;

  if (reason)
    {
      char *one[2] = { l->cn, NULL };
      struct kit_profile p = { .role = l->role,
                               .cn = l->cn,
                               .dns = l->role == KIT_ROLE_SERVER ? l->dns : one,
                               .ips = l->ips,
                               .now = r->now,
                               .lifetime = r->o->lifetime,
                               .max_not_after = kit_cert_not_after (r->ca) };
      cleanup_pkey EVP_PKEY *key = NULL;
      cleanup_x509 X509 *cert = NULL;
      if (new_key)
        {
          key = kit_key_new (r->o->key_type, err);
          if (key == NULL)
            return -1;
        }
      cert = kit_cert_issue (&p, new_key ? key : l->key, r->ca, r->ca_key, err);
      if (cert == NULL)
        return -1;
      if (new_key)
        {
          /* Stage the complete pair, then switch key and cert; see the top
           * comment for how an interrupted switch is finished. */
          if (write_pem_key (l->dir, "key.pem.next", key, l->key_mode, l->gid, err) < 0
              || write_pem_cert (l->dir, "cert.pem.next", cert, err) < 0
              || kit_rename_in (l->dir, "key.pem.next", "key.pem", err) < 0
              || kit_rename_in (l->dir, "cert.pem.next", "cert.pem", err) < 0)
            return -1;
          EVP_PKEY_free (l->key);
          l->key = steal_pointer (&key);
        }
      else if (write_pem_cert (l->dir, "cert.pem", cert, err) < 0)
        return -1;
      X509_free (l->cert);
      l->cert = steal_pointer (&cert);
      {
        cleanup_free char *rel = kit_path_join (l->rel, "cert.pem");
        log_cert (had ? "certificate renewed" : "certificate issued", rel, l->cert, reason);
      }
    }
  else
    {
      cleanup_free char *rel = kit_path_join (l->rel, "cert.pem");
      log_cert ("certificate reused", rel, l->cert, NULL);
    }
  if (!new_key || !reason)
    if (fix_mode (l->dir, "key.pem", l->key_mode, l->gid, err) < 0)
      return -1;
  if (fix_mode (l->dir, "cert.pem", 0644, (gid_t)-1, err) < 0)
    return -1;
  due_min (r, kit_cert_due (l->cert));
  return 0;
}

/* ---- runs ------------------------------------------------------------------ */

static int
run_open (struct kit_run *r, const struct kit_opts *o, rdind_error_t *err)
{
  memset (r, 0, sizeof (*r));
  r->lock_fd = -1;
  r->o = o;
  r->now = o->now ? o->now : time (NULL);
  r->client_gid = (gid_t)-1;
  if (check_opts (o, err) < 0)
    return -1;
  if (o->client_group && *o->client_group)
    {
      struct group *g = getgrnam (o->client_group);
      if (g == NULL)
        return rdind_make_error (
            err, 0, "client group '%s' does not exist: create it, or leave client_group empty",
            o->client_group);
      r->client_gid = g->gr_gid;
    }
  r->certdir = xstrdup (o->certdir);
  while (strlen (r->certdir) > 1 && r->certdir[strlen (r->certdir) - 1] == '/')
    r->certdir[strlen (r->certdir) - 1] = '\0';
  r->cadir = kit_path_join (r->certdir, "ca");
  server_names (r);
  if (kit_check_certdir (r->certdir, err) < 0)
    return -1;
  /* ca/ is 0700: the CA key never leaves it, and docker:dind's image leaves
   * it 0755, so an existing one is tightened. */
  if (kit_ensure_subdir (r->cadir, 0700, true, err) < 0)
    return -1;
  {
    cleanup_free char *lock = kit_path_join (r->cadir, ".lock");
    /* One writer at a time (the sidecar's timer and a manual rotkit run). */
    r->lock_fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (r->lock_fd < 0)
      return rdind_make_error (err, errno, "open lock `%s`", lock);
    if (flock (r->lock_fd, LOCK_EX) < 0)
      return rdind_make_error (err, errno, "lock `%s`", lock);
  }
  kit_remove_stale_temps (r->cadir);
  return ca_load (r, err);
}

static int
add_peer_leaves (struct kit_run *r, char **peers)
{
  for (size_t i = 0; peers && peers[i]; i++)
    {
      cleanup_free char *rel = NULL;
      if (i == 0)
        rel = xstrdup ("client");
      else
        xasprintf (&rel, "clients/%s", peers[i]);
      add_leaf (r, rel, KIT_ROLE_CLIENT, peers[i]);
    }
  return 0;
}

/* Peers issued with `rotkit issue` but not configured here still get the
 * current trust bundle, so a CA rollover does not strand them; their
 * certificates are renewed by `rotkit renew`, not by the sidecar. */
static void
refresh_other_bundles (struct kit_run *r)
{
  cleanup_free char *cs = kit_path_join (r->certdir, "clients");
  DIR *d = opendir (cs);
  struct dirent *e;
  if (d == NULL)
    return;
  while ((e = readdir (d)) != NULL)
    {
      cleanup_free char *dir = NULL, *rel = NULL, *pem = NULL, *p = NULL;
      rdind_error_t err = NULL;
      size_t len = 0;
      bool known = false;
      if (!conf_valid_name (e->d_name))
        continue;
      xasprintf (&rel, "clients/%s", e->d_name);
      for (size_t i = 0; i < r->n_leaves; i++)
        known = known || strcmp (r->leaves[i].rel, rel) == 0;
      dir = kit_path_join (r->certdir, rel);
      p = kit_path_join (dir, "ca.pem");
      if (known || kit_read_owned (p, rel, &pem, &len, &err) < 0 || pem == NULL)
        {
          rdind_error_release (&err);
          continue;
        }
      if (len == r->bundle_len && memcmp (pem, r->bundle, len) == 0)
        continue;
      if (kit_write_atomic (p, r->bundle, r->bundle_len, 0644, (gid_t)-1, &err) < 0)
        {
          cleanup_free char *m = rdind_error_string (err);
          log_warn ("cannot refresh a trust bundle", "file=%s error=%s", log_quote (0, p),
                    log_quote (1, m));
          rdind_error_release (&err);
        }
      else
        log_info ("trust bundle refreshed", "file=%s/ca.pem", log_quote (0, rel));
    }
  closedir (d);
}

int
kit_ensure (const struct kit_opts *o, time_t *next_due, rdind_error_t *err)
{
  struct kit_run r;
  int ret = -1;

  if (run_open (&r, o, err) < 0)
    goto out;
  add_leaf (&r, "server", KIT_ROLE_SERVER, SERVER_CN);
  add_peer_leaves (&r, o->peers);
  for (size_t i = 0; i < r.n_leaves; i++)
    if (leaf_load (&r, &r.leaves[i], err) < 0)
      goto out;
  if (ca_update (&r, err) < 0)
    goto out;
  for (size_t i = 0; i < r.n_leaves; i++)
    if (leaf_update (&r, &r.leaves[i], err) < 0)
      goto out;
  refresh_other_bundles (&r);
  if (next_due)
    *next_due = r.next_due;
  ret = 0;
out:
  run_free (&r);
  if (ret < 0)
    rdind_error_wrap (err, "certdir %s", o->certdir ? o->certdir : "");
  return ret;
}

int
kit_issue_client (const struct kit_opts *o, const char *peer, const char *out_dir,
                  rdind_error_t *err)
{
  struct kit_run r;
  struct leaf *l;
  int ret = -1;

  if (!conf_valid_name (peer))
    return rdind_make_error (
        err, 0, "bad peer name '%s': use only letters, digits, '.', '_' and '-' (at most 64)",
        peer);
  if (run_open (&r, o, err) < 0)
    goto out;
  if (out_dir)
    {
      if (out_dir[0] != '/')
        {
          rdind_make_error (err, 0, "--out `%s` is not an absolute path", out_dir);
          goto out;
        }
      l = add_leaf (&r, "", KIT_ROLE_CLIENT, peer);
      free (l->dir);
      free (l->rel);
      l->dir = xstrdup (out_dir);
      l->rel = xstrdup (out_dir);
      if (mkdir_p (out_dir, 0755, err) < 0)
        goto out;
    }
  else
    {
      cleanup_free char *rel = NULL;
      cleanup_x509 X509 *first = NULL;
      cleanup_free char *cdir = kit_path_join (r.certdir, "client");
      rdind_error_t e = NULL;
      cleanup_free char *cn = NULL;
      /* The first peer lives in client/; any other in clients/<peer>/. */
      if (kit_load_cert (cdir, "cert.pem", "client", &first, &e) < 0)
        rdind_error_release (&e);
      if (first)
        cn = kit_cert_cn (first);
      if (first == NULL || strcmp (cn, peer) == 0)
        rel = xstrdup ("client");
      else
        xasprintf (&rel, "clients/%s", peer);
      l = add_leaf (&r, rel, KIT_ROLE_CLIENT, peer);
    }
  if (leaf_load (&r, l, err) < 0 || ca_update (&r, err) < 0 || leaf_update (&r, l, err) < 0)
    goto out;
  ret = 0;
out:
  run_free (&r);
  return ret;
}

int
kit_list_peers (const char *certdir, char ***out, rdind_error_t *err)
{
  cleanup_strv char **v = xmalloc0 (sizeof (char *));
  cleanup_free char *cdir = kit_path_join (certdir, "client");
  cleanup_free char *csdir = kit_path_join (certdir, "clients");
  cleanup_x509 X509 *first = NULL;
  struct dirent **names = NULL;
  int n;
  rdind_error_t e = NULL;

  if (kit_load_cert (cdir, "cert.pem", "client", &first, &e) < 0)
    rdind_error_release (&e);
  if (first)
    {
      cleanup_free char *cn = kit_cert_cn (first);
      if (conf_valid_name (cn))
        strv_append (&v, cn);
    }
  n = scandir (csdir, &names, NULL, alphasort);
  for (int i = 0; i < n; i++)
    {
      cleanup_free char *d = kit_path_join (csdir, names[i]->d_name);
      if (conf_valid_name (names[i]->d_name) && kit_exists (d, "cert.pem")
          && !strv_contains (v, names[i]->d_name))
        strv_append (&v, names[i]->d_name);
      free (names[i]);
    }
  free (names);
  *out = steal_pointer (&v);
  (void)err;
  return 0;
}
