/* rdind - launcher: a rootless dockerd in user+mount+net+pid namespaces,
 * networked by slirp4netns, with rootlesskit's port API for dockerd's
 * userland proxy (rdind-docker-proxy), and the `doctor` checks.
 *
 * Everything returned as char * is owned by the caller (free()). */
#ifndef RDIND_LAUNCH_H
#define RDIND_LAUNCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

struct rdind_conf;

/* The inner daemon's API socket: $state_dir/docker.sock (conf paths must be
 * resolved). */
char *launch_docker_sock_path (const struct rdind_conf *conf);

/* Runs every doctor check, printing one line each (or a JSON array) to OUT.
 * PREPARED_USERNS: rdind sidecar mapped the user namespace as root, so the
 * subordinate-id and newuidmap checks do not apply.  Returns the number of
 * FAILs. */
int launch_doctor_run (struct rdind_conf *conf, bool json, bool prepared_userns, FILE *out);

/* One rdind per state_dir and per data_root (two dockerds on one data
 * root corrupt it, and the second replaces the first's docker.sock): takes
 * DIR/rdind.lock with flock, writes our pid in it and returns the fd that
 * holds it (*FD; -1 when our parent, the sidecar that started this
 * launcher, holds it for us).  Fails with a one-line error naming the
 * running pid and KEY, the setting to change. */
int launch_lock_dir (const char *dir, const char *key, int *fd, rdind_error_t *err);
/* The same with lock file NAME; PARENT_OK: our parent holding it is fine. */
int launch_lock_file (const char *dir, const char *name, const char *key, bool parent_ok, int *fd,
                      rdind_error_t *err);

/* --- helpers shared by launch.c, doctor.c and the unit tests --- */

/* Looks up USER (or the decimal UID) in a subuid/subgid file: first range
 * wins.  Returns 1 and fills START/COUNT when found, 0 when absent, <0 on a
 * read error. */
int launch_subid_lookup (const char *file, const char *user, uid_t uid,
                         uint64_t *start, uint64_t *count, rdind_error_t *err);
/* launch_subid_lookup, plus a one-line error with the fix when USER has no
 * range or fewer than the 65536 ids dockerd's images need. */
int launch_subid_require (const char *file, const char *user, uid_t uid, uint64_t *start,
                          uint64_t *count, rdind_error_t *err);
/* The lowest start (from 100000, useradd's SUB_UID_MIN) of COUNT ids that
 * no range of SUBUID or SUBGID (file contents, any owner; NULL for none)
 * overlaps; 0 when none fits in 32 bits. */
uint64_t launch_subid_free (const char *subuid, const char *subgid, uint64_t count);
/* "usermod --add-subuids S-E --add-subgids S-E USER" with a free range of
 * 65536 read from /etc/subuid and /etc/subgid; WHICH "subuid" or "subgid"
 * for that flag alone. */
char *launch_subid_advice (const char *user, const char *which);
/* Same over in-memory file contents (unit-testable). */
int launch_subid_parse (const char *content, const char *user, uid_t uid,
                        uint64_t *start, uint64_t *count);

/* Absolute path of NAME: used as is when it has a '/', else searched in
 * $PATH and then /usr/sbin:/usr/bin:/sbin:/bin.  NULL when not found. */
char *launch_find_exe (const char *name);

/* The guest address (network + 100) and DNS (network + 3) of a slirp4netns
 * CIDR such as 10.0.2.0/24.  Returns <0 on a malformed CIDR. */
int launch_cidr_hosts (const char *cidr, char **guest, char **dns, rdind_error_t *err);
/* Host N of a CIDR that launch_cidr_hosts() accepts (2: the gateway), or NULL. */
char *launch_cidr_nth (const char *cidr, unsigned n);

/* Picks the storage driver for CONF->storage_driver ("auto" probes for real:
 * overlay2 in a throw-away user namespace, then fuse-overlayfs, then vfs).
 * *WHY gets the reason for the log line. */
int launch_pick_storage (const struct rdind_conf *conf, char **driver, char **why,
                         rdind_error_t *err);

/* Probes a mount of overlayfs inside a throw-away user+mount namespace, in a
 * temp dir under DIR.  0 ok, else errno of the failure; *WHY says which step. */
int launch_probe_overlay (const char *dir, char **why);

/* In a forked child: unshare(CLONE_NEWUSER|EXTRA) and map only ourselves to
 * root.  -1 with errno set on failure. */
int launch_self_userns (int extra_flags);

/* Tiny JSON readers for the flat objects of rootlesskit's and slirp4netns's
 * APIs: value of "KEY" as a string (strings unquoted, numbers as text).
 * NULL when absent. */
char *launch_json_get (const char *json, const char *key);

/* The environment variable through which `rdind sidecar` passes the launcher
 * an inherited fd of a user namespace it created and mapped while root. */
#define LAUNCH_USERNS_FD_ENV "RDIND_USERNS_FD"
/* The sidecar's delegated cgroup (launcher/cgroup.c) for `rdind launch`:
 * a directory fd on cgroup v2, handed down like the user namespace. */
#define LAUNCH_CGROUP_FD_ENV "RDIND_CGROUP_FD"
/* Where rdind-docker-proxy finds the port API when dockerd runs without
 * RootlessKit's environment (a delegated cgroup: launcher/cgroup.c). */
#define LAUNCH_PORT_DIR_ENV "RDIND_PORT_DIR"

/* Divides our cgroup (v2) so that the daemon gets a subtree of its own with
 * the memory, pids, cpu and io controllers, handed to UID:GID when we are
 * root.  1: *DFD is that subtree (a directory fd, close-on-exec) and *DESC
 * says where and which controllers; 0: not possible here, *DESC says why
 * (never fatal: the daemon then runs without limits, as on cgroup v1). */
int launch_cgroup_delegate (uid_t uid, gid_t gid, int *dfd, char **desc);
/* Whether LIST (words separated by blanks or newlines) holds the word W. */
bool launch_cgroup_has (const char *list, const char *w);

/* CLONE_NEW* flags of conf->namespaces (besides user, mount and network,
 * which are always created). */
int launch_ns_flags (char **names);

/* rdind launch exits with this status when a requirement of the machine is
 * missing (preflight failed): restarting cannot help. */
#define LAUNCH_EXIT_REQUIREMENTS 3

#endif
