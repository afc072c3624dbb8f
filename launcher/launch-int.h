/* rdind - launcher internals shared between launch.c, doctor.c and the
 * rdind-launch program (run.c, init.c, api.c). */
#ifndef RDIND_LAUNCH_INT_H
#define RDIND_LAUNCH_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
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
  struct launch_fwd *fwd; /* native port driver, or NULL: slirp4netns hostfwd */
  const char *net;        /* "pasta", or NULL: slirp4netns */
  /* Only dockerd's children (its userland proxies) may change ports; GET is
   * anyone's.  Set by rdind-launch once child_pid is init's. */
  bool proxies_only;
};

/* One direction of a splice relay (portfwd.c, pullproxy.c): bytes go from
 * a source socket to a destination through a pipe, with no copy through
 * user space; what the pipe holds bounds what is in flight, so a slow
 * destination stops the source being read.  At the source's EOF, once the
 * pipe is drained, the destination is shut for writing (half-close). */
struct launch_splice
{
  int pipe[2];    /* { -1, -1 } until launch_splice_open */
  size_t cap;     /* the pipe's capacity, read back */
  size_t pending; /* bytes in the pipe */
  bool full;      /* no slot left, whatever PENDING says */
  bool eof, shut;
  uint64_t bytes; /* taken from the source */
};
/* Makes the pipe, asking for WANT bytes of capacity (0: the default).  The
 * capacity is read back, never assumed: past pipe-user-pages-soft the
 * kernel makes pipes of 2 pages and refuses to grow them, and a pipe
 * believed larger than it is keeps its full source polled (a busy loop).
 * For the same reason the pump asks the pipe itself whether it is full
 * (its slots run out first when fragments are small).  -1 (errno) when no
 * pipe could be made. */
int launch_splice_open (struct launch_splice *d, size_t want);
/* Moves what it can from SRC to DST; -1 ends the relay. */
int launch_splice_pump (struct launch_splice *d, int src, int dst);
/* Whether the source is to be read: no EOF yet and room in the pipe. */
static inline bool
launch_splice_wants_src (const struct launch_splice *d)
{
  return !d->eof && !d->full && d->pending < d->cap;
}
void launch_splice_close (struct launch_splice *d);

/* The native port driver (portfwd.c).  Owned by the launcher's main loop,
 * which polls launch_fwd_fd() and calls launch_fwd_dispatch() when it is
 * readable (and after the timeout it returns, -1 for none). */
struct launch_fwd;
struct launch_fwd *launch_fwd_new (int portd_fd, rdind_error_t *err);
int launch_fwd_fd (const struct launch_fwd *f);
int launch_fwd_dispatch (struct launch_fwd *f);
/* Listens on HOST_IP:HOST_PORT and forwards to CHILD_IP:CHILD_PORT in the
 * namespace; *WHY says why not (a taken port in the user's words). */
int launch_fwd_add (struct launch_fwd *f, int id, const char *proto, const char *host_ip, int host_port,
                    const char *child_ip, int child_port, char **why);
void launch_fwd_remove (struct launch_fwd *f, int id);
size_t launch_fwd_connections (const struct launch_fwd *f);
void launch_fwd_free (struct launch_fwd *f);
/* The helper init forks inside the namespace: makes sockets there on
 * request over FD and hands them back (SCM_RIGHTS).  Never returns. */
void launch_portd_main (int fd) __attribute__ ((noreturn));

/* A new socket made by portd in the namespace (non-blocking, close-on-exec),
 * within TIMEOUT_MS; -1 when portd does not answer. */
int launch_portd_socket (int portd, int family, bool udp, int timeout_ms);

/* --- the direct pull path (pullproxy.c): dockerd's registry traffic through
 * an egress proxy whose listener lives on the namespace's loopback and whose
 * upstream connections leave from the host's namespace. --- */

/* The user name of the proxy credential; the password is launch_pull_token. */
#define LAUNCH_PULL_USER "rdind"
/* 32 random hex digits (getrandom), or NULL. */
char *launch_pull_token (void);
/* base64 of USER:PASSWORD, as in a Basic credential. */
char *launch_pull_basic (const char *user, const char *password);
/* Whether a Proxy-Authorization VALUE is `Basic EXPECT` (any case for the
 * scheme; compared in constant time). */
