/* rdind sidecar: supervises `rdind launch` (rootless dockerd on a unix
 * socket) and serves that socket on one mutual-TLS TCP endpoint.
 *
 * This file is the event loop that wires the parts together (sidecar-int.h
 * says which file owns what): start-up after the privilege drop, the
 * signals, and a shutdown that closes every handle so that uv_loop_close()
 * succeeds. */
#include "config.h"

#include <malloc.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <uv.h>

#include "cmds.h"
#include "conf.h"
#include "ctx.h"
#include "launch.h"
#include "log.h"
#include "policy.h"
#include "sidecar-int.h"
#include "util.h"

struct sidecar sidecar_state;

static void
on_signal (uv_signal_t *h, int signum)
{
  if (signum == SIGHUP)
    {
      sidecar_reload ();
      return;
    }
  (void)h;
  /* A second Ctrl-C (or SIGTERM) while dockerd stops: the user wants out
   * now; the launcher reads a second signal as "kill the namespace". */
  if (S.stopping && S.launcher_running)
    {
      log_warn ("second signal: forcing the stop, containers are killed", "signal=%d", signum);
      uv_process_kill (&S.launcher, SIGTERM);
      return;
    }
  log_info ("signal received, stopping", "signal=%d stop_timeout=%llu", signum,
            (unsigned long long)S.conf->stop_timeout);
  sidecar_shutdown (0);
}

/* The listen address is checked before any certificate is issued or
 * dockerd started: a taken one otherwise shows only seconds later, once
 * dockerd answers.  A plain bind with SO_REUSEADDR as libuv's (no
 * connection, so nothing lingers). */
static int
check_listen (const char *listen, rdind_error_t *err)
{
  cleanup_free char *host = NULL;
  uint16_t port = 0;
  union
  {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
  } a;
  socklen_t len;
  cleanup_close int fd = -1;
  int one = 1;

  if (conf_parse_hostport (listen, &host, &port, err) < 0)
    return -1;
  memset (&a, 0, sizeof a);
  if (inet_pton (AF_INET, host[0] ? host : "0.0.0.0", &a.in.sin_addr) == 1)
    {
      a.in.sin_family = AF_INET;
      a.in.sin_port = htons (port);
      len = sizeof a.in;
    }
  else if (inet_pton (AF_INET6, host, &a.in6.sin6_addr) == 1)
    {
      a.in6.sin6_family = AF_INET6;
      a.in6.sin6_port = htons (port);
      len = sizeof a.in6;
    }
  else
    return rdind_make_error (err, 0,
                             "sidecar.listen `%s` is not an IP address: set [sidecar] listen "
                             "(RDIND_SIDECAR_LISTEN) to IP:PORT",
                             listen);
  fd = socket (a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return rdind_make_error (err, errno, "socket for sidecar.listen %s", listen);
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, &a.sa, len) < 0)
    return rdind_make_error (err, errno,
                             "sidecar.listen %s cannot be used%s: set [sidecar] listen "
                             "(RDIND_SIDECAR_LISTEN) to a free address",
                             listen, errno == EADDRINUSE ? " (another program listens there)" : "");
  return 0;
}

void
sidecar_announce_ready (void)
{
  cleanup_free char *host = NULL, *addr = NULL, *certs = NULL;
  uint16_t port = 0;
  rdind_error_t err = NULL;

  S.announced = true;
  if (conf_parse_hostport (S.conf->listen, &host, &port, &err) < 0)
    {
      rdind_error_release (&err);
      return;
    }
  /* A wildcard address is reached through loopback from this machine. */
  if (host[0] == '\0' || strcmp (host, "0.0.0.0") == 0)
    xasprintf (&addr, "127.0.0.1:%u", (unsigned)port);
  else if (strcmp (host, "::") == 0)
    xasprintf (&addr, "[::1]:%u", (unsigned)port);
  else if (strchr (host, ':'))
    xasprintf (&addr, "[%s]:%u", host, (unsigned)port);
  else
    xasprintf (&addr, "%s:%u", host, (unsigned)port);
  xasprintf (&certs, "%s/client", S.conf->certdir);
  log_info ("ready", "docker_host=tcp://%s docker_tls_verify=1 docker_cert_path=%s", addr,
            log_quote (0, certs));
  if (!S.as_user)
    return;
  fprintf (stderr,
           "\nrdind is ready. In another terminal:\n"
           "  export DOCKER_HOST=tcp://%s\n"
           "  export DOCKER_TLS_VERIFY=1\n"
           "  export DOCKER_CERT_PATH=%s\n"
           "  docker run --rm -it busybox sh\n"
           "Stop it with Ctrl-C.\n\n",
           addr, certs);
  fflush (stderr);
}

