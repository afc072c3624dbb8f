/* rdind - configuration: INI file (inih) + embedded defaults + environment.
 *
 * Precedence, highest first: RDIND_<SECTION>_<KEY> variables, the docker:dind
 * compatible DOCKER_TLS_CERTDIR (for tls.certdir only), the INI file, the
 * embedded default.  A struct rdind_conf is owned by the caller of
 * conf_load() and released with conf_free().
 */
#ifndef RDIND_CONF_H
#define RDIND_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include <stdio.h>

#include "err.h"

enum conf_restart
{
  CONF_RESTART_ON_FAILURE = 0,
  CONF_RESTART_NEVER,
  CONF_RESTART_ALWAYS,
};

enum conf_key_type
{
  CONF_KEY_ECDSA_P256 = 0,
  CONF_KEY_RSA2048,
  CONF_KEY_RSA3072,
  CONF_KEY_RSA4096,
};

/* [policy] (and [policy.PEER]): what the TLS front lets through to dockerd
 * (sidecar/policy.c).  "yes"/"no" strings are read with conf_yes(). */
struct conf_policy
{
  char *enabled;               /* yes | no: with no, the front inspects nothing */
  char **allow_binds;          /* absolute host paths a bind may use (and below them) */
  char **allow_images;         /* image references; a trailing '*' matches any rest */
  char *allow_privileged;      /* yes | no */
  char *allow_host_namespaces; /* network/pid/ipc/uts/userns/cgroupns = host */
  char *allow_devices;         /* Devices, DeviceRequests, DeviceCgroupRules */
  char **deny_caps;            /* CapAdd entries refused (ALL, SYS_ADMIN...) */
  uint64_t max_body;           /* bytes of a request body the front reads */
};

/* A peer's own policy: [policy] with that peer's [policy.PEER] keys on top. */
struct conf_peer_policy
{
  char *peer;
  struct conf_policy policy;
};

struct rdind_conf
{
  /* [sidecar] */
  char *listen;             /* "host:port" / "[v6]:port", validated */
  char **peers;             /* NULL-terminated; at least one */
  char **allow_from;        /* NULL-terminated CIDRs/addresses/host names, may be empty */
  char *user;               /* account to drop to when started as root */
  uint64_t stop_timeout;    /* seconds */
  enum conf_restart restart;
  char *status_listen;      /* "" = off, else "host:port" (plain HTTP) */
  uint64_t handshake_timeout; /* seconds */
  uint64_t max_connections;
  char *log_level;          /* debug, info, warn, error */

  /* [tls] */
  char *certdir;            /* "" = auto: /certs (root), $XDG_STATE_HOME/rdind/certs */
  uint64_t lifetime;        /* seconds, leaf certificates */
  uint64_t ca_lifetime;     /* seconds */
  enum conf_key_type key_type;
  char **server_names;      /* extra SANs (DNS names or IP literals) */
  char *client_group;       /* "" = none; else client keys are 0640 for this group */

  /* [launcher] */
  char *data_root;          /* "" = auto: $XDG_DATA_HOME/rdind/docker */
  char *state_dir;          /* "" = auto: $XDG_RUNTIME_DIR/rdind or /tmp/rdind-UID */
  char *storage_driver;     /* auto, overlay2, fuse-overlayfs, vfs */
  char *net;                /* slirp4netns | pasta */
  char *port_driver;        /* native | slirp4netns */
  char *pull_path;          /* direct | slirp: dockerd's registry traffic */
  uint64_t mtu;
  char *cidr;               /* slirp4netns network, default 10.0.2.0/24 */
  char *dockerd;            /* path or name of dockerd */
  char **dockerd_args;      /* extra arguments, split on white space */
  char *slirp4netns;        /* path or name of slirp4netns */
  char *pasta;              /* path or name of pasta (net = pasta) */
  char **namespaces;        /* pid (always), uts, ipc, cgroup */