bool launch_pull_auth_ok (const char *value, const char *expect);
/* Why SA may not be a destination (loopback, link-local, unspecified,
 * IPv4-mapped ones included), or NULL when it may. */
const char *launch_pull_dest_refused (const struct sockaddr *sa);

/* One parsed request head.  HEAD is what goes upstream for a plain request
 * (origin form, Proxy-* and hop-by-hop headers dropped, Connection: close);
 * launch_pull_req_release frees PATH, AUTH and HEAD. */
struct launch_pull_req
{
  char method[17];
  char version[9];
  bool connect;
  char host[256]; /* a name, an IPv4 literal or an IPv6 one without brackets */
  int port;
  char *path;     /* origin form (plain requests) */
  char *auth;     /* the Proxy-Authorization value, or NULL */
  char *head;
  size_t head_len;
};
/* Parses the head (request line and headers, through the empty line) of LEN
 * bytes: 0, or the HTTP status to answer (400). */
int launch_pull_parse (const char *head, size_t len, struct launch_pull_req *r);
void launch_pull_req_release (struct launch_pull_req *r);
/* An upstream proxy the user set (HTTP_PROXY, HTTPS_PROXY): the direct
 * path chains to it from the host's namespace. */
struct launch_pull_upstream
{
  char host[256]; /* empty: none */
  int port;
  char *auth;     /* base64 of user:password, or NULL */
};
/* Parses [http://][user:password@]host[:port][/] (port 80 by default) into
 * UP; an empty URL gives none.  -1 for another scheme or a path. */
int launch_pull_upstream_parse (const char *url, struct launch_pull_upstream *up);
/* The proxy process: accepts on LFD (in the namespace, 127.0.0.1) and serves
 * each connection in a process of its own, through the upstream proxies
 * when given (NULL or empty: none).  Never returns. */
void launch_pull_main (int lfd, const char *token, const char *http_upstream, const char *https_upstream)
    __attribute__ ((noreturn));

int launch_sockaddr (const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len);
/* A bind failure of a published port, in the user's words. */
void launch_bind_error (const char *proto, const char *ip, int port, int e, char **why);

int launch_api_listen (struct launch_api *api, const char *path, const char *slirp_sock,
                       const char *guest_ip, rdind_error_t *err);
/* Accepts and answers one request (bounded by a short timeout). */
void launch_api_serve_one (struct launch_api *api);
/* Answers one request REQ (read whole) on FD: the part of serve_one after
 * the read, for the fuzzer. */
void launch_api_handle (struct launch_api *api, int fd, const char *req);
void launch_api_close (struct launch_api *api);

/* One request to slirp4netns's API socket; *REPLY gets the JSON answer. */
int launch_slirp_call (const char *sock, const char *request, char **reply, rdind_error_t *err);

/* HAVE_USERNS: the sidecar handed us a user namespace it mapped as root
 * (RDIND_USERNS_FD), so subordinate ids and newuidmap are not needed. */
int launch_preflight (const struct rdind_conf *conf, struct launch_ids *ids, bool have_userns,
                      rdind_error_t *err);
/* newuidmap/newgidmap (TOOL) PID 0 SELF 1 1 START COUNT. */
int launch_map_ids (pid_t pid, const char *tool, unsigned long self, uint64_t start,
                    uint64_t count, rdind_error_t *err);
/* Runs ARGV (absolute path) with stdin on /dev/null and waits; *OUT gets its
 * stdout and stderr (first KiB, trailing newlines cut).  Returns the exit
 * status (128 + signal when killed), or -1 when it cannot be started. */
int launch_run_wait (char **argv, char **out);

/* "NAME (EXE) exited with status N during setup: TAIL (see LOG)", or
 * "was killed by signal N (NAME)", STATUS as waitpid() gave it; TAIL is the
 * last lines of LOG_TEXT (what the program wrote on stderr), left out when
 * it wrote nothing.  The caller frees the result. */
char *launch_exit_describe (const char *name, const char *exe, int status, const char *log_text,
                            const char *log_path);