static int
launch_lock_dir_p (const char *dir, const char *key, int *fd, rdind_error_t *err)
{
  if (mkdir_p (dir, 0700, err) < 0)
    return -1;
  return launch_lock_dir (dir, key, fd, err);
}

static void
close_walk (uv_handle_t *h, void *arg UNUSED)
{
  if (!uv_is_closing (h))
    uv_close (h, NULL);
}

int
rdind_cmd_sidecar (struct rdind_conf *conf, int argc, char **argv UNUSED)
{
  rdind_error_t err = NULL;
  int lock_fds[2] = { -1, -1 };
  if (argc > 1)
    {
      fprintf (stderr, "rdind sidecar: takes no arguments (fix: configure it with --config or "
                       "RDIND_* variables)\n");
      return 2;
    }
  memset (&S, 0, sizeof S);
  S.conf = conf;
  S.cache_lock_fd = -1;
  S.as_user = geteuid () != 0;
  log_set_source ("sidecar");
  if (sidecar_drop_privileges (conf, &S.userns_fd, &S.cgroup_fd, &err) < 0)
    return rdind_error_report (&err, 1);
  if (S.userns_fd >= 0)
    setenv (LAUNCH_USERNS_FD_ENV, "3", 1);
  if (S.cgroup_fd >= 0)
    setenv (LAUNCH_CGROUP_FD_ENV, "4", 1);
  /* [cache]: a locked slot is the data root (before anything reads it). */
  if (cache_take_slot (conf, &S.cache_lock_fd, &err) < 0)
    return rdind_error_report (&err, 1);
  /* No bind may show the certificates, dockerd's socket or its data,
   * whatever allow_binds says (paths are resolved by now). */
  {
    char *prot[] = { conf->certdir, conf->state_dir, conf->data_root, NULL };
    policy_set_protected (prot);
  }
  if (getpid () != 1)
    prctl (PR_SET_CHILD_SUBREAPER, 1);

  /* Nothing starts when another rdind runs on the same state or data root,
   * or when the endpoint's address is taken. */
  if (launch_lock_dir_p (conf->state_dir, "launcher.state_dir", &lock_fds[0], &err) < 0
      || launch_lock_dir_p (conf->data_root, "launcher.data_root", &lock_fds[1], &err) < 0)
    return rdind_error_report (&err, 1);
  if (check_listen (conf->listen, &err) < 0)
    return rdind_error_report (&err, 2);
  sidecar_report_cgroup ();

  /* Certificates exist before anything listens or starts. */
  time_t next_due = time (NULL) + 3600;
  if (sidecar_ensure_certs (conf, &next_due, &err) < 0)
    {
      if (!sidecar_renewal_can_wait (conf, err))
        return rdind_error_report (&err, 1);
      log_error ("certificate renewal failed, serving with the current ones until it succeeds",
                 "error=%s retry_s=60", log_quote (0, err->msg));
      rdind_error_release (&err);
      next_due = time (NULL) + 60;
    }
  if (tls_ctx_reload (&S.ctx, conf->certdir, &err) < 0)
    return rdind_error_report (&err, 1);
  S.sock_path = launch_docker_sock_path (conf);
  S.resolved = sidecar_resolve_names (conf->allow_from);

  S.gen = xmalloc0 (sizeof *S.gen);
  S.gen->conf = conf;

  S.loop = xmalloc0 (sizeof *S.loop);
  uv_loop_init (S.loop);
  uv_timer_init (S.loop, &S.ping_timer);
  uv_timer_init (S.loop, &S.restart_timer);
  uv_timer_init (S.loop, &S.cert_timer);
  uv_timer_init (S.loop, &S.stop_timer);
  uv_timer_init (S.loop, &S.name_timer);
  uv_timer_init (S.loop, &S.reap_timer);
  uv_signal_init (S.loop, &S.sig_term);
  uv_signal_init (S.loop, &S.sig_int);
  uv_signal_init (S.loop, &S.sig_hup);
  uv_signal_init (S.loop, &S.sig_chld);
  uv_signal_start (&S.sig_term, on_signal, SIGTERM);
  uv_signal_start (&S.sig_int, on_signal, SIGINT);
  uv_signal_start (&S.sig_hup, on_signal, SIGHUP);
  uv_signal_start (&S.sig_chld, supervise_on_sigchld, SIGCHLD);
  signal (SIGPIPE, SIG_IGN);
  /* Bulk streams (docker cp, save/load) allocate and free 64 KiB read
   * buffers and TLS records by the thousand: keep the freed memory in the
   * heap instead of handing it back to the kernel and faulting fresh zeroed
   * pages in again for the next chunk (measured: the front's CPU time for a
   * 256 MiB docker cp fell from about 330 to 270 ms).  At most 4 MiB stay. */
  mallopt (M_TRIM_THRESHOLD, 4 << 20);
  mallopt (M_MMAP_THRESHOLD, 1 << 20);

  uv_timer_start (&S.ping_timer, ready_on_timer, 200, 1000);
  sidecar_arm_cert_timer (next_due);
  uv_timer_start (&S.name_timer, sidecar_on_name_timer, 60000, 60000);
  uv_timer_start (&S.reap_timer, supervise_on_reap_timer, 5000, 5000);

  uv_tcp_t status_listener;
  if (conf->status_listen && conf->status_listen[0]
      && status_open_listener (&status_listener, &err) < 0)
    {
      log_error ("cannot open the status endpoint", "error=%s", log_quote (0, err->msg));
      rdind_error_release (&err);
      S.exit_code = 2;
      S.stopping = true;
      uv_walk (S.loop, close_walk, NULL);
      uv_run (S.loop, UV_RUN_DEFAULT);
      uv_loop_close (S.loop);
      free (S.loop);
      tls_ctx_holder_release (&S.ctx);
      strv_free (S.resolved);
      free (S.sock_path);
      conf_gen_free (S.gen);
      return 2;
    }
  log_info ("sidecar starting", "listen=%s certdir=%s socket=%s", conf->listen, conf->certdir,
            S.sock_path);
  supervise_start ();
  uv_run (S.loop, UV_RUN_DEFAULT);

  /* Shutdown: drop open connections, close every handle, drain. */
  front_close_all ();
  ready_abort ();
  uv_walk (S.loop, close_walk, NULL);
  uv_run (S.loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close (S.loop);
  if (rc != 0)
    log_warn ("event loop did not close cleanly", "error=%s", log_quote (0, uv_strerror (rc)));
  free (S.loop);
  tls_ctx_holder_release (&S.ctx);
  strv_free (S.resolved);
  free (S.sock_path);
  if (S.userns_fd >= 0)
    close (S.userns_fd);
  if (S.cgroup_fd >= 0)
    close (S.cgroup_fd);
  if (S.cache_lock_fd >= 0)
    close (S.cache_lock_fd);
  for (int i = 0; i < 2; i++)
    if (lock_fds[i] >= 0)
      close (lock_fds[i]);
  /* Every connection is gone, so no configuration is borrowed any more. */
  while (S.retired)
    {
      struct conf_gen *g = S.retired;
      S.retired = g->next;
      conf_gen_free (g);
    }
  conf_gen_free (S.gen);
  policy_set_protected (NULL);
  supervise_reap_orphans ();
  log_info ("sidecar stopped", "exit=%d", S.exit_code);
  return S.exit_code;
}
