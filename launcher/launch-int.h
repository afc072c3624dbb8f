/* rdind - launcher internals shared between launch.c, api.c and doctor.c. */
#ifndef RDIND_LAUNCH_INT_H
#define RDIND_LAUNCH_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct rdind_conf;

struct launch_ids
{
  uint64_t uid_start, uid_count, gid_start, gid_count;
};

struct launch_port
{
  int id;          /* ours, as in rootlesskit's API */
  int slirp_id;    /* slirp4netns hostfwd id */
  char proto[8];
  char parent_ip[64];
  int parent_port;
  char child_ip[64];
  int child_port;
};

/* rootlesskit's port API (subset) served on $ROOTLESSKIT_STATE_DIR/api.sock,
 * backed by slirp4netns hostfwd.  Owned by rdind_cmd_launch. */
struct launch_api
{
  int fd;
  char *path, *slirp_sock, *guest_ip;
  pid_t child_pid, slirp_pid;
  struct launch_port *ports;
  size_t nports;
  int next_id;
};

int launch_api_listen (struct launch_api *api, const char *path, const char *slirp_sock,
                       const char *guest_ip, rdind_error_t *err);
/* Accepts and answers one request (bounded by a short timeout). */
void launch_api_serve_one (struct launch_api *api);
void launch_api_close (struct launch_api *api);

/* One request to slirp4netns's API socket; *REPLY gets the JSON answer. */
int launch_slirp_call (const char *sock, const char *request, char **reply, rdind_error_t *err);

/* HAVE_USERNS: the sidecar handed us a user namespace it mapped as root
 * (RDIND_USERNS_FD), so subordinate ids and newuidmap are not needed. */
int launch_preflight (const struct rdind_conf *conf, struct launch_ids *ids, bool have_userns,
                      rdind_error_t *err);
int launch_map_ids (pid_t pid, const char *tool, unsigned long self, uint64_t start,
                    uint64_t count, rdind_error_t *err);

/* Minimal HTTP over a unix socket (for rdind-docker-proxy): returns the
 * status code, *BODY the response body. */
int launch_http_unix (const char *sock, const char *method, const char *path,
                      const char *body, char **resp_body, rdind_error_t *err);

#endif