/* --- rdind-launch: the launcher's long-lived part, a program of its own ---
 *
 * `rdind launch` (launch.c) reads the configuration, checks the machine and
 * resolves everything, then execs rdind-launch with these settings on its
 * command line (run-args.c) and dockerd's environment as its own.  Strings
 * are borrowed (from the configuration, or from rdind-launch's argv); the
 * vectors that launch_run_parse() fills are its own, launch_run_release()
 * frees them (the front's are borrowed too). */
struct launch_run
{
  const char *state_dir;       /* dockerd.log, slirp4netns.log, copy-up scratch */
  const char *rootlesskit_dir; /* ROOTLESSKIT_STATE_DIR: api.sock (dockerd's proxy uses it) */
  const char *docker_sock;     /* dockerd's socket (/run/docker.sock points at it) */
  const char *net;             /* slirp4netns (NULL too) | pasta */
  const char *slirp4netns;     /* absolute path (net = slirp4netns) */
  const char *pasta;           /* absolute path (net = pasta) */
  char **slirp_args;           /* flags this slirp4netns supports (--enable-sandbox...) */
  const char *cidr;
  uint64_t mtu;
  uint64_t stop_timeout;       /* seconds */
  char **namespaces;           /* besides user, mount and network (launch_ns_flags) */
  char **hide;                 /* absolute paths kept out of the daemon's mount namespace */
  const char *port_driver;     /* native | slirp4netns */
  const char *pull_path;       /* direct (NULL too) | slirp: dockerd's registry traffic (pullproxy.c) */
  int userns_fd;               /* the sidecar's mapped user namespace (inherited), or -1 */
  int cgroup_fd;               /* R of launcher/cgroup.c (inherited), or -1 */
  struct launch_ids ids;       /* subordinate ranges, for newuidmap when userns_fd < 0 */
  const char *log_level;
  char **dockerd_argv;         /* [0] is dockerd's absolute path */
};

/* state_dir's directory for what only the launcher uses (slirp4netns's API
 * socket): masked from the daemon like certdir, so a container that binds
 * state_dir cannot open host ports behind dockerd's back. */
#define LAUNCH_PRIVATE_DIR "private"

/* The paths the daemon's mount namespace leaves out (*OUT, strv): certdir,
 * resolved.  Fails when certdir and state_dir or data_root nest. */
int launch_hide_paths (const char *certdir, const char *state_dir, const char *data_root, char ***out,
                       rdind_error_t *err);

/* rdind-launch's argv for R, HELPER its path (strv_free). */
char **launch_run_to_argv (const struct launch_run *r, const char *helper);
/* Fills R from rdind-launch's argv (strings point into ARGV). */
int launch_run_parse (struct launch_run *r, int argc, char **argv, rdind_error_t *err);
void launch_run_release (struct launch_run *r);
/* Whether the namespace's network is pasta's (else slirp4netns's). */
static inline bool
launch_run_pasta (const struct launch_run *r)
{
  return r->net && strcmp (r->net, "pasta") == 0;
}

/* What init (pid 1 of the new namespaces, init.c) needs; filled by the
 * launcher parent before the fork. */
struct launch_init
{
  int sync_fd;         /* reads 'g' (ids mapped), then 'n' (network up) followed
                        * by KEY=VALUE lines for dockerd's environment, to EOF */
  int out_fd;          /* dockerd's stdout and stderr: the parent re-logs them */
  char **dockerd_argv;
  char **dockerd_env;
  const char *state_dir;
  const char *docker_sock;
  const char *dns;
  int ns_flags;        /* CLONE_NEW* of the namespaces below the user namespace */
  char **hide;         /* absolute paths masked from the daemon (locked mounts) */
  int portd_fd;        /* the native port driver's helper end, or -1 */
  bool cgroup;         /* in a delegated R: a cgroup namespace rooted there */
};

/* The outer process, in a user namespace above the daemon's (the launcher's
 * own new one mapped by newuidmap after GO_FD reads 'g', or the sidecar's,
 * USERNS_FD): masks A->hide in its mount namespace, then creates init with
 * CLONE_PARENT in a nested user namespace mapping the same ids, with new
 * mount, network and pid namespaces, and writes to REPORT_FD an int (0 or
 * errno) and init's pid.  Never returns. */
