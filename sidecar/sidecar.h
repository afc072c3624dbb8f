/* rdind - sidecar internals shared between its files. */
#ifndef RDIND_SIDECAR_H
#define RDIND_SIDECAR_H

#include "conf.h"
#include "err.h"

/* TLS handshake + GET /_ping through conf->listen with CERTDIR/client. */
int rdind_health_probe (struct rdind_conf *conf, rdind_error_t *err);

/* As root: prepares /dev/net/tun and the user's directories, creates and maps
 * the user namespace for the launcher (*USERNS_FD, owned by the caller; -1
 * when none could be made), then drops to conf->user for good: no
 * capability, empty bounding set, no_new_privs.  No-op when not root. */
int sidecar_drop_privileges (struct rdind_conf *conf, int *userns_fd, int *cgroup_fd, rdind_error_t *err);
/* Logs what came of the daemon's cgroup (delegated, or why not). */
void sidecar_report_cgroup (void);

/* Does ADDR (numeric) pass conf->allow_from?  NAMES holds the addresses the
 * host-name entries resolved to at the last refresh. */
bool sidecar_allowed (char **allow_from, char **resolved, const struct sockaddr *addr);
/* Resolves the host-name entries of ALLOW_FROM to numeric addresses. */
char **sidecar_resolve_names (char **allow_from);

#endif
