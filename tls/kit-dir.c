/* rdind - the certificate kit's directory handling: the certdir must be
 * ours and closed to others before a CA key goes in; files are read only
 * when they are regular, ours and not world-writable; a key/cert pair staged
 * as *.next is rolled forward before anything looks at it.  kit.c decides
 * what to issue; this file only guards and moves files. */
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

char *
kit_path_join (const char *a, const char *b)
{
  char *s;
  xasprintf (&s, "%s/%s", a, b);
  return s;
}

/* ---- directories ----------------------------------------------------------- */

/* The certdir holds the CA key: another account able to write it could swap
 * in its own CA, so it must be ours (or root's), and never world-writable. */
int
kit_check_certdir (const char *dir, rdind_error_t *err)
{
  struct stat st;
  uid_t me = geteuid ();

  if (stat (dir, &st) < 0)
    {
      if (errno != ENOENT)
        return rdind_make_error (err, errno, "certdir `%s`", dir);
      if (mkdir_p (dir, 0755, err) < 0)
        return rdind_error_wrap (
            err, "cannot create certdir `%s` (make its parent writable or choose another certdir)",
            dir);
      if (stat (dir, &st) < 0)
        return rdind_make_error (err, errno, "certdir `%s`", dir);
    }
  if (!S_ISDIR (st.st_mode))
    return rdind_make_error (
        err, 0, "certdir `%s` is not a directory: remove it or choose another certdir", dir);
  if (st.st_uid != me && st.st_uid != 0)
    return rdind_make_error (err, 0,
                             "certdir `%s` is owned by uid %u, not by uid %u that runs rotkit: "
                             "chown %u %s, or choose a certdir of your own",
                             dir, (unsigned)st.st_uid, (unsigned)me, (unsigned)me, dir);
  if (st.st_mode & S_IWOTH)
    return rdind_make_error (err, 0,
                             "certdir `%s` is world-writable (mode %04o): any account could "
                             "replace the CA; run chmod o-w %s",
                             dir, (unsigned)(st.st_mode & 07777), dir);
  if (access (dir, W_OK | X_OK) < 0)
    return rdind_make_error (
        err, 0, "certdir `%s` is not writable by uid %u: chown %u %s, or choose another certdir",
        dir, (unsigned)me, (unsigned)me, dir);
  return 0;
}

/* A directory inside the certdir: created with MODE, must be ours; a CA
 * directory left more open by another tool is tightened. */
int
kit_ensure_subdir (const char *dir, mode_t mode, bool tighten, rdind_error_t *err)
{
  struct stat st;
  if (lstat (dir, &st) < 0)
    {
      if (errno != ENOENT)
        return rdind_make_error (err, errno, "`%s`", dir);
      if (mkdir_p (dir, mode, err) < 0)
        return -1;
      if (chmod (dir, mode) < 0) /* umask */
        return rdind_make_error (err, errno, "chmod `%s`", dir);
      return 0;
    }
  if (!S_ISDIR (st.st_mode))
    return rdind_make_error (err, 0, "`%s` is not a directory: remove it so rotkit can create it",
                             dir);
  if (st.st_uid != geteuid ())
    return rdind_make_error (
        err, 0, "`%s` is owned by uid %u, not by uid %u that runs rotkit: chown -R %u %s", dir,
        (unsigned)st.st_uid, (unsigned)geteuid (), (unsigned)geteuid (), dir);
  if (st.st_mode & S_IWOTH)
    return rdind_make_error (err, 0, "`%s` is world-writable: run chmod o-w %s", dir, dir);
  if (tighten && (st.st_mode & 07777) != mode && chmod (dir, mode) < 0)
    return rdind_make_error (err, errno, "chmod %04o `%s`", (unsigned)mode, dir);
  return 0;
}

/* Removes temporaries of writes that were killed (NAME.tmp.XXXXXX). */
void
kit_remove_stale_temps (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  if (d == NULL)
    return;
  while ((e = readdir (d)) != NULL)
    {
      const char *t = strstr (e->d_name, ".tmp.");
      if (t && strlen (t) == 11 && strstr (e->d_name, ".pem"))
        unlinkat (dirfd (d), e->d_name, 0);
    }
  closedir (d);
}