void launch_outer_main (const struct launch_init *a, int userns_fd, int go_fd, int report_fd)
    __attribute__ ((noreturn));

/* Runs as pid 1 of the new namespaces until dockerd exits; never returns. */
void launch_init_main (const struct launch_init *a) __attribute__ ((noreturn));

/* Minimal HTTP over a unix socket (for rdind-docker-proxy): returns the
 * status code, *BODY the response body. */
int launch_http_unix (const char *sock, const char *method, const char *path,
                      const char *body, char **resp_body, rdind_error_t *err);

/* --- doctor's verdicts: which FAIL and which one-line fix, decided from what
 * the probes saw.  Pure functions of their inputs (no probing, no I/O), so
 * each cause is unit-tested in tests/unit/test-doctor.c even where this
 * kernel lacks the knob (AppArmor, Debian's unprivileged_userns_clone). --- */

enum launch_doctor_status
{
  LAUNCH_DOCTOR_OK,
  LAUNCH_DOCTOR_WARN,
  LAUNCH_DOCTOR_FAIL
};

/* DETAIL and FIX belong to the verdict (launch_doctor_verdict_release); FIX
 * is NULL when the status is OK. */
struct launch_doctor_verdict
{
  enum launch_doctor_status status;
  char *detail;
  char *fix;
};

void launch_doctor_verdict_release (struct launch_doctor_verdict *v);

/* Sysctls are -1 when the kernel lacks the file; PROC_STATUS is the text of
 * /proc/self/status (NULL when unreadable). */
struct launch_userns_facts
{
  int unshare_errno;              /* unshare(CLONE_NEWUSER) in a child; 0: it worked */
  int map_errno;                  /* then mapping ourselves in it (launch_self_userns) */
  long unprivileged_userns_clone; /* kernel.unprivileged_userns_clone (Debian's kernels) */
  long max_user_namespaces;       /* user.max_user_namespaces of our user namespace */
  long apparmor_restrict;         /* kernel.apparmor_restrict_unprivileged_userns (Ubuntu) */
  const char *proc_status;
};
void launch_doctor_userns (const struct launch_userns_facts *f, struct launch_doctor_verdict *v);

struct launch_idmap_facts
{
  const char *tool;          /* "newuidmap" or "newgidmap" */
  const char *exe;           /* its path; NULL when not found */
  bool setuid, fcaps;        /* S_ISUID; a security.capability attribute */
  bool userns_ok, subids_ok; /* the checks the real try depends on */
  const char *proc_status;   /* /proc/self/status: CapBnd */
  const char *map_error;     /* launch_map_ids's message; NULL: mapped, or not tried */
};
/* True when the facts allow the real try (launch_map_ids on a throw-away
 * namespace); its message then goes in MAP_ERROR. */
bool launch_doctor_idmap_tryable (const struct launch_idmap_facts *f);
void launch_doctor_idmap (const struct launch_idmap_facts *f, struct launch_doctor_verdict *v);

struct launch_proc_facts
{
  bool userns_ok;
  int probe;             /* 0 mounted; errno of mount("proc"); >= 200: namespaces not set up */
  const char *mountinfo; /* /proc/self/mountinfo */
  long apparmor_restrict;
};
void launch_doctor_proc (const struct launch_proc_facts *f, struct launch_doctor_verdict *v);

/* net = pasta: pasta's egress stalls on retransmissions while the maximum
 * of the host's net.ipv4.tcp_wmem (WMEM_MAX; -1 unreadable), the ceiling of
 * its own sockets' send buffers, is below LAUNCH_PASTA_WMEM_MIN (README,
 * "Published ports"). */
#define LAUNCH_PASTA_WMEM_MIN (16L * 1024 * 1024)
void launch_doctor_pasta_wmem (long wmem_max, struct launch_doctor_verdict *v);

