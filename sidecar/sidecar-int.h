/* rdind sidecar: the state its files share, and who owns what.
 *
 * One libuv loop runs everything; its state is one struct, S.  Each file
 * owns a part of it:
 *   sidecar.c    the loop: start-up, signals, shutdown and the handle walk
 *   front.c      listener, client connections, the TLS byte pump, conf_gen
 *   ready.c      the /_ping probe that opens and closes the listener
 *   supervise.c  the launcher process: start, restart with backoff, stop,
 *                orphan reaping
 *   reload.c     certificate renewal timer, allow_from names, SIGHUP
 *   status.c     the plain-HTTP /healthz and /metrics endpoint
 * Nothing here is thread-safe: only the loop's thread touches S. */
#ifndef RDIND_SIDECAR_INT_H
#define RDIND_SIDECAR_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "conf.h"
#include "ctx.h"
#include "err.h"
#include "sidecar.h"

enum reject_reason
{
  REJ_ALLOW_FROM,
  REJ_MAX_CONN,
  REJ_HANDSHAKE,
  REJ_PEER,
  REJ_TIMEOUT,
  REJ_UPSTREAM,
  REJ__N
};

struct conn;

/* One configuration in force at some point.  A connection borrows its
 * conf->peers until it is freed (tls_engine_set_peers), so a configuration
 * replaced by SIGHUP lives on, retired, until its last user is gone. */
struct conf_gen
{
  struct conf_gen *next; /* retired list */
  struct rdind_conf *conf;
  bool owned;     /* loaded by a reload; the first one belongs to main() */
  uint64_t users; /* connections borrowing conf->peers */
};

struct sidecar
{
  uv_loop_t *loop;
  struct rdind_conf *conf; /* gen->conf */
  struct conf_gen *gen, *retired;
  char *sock_path;
  struct tls_ctx_holder ctx;
  char **resolved; /* allow_from host names, refreshed by name_timer */

  uv_tcp_t listener;
  bool listening;
  uv_process_t launcher;
  int userns_fd; /* the user namespace prepared as root, or -1 */
  int cgroup_fd; /* the daemon's delegated cgroup (launcher/cgroup.c), or -1 */
  bool as_user;  /* started by an unprivileged user (a developer's sandbox) */
  bool announced; /* the ready line was printed */
  bool launcher_running;
  int launcher_pid;
  uint64_t launcher_started_ms;
  int cache_lock_fd; /* [cache]: the slot's lock, held (and inherited) for the daemon's life */
  bool cache_ready;  /* the slot was prepared before the endpoint first opened */
  uint64_t backoff_ms;

  uv_timer_t ping_timer, restart_timer, cert_timer, stop_timer, name_timer, reap_timer;
  uv_signal_t sig_term, sig_int, sig_hup, sig_chld;

  struct conn *conns;
  uint64_t n_conns;
  bool stopping;
  int exit_code;

  /* metrics */
  uint64_t accepted, rejects[REJ__N], bytes_in, bytes_out, restarts;
};

extern struct sidecar sidecar_state;
#define S sidecar_state

/* front.c */
void sidecar_alloc_cb (uv_handle_t *h, size_t hint, uv_buf_t *buf);
void conf_gen_free (struct conf_gen *g);
void front_open_listener (void);
void front_close_listener (const char *why);
void front_close_all (void);

/* ready.c: the ping_timer callback, and the end of a ping in flight. */
void ready_on_timer (uv_timer_t *t);
void ready_abort (void);
/* Is BUF (HAVE bytes of dockerd's answer to GET /_ping) a 200? */
bool ready_answer_ok (const char *buf, size_t have);

/* parse.c: the status of a whole HTTP answer in BUF (0: not a complete
 * answer; AT_EOF: the connection ended there), its body (malloc'd,
 * NUL-terminated, or NULL) in *BODY. */
int sidecar_http_answer (const char *buf, size_t len, bool at_eof, char **body, size_t *body_len);

/* supervise.c */
void supervise_start (void);
void sidecar_shutdown (int code); /* stop the launcher, then the loop */
/* Once, when the endpoint first opens: a log line saying how to reach it,
 * and for a developer the three export lines to paste. */
void sidecar_announce_ready (void);
void supervise_reap_orphans (void);
void supervise_on_sigchld (uv_signal_t *h, int signum);
void supervise_on_reap_timer (uv_timer_t *t);

/* reload.c */
int sidecar_ensure_certs (const struct rdind_conf *conf, time_t *next_due, rdind_error_t *err);
bool sidecar_renewal_can_wait (const struct rdind_conf *conf, const struct rdind_error_s *why);
void sidecar_arm_cert_timer (time_t next_due);
void sidecar_on_name_timer (uv_timer_t *t);
void sidecar_reload (void);

/* cache.c */
int cache_take_slot (struct rdind_conf *conf, int *lock_fd, rdind_error_t *err);
void cache_prepare (void);

/* status.c */
int status_open_listener (uv_tcp_t *h, rdind_error_t *err);
/* The path of a complete "GET PATH HTTP/1.x" request head in REQ (NUL
 * terminated), into PATH; -1 when REQ is not one. */
int status_request_path (const char *req, char *path, size_t size);

#endif
