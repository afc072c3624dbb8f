/* rdind - rotkit internals shared by tls/kit*.c and the unit tests: X.509
 * issuance and inspection (kit-x509.c) and the atomic file helpers
 * (kit-io.c).  Not for the sidecar: it uses kit.h. */
#ifndef RDIND_TLS_KIT_INTERNAL_H
#define RDIND_TLS_KIT_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kit.h"

static inline void
kit_x509_freep (X509 **p)
{
  X509_free (*p);
}
static inline void
kit_pkey_freep (EVP_PKEY **p)
{
  EVP_PKEY_free (*p);
}
static inline void
kit_bio_freep (BIO **p)
{
  BIO_free (*p);
}
static inline void
kit_x509_stack_freep (STACK_OF (X509) * *p)
{
  sk_X509_pop_free (*p, X509_free);
}
#define cleanup_x509 __attribute__ ((cleanup (kit_x509_freep)))
#define cleanup_pkey __attribute__ ((cleanup (kit_pkey_freep)))
#define cleanup_bio __attribute__ ((cleanup (kit_bio_freep)))
#define cleanup_x509_stack __attribute__ ((cleanup (kit_x509_stack_freep)))

/* notBefore is set this far in the past: a peer whose clock runs a few
 * minutes behind must not see a certificate "not yet valid". */
#define KIT_BACKDATE 300

enum kit_role
{
  KIT_ROLE_CA,
  KIT_ROLE_SERVER,
  KIT_ROLE_CLIENT,
};

struct kit_profile
{
  enum kit_role role;
  const char *cn;
  char **dns; /* DNS SANs, NULL-terminated, may be NULL */
  char **ips; /* IP SANs (text), NULL-terminated, may be NULL */
  time_t now;
  uint64_t lifetime;    /* seconds */
  time_t max_not_after; /* 0 = none; a leaf never outlives its CA */
};

/* ---- kit-x509.c ---------------------------------------------------------- */
EVP_PKEY *kit_key_new (enum conf_key_type t, rdind_error_t *err);
bool kit_key_is_type (EVP_PKEY *k, enum conf_key_type t);
const char *kit_key_describe (EVP_PKEY *k); /* "ecdsa-p256", "rsa2048", ... or "other" */
/* Issues a certificate for KEY; self-signed when CA is NULL. */
X509 *kit_cert_issue (const struct kit_profile *p, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key,
                      rdind_error_t *err);

/* PEM encodings (heap, NUL terminated). */
char *kit_pem_cert (X509 *x, size_t *len);
char *kit_pem_key (EVP_PKEY *k, size_t *len);
/* Parses exactly one certificate / key; WHAT names the file in errors. */
X509 *kit_parse_cert (const char *pem, size_t len, const char *what, rdind_error_t *err);
EVP_PKEY *kit_parse_key (const char *pem, size_t len, const char *what, rdind_error_t *err);
/* Parses one or more certificates (a ca.pem bundle). */
STACK_OF (X509)
*kit_parse_bundle (const char *pem, size_t len, const char *what, rdind_error_t *err);

time_t kit_cert_not_before (X509 *x);
time_t kit_cert_not_after (X509 *x);
/* When it was really issued (notBefore without the backdating). */
time_t kit_cert_issued (X509 *x);
/* Two thirds into its life: when a renewal is due. */
time_t kit_cert_due (X509 *x);
bool kit_cert_matches_key (X509 *x, EVP_PKEY *k);
/* True when CA's key signed X and CA's subject is X's issuer. */
bool kit_cert_signed_by (X509 *x, X509 *ca);
bool kit_cert_same (X509 *a, X509 *b);
bool kit_cert_has_role (X509 *x, enum kit_role r);
/* The SAN set equals exactly DNS plus IPS (any order). */
bool kit_cert_names_equal (X509 *x, char **dns, char **ips);
char *kit_cert_cn (X509 *x);          /* heap; "" when none */
char *kit_cert_names (X509 *x);       /* "DNS:a,IP:1.2.3.4" heap */
char *kit_cert_fingerprint (X509 *x); /* "AB:CD:..." SHA-256, heap */
char *kit_time_str (time_t t);        /* "2026-11-22T18:00:00Z", heap */

/* ---- kit-io.c ------------------------------------------------------------ */
/* write_file_atomic() plus an optional group (GID != -1): the group is set
 * before the rename so the file never appears with the wrong owner. */
int kit_write_atomic (const char *path, const void *data, size_t len, mode_t mode, gid_t gid,
                      rdind_error_t *err);
/* Reads PATH; returns 0 with *out NULL when it does not exist. */
int kit_read_opt (const char *path, char **out, size_t *len, rdind_error_t *err);
int kit_fsync_dir (const char *dir);

/* kit-dir.c: the certdir on disk (ownership and mode checks, staged pairs,
 * loading PEM files that must be ours). */
char *kit_path_join (const char *a, const char *b); /* "A/B", allocated */
int kit_check_certdir (const char *dir, rdind_error_t *err);
int kit_ensure_subdir (const char *dir, mode_t mode, bool tighten, rdind_error_t *err);
void kit_remove_stale_temps (const char *dir);
int kit_read_owned (const char *path, const char *rel, char **out, size_t *len, rdind_error_t *err);
int kit_load_cert (const char *dir, const char *name, const char *rel_dir, X509 **out,
                   rdind_error_t *err);
int kit_load_key (const char *dir, const char *name, const char *rel_dir, EVP_PKEY **out,
                  rdind_error_t *err);
bool kit_exists (const char *dir, const char *name);
int kit_rename_in (const char *dir, const char *from, const char *to, rdind_error_t *err);
void kit_unlink_in (const char *dir, const char *name);
int kit_recover_staged (const char *dir, const char *rel, const char *keynext, const char *certnext,
                        const char *keyname, const char *certname, bool keep_both,
                        rdind_error_t *err);

#endif
