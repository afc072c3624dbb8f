/* rdind - the certificate kit ("rotkit"): the DOCKER_TLS_CERTDIR layout,
 * short-lived mutual-TLS material, rotated in place.
 *
 *   CERTDIR/ca/{cert,key}.pem              signing CA (directory 0700; the key
 *                                          never leaves it)
 *   CERTDIR/ca/next-{cert,key}.pem         CA introduced ahead of a rollover
 *   CERTDIR/ca/prev-cert.pem               CA retired by the last rollover,
 *                                          still trusted until it expires
 *   CERTDIR/server/{ca,cert,key}.pem       the endpoint
 *   CERTDIR/client/{ca,cert,key}.pem       the first peer
 *   CERTDIR/clients/PEER/{ca,cert,key}.pem every further peer
 *
 * Every ca.pem bundles the CAs a reader must trust right now (current, next
 * and previous), so a rollover never breaks a client that reread ca.pem at
 * any point of the overlap.  The library is used by the rotkit command and
 * by the sidecar; no OpenSSL type leaks through this header. */
#ifndef RDIND_TLS_KIT_H
#define RDIND_TLS_KIT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "conf.h"
#include "err.h"

struct kit_opts
{
  const char *certdir;
  char **peers;                   /* NULL-terminated; first = client/, others = clients/<peer>/ */
  char **server_names;            /* extra SANs, NULL-terminated, may be NULL */
  uint64_t lifetime, ca_lifetime; /* seconds */
  enum conf_key_type key_type;    /* from conf/conf.h */
  const char *client_group;       /* NULL or "" = none */
  time_t now;                     /* 0 = time(NULL) */
};

/* Fills OUT from CONF; OUT borrows CONF's strings (keep CONF alive).
 * Call conf_resolve_paths() first so certdir is absolute. */
void kit_opts_from_conf (const struct rdind_conf *conf, struct kit_opts *out);

/* Creates what is missing or invalid, renews what is due (incl. CA rollover),
 * reuses the rest.  On success *next_due (if non-NULL) is the earliest time
 * something must be renewed.  Refuses (one-line error naming the file and the
 * fix, nothing overwritten) a corrupt PEM, a certificate that does not match
 * its key, a world-writable, foreign-owned or unwritable certdir. */
int kit_ensure (const struct kit_opts *o, time_t *next_due, rdind_error_t *err);

/* Issues (or reuses, when still valid) a client certificate for PEER into
 * OUT_DIR, or into the peer's directory of the layout when OUT_DIR is NULL.
 * Makes the CA first if there is none. */
int kit_issue_client (const struct kit_opts *o, const char *peer, const char *out_dir,
                      rdind_error_t *err);

/* The peers that have material in CERTDIR: client/'s CN first, then
 * clients/'s directories in name order.  *OUT is NULL-terminated (may be
 * empty); free with strv_free. */
int kit_list_peers (const char *certdir, char ***out, rdind_error_t *err);

/* Checks chain, names, key match, expiry and permissions of the layout for
 * O's peers (all present peers when o->peers is NULL or empty).  Prints one
 * line per problem (and "ok ..." lines) to OUT; returns the number of
 * problems, or a negative value when the check could not run. */
int kit_verify (const struct kit_opts *o, FILE *out, rdind_error_t *err);

/* Prints every certificate of the layout: file, subject, names, SHA-256
 * fingerprint, validity and state at NOW (0 = time(NULL)). */
int kit_show (const char *certdir, time_t now, FILE *out, rdind_error_t *err);

/* Parses a --now value: unix seconds ("1767225600" or "@1767225600"), an
 * ISO-8601 UTC time ("2026-12-01T00:00:00Z", "2026-12-01 00:00:00",
 * "2026-12-01"), or an offset from the real clock ("+3d", "+20d12h"). */
int kit_parse_time (const char *s, time_t *out, rdind_error_t *err);

#endif