  /* [policy] for every peer; [policy.PEER] sections give peers their own */
  /* [cache] */
  char *cache_dir;             /* "" = off; else slots dir/slot-N are data roots */
  uint64_t cache_slots;
  uint64_t cache_max_size;     /* bytes; 0 = no cap */
  char *cache_drop_tags;       /* yes | no */
  char *cache_registry_mirror; /* "" or URL */
  char **cache_insecure_registries;

  struct conf_policy policy;
  struct conf_peer_policy *peer_policies;
  size_t n_peer_policies;
};

/* The policy that applies to PEER (its own, else [policy]). */
const struct conf_policy *conf_policy_for (const struct rdind_conf *conf, const char *peer);
/* "yes" -> true; anything else (the parser admits only yes/no) -> false. */
bool conf_yes (const char *s);

/* Where the file came from: --config (explicit), $RDIND_CONFIG, XDG, /etc.
 * EXPLICIT_PATH may be NULL.  An explicit or $RDIND_CONFIG file that does not
 * exist is an error; the XDG and /etc locations are optional. */
int conf_load (const char *explicit_path, struct rdind_conf **out, rdind_error_t *err);
/* Parses only the given file (no search, no environment) - for tests. */
int conf_load_file (const char *path, struct rdind_conf **out, rdind_error_t *err);
/* Applies the environment on top of an already loaded configuration. */
int conf_apply_env (struct rdind_conf *conf, char **envp, rdind_error_t *err);
void conf_free (struct rdind_conf *conf);

/* The file actually read, or NULL when the defaults alone are in force. */
const char *conf_source_file (const struct rdind_conf *conf);

/* Loads CUR's source again for a reload (SIGHUP): its file (or none), then
 * the environment, exactly as conf_load() did, and resolves the "auto"
 * paths.  A path that was auto in CUR too keeps CUR's result: the
 * environment it was resolved in (root's, before the privilege drop) is
 * gone.  *OUT is the caller's, released with conf_free(). */
int conf_reload (const struct rdind_conf *cur, struct rdind_conf **out, rdind_error_t *err);
/* The keys whose effective values differ between A and B, as "section.key"
 * in table order; NULL-terminated, empty when none (free with strv_free). */
char **conf_diff (const struct rdind_conf *a, const struct rdind_conf *b);
/* Sets KEY ("section.key") of DST to SRC's value and origin, e.g. to keep a
 * setting that cannot change while running.  < 0 for an unknown key. */
int conf_copy_key (struct rdind_conf *dst, const struct rdind_conf *src, const char *key);

/* Prints "section.key = value  # origin" lines (rdind config). */
void conf_print (const struct rdind_conf *conf, FILE *out);

/* Resolves the "auto" paths (certdir, data_root, state_dir) for the current
 * user; call after any privilege drop.  Results are absolute. */
void conf_resolve_paths (struct rdind_conf *conf);
/* Sets [SECTION] KEY to VALUE (checked as the file's would be), shown with
 * ORIGIN by `rdind config` and in the launcher's copy. */
int conf_override (struct rdind_conf *conf, const char *section, const char *key, const char *value,
                   const char *origin, rdind_error_t *err);
/* True when this process looks like it runs in a container. */
bool conf_in_container (void);
/* [sidecar] listen's default: 0.0.0.0:2376 in a container, else
 * 127.0.0.1:2376. */
const char *conf_default_listen (bool in_container);

/* Pure validators, exported for unit tests and for rotkit's flags. */
int conf_parse_duration (const char *s, uint64_t *out_seconds, rdind_error_t *err);
int conf_parse_hostport (const char *s, char **host, uint16_t *port, rdind_error_t *err);
int conf_parse_cidr (const char *s, rdind_error_t *err);
bool conf_valid_name (const char *s);
/* "debug"/"info"/... -> log level; -1 when unknown. */
int conf_log_level (const char *s);
const char *conf_key_type_name (enum conf_key_type t);
int conf_parse_key_type (const char *s, enum conf_key_type *out, rdind_error_t *err);

#endif