/* What runc (under dockerd) decides from: /sys/fs/cgroup a cgroup2 file
 * system means v2; anything else means v1, which needs cgroup v1 mounts in
 * /proc/self/mountinfo that can be reached (a mount shadowed by a later
 * one, such as a fresh sysfs on /sys, still has its line there). */
struct launch_cgroup_facts
{
  int statfs_errno;        /* statfs("/sys/fs/cgroup"); 0: it worked */
  unsigned long fs_type;   /* its f_type */
  int v1_reachable;        /* v1 mount points of MOUNTINFO that statfs as cgroup */
  const char *own_path;    /* v2: /sys/fs/cgroup + our "0::" path; NULL unknown */
  bool own_writable;       /* v2: rdind may divide OWN_PATH (launch_cgroup_ours) */
  const char *controllers; /* v2: its cgroup.controllers; NULL unreadable */
  const char *why_not;     /* v2, !OWN_WRITABLE: launch_cgroup_ours's reason */
  bool read_only;          /* v2: /sys/fs/cgroup mounted read-only */
};
/* Whether rdind may divide its cgroup OWN (v2 path) for the daemon: as
 * root, a container's own (a cgroup-namespace root, "/") or one systemd
 * delegated (Delegate=yes: the delegate attribute); as a user, one it owns
 * and, the mount being read-only, never.  False with *WHY (static). */
bool launch_cgroup_ours (bool root, const char *own, bool delegate_attr, bool owner, bool read_only,
                         const char **why);
void launch_doctor_cgroup (const struct launch_cgroup_facts *f, struct launch_doctor_verdict *v);
/* The mount points of MOUNTINFO's cgroup v1 lines, as a vector (NULL when none). */
char **launch_cgroup_v1_mounts (const char *mountinfo);
/* Fills STATFS_ERRNO, FS_TYPE and V1_REACHABLE on this machine. */
void launch_cgroup_probe_mounts (struct launch_cgroup_facts *f);
/* False when runc would find no cgroup at all ("no cgroup mount found in
 * mountinfo" at every `docker run`). */
bool launch_cgroup_usable (const struct launch_cgroup_facts *f);

/* launcher/cgroup.c.  Pure helpers (unit-tested): our v2 path from
 * /proc/self/cgroup's text (NULL: none); which of memory, pids, cpu, io
 * a cgroup.controllers text offers, space separated, in that order; an id
 * map that maps every id of ID_MAP's inside ranges to itself. */
char *launch_cgroup_own_path (const char *proc_self_cgroup);
char *launch_cgroup_pick (const char *controllers);
/* Whether DOCKERD_ARGS or the daemon.json dockerd reads (CFG_PATH; NULL:
 * rootless dockerd's default) chose the cgroup driver (launch.c). */
bool launch_cgroup_driver_chosen (char *const *dockerd_args, const char *cfg_path);
char *launch_cgroup_identity_map (const char *id_map);
/* Mounts cgroup2 (our cgroup namespace's view) on /sys/fs/cgroup, over
 * whatever is there.  -1 with errno. */
int launch_cgroup_mount_fresh (void);
/* Writes "0" (ourselves) to DFD/SUB/cgroup.procs (SUB NULL: DFD's own). */
int launch_cgroup_move_self (int dfd, const char *sub);
/* `rdind launch`, given the delegated D: removes empty runs left behind,
 * creates R = D/run-PID with launcher/ and init/, and moves us into R;
 * *RFD is R.  -1 with *WHY. */
int launch_cgroup_enter (int dfd, int *rfd, char **why);
/* init, in R: a cgroup namespace rooted at R, cgroup2 mounted on
 * /sys/fs/cgroup, itself and its child HELPER (> 0: forked before) moved to
 * init/, R's controllers enabled for its children (*CONTROLLERS).  -1 with
 * *WHY. */
int launch_cgroup_init_ns (pid_t helper, char **controllers, char **why);
/* The one-line fix when no cgroup file system is mounted. */
#define LAUNCH_CGROUP_MOUNT_FIX                                                                    \
  "mount one before rdind starts (as root: `mount -t cgroup2 none /sys/fs/cgroup`); in a "          \
  "container or chroot, let the runtime mount /sys/fs/cgroup (do not mask or overmount it)"

#endif