/* Reads an optional file that must be ours. */
int
kit_read_owned (const char *path, const char *rel, char **out, size_t *len, rdind_error_t *err)
{
  struct stat st;
  *out = NULL;
  if (lstat (path, &st) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return rdind_make_error (err, errno, "%s", rel);
    }
  if (!S_ISREG (st.st_mode))
    return rdind_make_error (err, 0, "%s is not a regular file: remove it to have it re-issued",
                             rel);
  if (st.st_uid != geteuid ())
    return rdind_make_error (
        err, 0, "%s is owned by uid %u, not by uid %u that runs rotkit: chown %u %s, or delete it",
        rel, (unsigned)st.st_uid, (unsigned)geteuid (), (unsigned)geteuid (), path);
  return kit_read_opt (path, out, len, err);
}

/* Loads an optional certificate. */
int
kit_load_cert (const char *dir, const char *name, const char *rel_dir, X509 **out,
               rdind_error_t *err)
{
  cleanup_free char *path = kit_path_join (dir, name);
  cleanup_free char *rel = kit_path_join (rel_dir, name);
  cleanup_free char *pem = NULL;
  size_t len = 0;
  *out = NULL;
  if (kit_read_owned (path, rel, &pem, &len, err) < 0)
    return -1;
  if (pem == NULL)
    return 0;
  *out = kit_parse_cert (pem, len, rel, err);
  if (*out == NULL)
    return rdind_make_error (
        err, 0, "%s: not a PEM certificate (corrupt or truncated): delete it to have it re-issued",
        rel);
  return 0;
}

int
kit_load_key (const char *dir, const char *name, const char *rel_dir, EVP_PKEY **out,
              rdind_error_t *err)
{
  cleanup_free char *path = kit_path_join (dir, name);
  cleanup_free char *rel = kit_path_join (rel_dir, name);
  cleanup_free char *pem = NULL;
  size_t len = 0;
  *out = NULL;
  if (kit_read_owned (path, rel, &pem, &len, err) < 0)
    return -1;
  if (pem == NULL)
    return 0;
  *out = kit_parse_key (pem, len, rel, err);
  OPENSSL_cleanse (pem, len);
  if (*out == NULL)
    return rdind_make_error (err, 0,
                             "%s: not an unencrypted PEM private key (corrupt or truncated): "
                             "delete it and the cert.pem beside it to have a new pair issued",
                             rel);
  return 0;
}

bool
kit_exists (const char *dir, const char *name)
{
  cleanup_free char *p = kit_path_join (dir, name);
  return access (p, F_OK) == 0;
}

int
kit_rename_in (const char *dir, const char *from, const char *to, rdind_error_t *err)
{
  cleanup_free char *a = kit_path_join (dir, from);
  cleanup_free char *b = kit_path_join (dir, to);
  if (rename (a, b) < 0)
    return rdind_make_error (err, errno, "rename `%s` to `%s`", a, b);
  (void)kit_fsync_dir (dir);
  return 0;
}

void
kit_unlink_in (const char *dir, const char *name)
{
  cleanup_free char *p = kit_path_join (dir, name);
  if (unlink (p) == 0)
    (void)kit_fsync_dir (dir);
}

/* Rolls forward a pair staged as KEYNEXT + CERTNEXT (see the top comment):
 *  - both staged: nothing was renamed; leave them (the caller decides);
 *  - only the key staged: the cert was never written; drop the key;
 *  - only the cert staged: the key was renamed already; finish with the
 *    cert when it matches the key now in place. */
int
kit_recover_staged (const char *dir, const char *rel, const char *keynext, const char *certnext,
                    const char *keyname, const char *certname, bool keep_both, rdind_error_t *err)
{
  bool k = kit_exists (dir, keynext), c = kit_exists (dir, certnext);
  if (k && !c)
    {
      kit_unlink_in (dir, keynext);
      return 0;
    }
  if (c && !k)
    {
      cleanup_x509 X509 *cert = NULL;
      cleanup_pkey EVP_PKEY *key = NULL;
      rdind_error_t e = NULL;
      if (kit_load_cert (dir, certnext, rel, &cert, &e) < 0
          || kit_load_key (dir, keyname, rel, &key, &e) < 0 || key == NULL
          || !kit_cert_matches_key (cert, key))
        {
          rdind_error_release (&e);
          kit_unlink_in (dir, certnext);
          return 0;
        }
      log_info ("finishing an interrupted certificate switch", "dir=%s", log_quote (0, rel));
      return kit_rename_in (dir, certnext, certname, err);
    }
  if (k && c && !keep_both)
    {
      /* Both staged and nothing renamed: the run that staged them died
       * before switching; drop them, this run decides afresh. */
      kit_unlink_in (dir, certnext);
      kit_unlink_in (dir, keynext);
    }
  return 0;
}
