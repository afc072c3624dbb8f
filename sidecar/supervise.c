/* rdind sidecar: supervision of `rdind launch`.  Starts it from the
 * configuration the sidecar holds, restarts it with exponential backoff
 * according to sidecar.restart, stops it on shutdown within stop_timeout,
 * and reaps the orphans a PID 1 inherits without stealing libuv's own
 * child. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/wait.h>

#include <uv.h>

#include "conf.h"
#include "log.h"
#include "sidecar-int.h"
#include "util.h"
#include "launch.h"

static void
finish_if_done (void)
{
  if (!S.stopping || S.launcher_running)
    return;
  uv_stop (S.loop);
}

static void
on_restart_timer (uv_timer_t *t UNUSED)
{
  if (!S.stopping)
    supervise_start ();
}

static void
on_launcher_exit (uv_process_t *p, int64_t status, int sig)
{
  S.launcher_running = false;
  uv_close ((uv_handle_t *)p, NULL);
  log_info ("launcher exited", "pid=%d status=%lld signal=%d", S.launcher_pid, (long long)status,
            sig);
  front_close_listener ("dockerd exited");
  /* A reload may have moved [launcher] state_dir: the next launcher reads
   * the file again and puts dockerd's socket there. */
  cleanup_free char *sock = launch_docker_sock_path (S.conf);
  if (strcmp (sock, S.sock_path) != 0)
    {
      log_info ("dockerd socket moves with the next launcher", "socket=%s", sock);
      free (S.sock_path);
      S.sock_path = steal_pointer (&sock);
    }
  if (S.stopping)
    {
      finish_if_done ();
      return;
    }
  bool failed = status != 0 || sig != 0;
  if (status == LAUNCH_EXIT_REQUIREMENTS && sig == 0)
    {
      log_error ("launcher reports a missing requirement; not restarting", "fix=%s",
                 log_quote (0, "see the launcher's error above (and the rdind doctor report, when it printed one)"));
      sidecar_shutdown (1);
      return;
    }
  if (S.conf->restart == CONF_RESTART_NEVER
      || (S.conf->restart == CONF_RESTART_ON_FAILURE && !failed))
    {
      sidecar_shutdown (failed ? 1 : 0);
      return;
    }
  /* A launcher that ran a while earned a fresh backoff. */
  if (now_ms () - S.launcher_started_ms > 60000)
    S.backoff_ms = 0;
  S.backoff_ms = S.backoff_ms ? S.backoff_ms * 2 : 500;
  if (S.backoff_ms > 30000)
    S.backoff_ms = 30000;
  S.restarts++;
  log_info ("restarting launcher", "in_ms=%llu restarts=%llu", (unsigned long long)S.backoff_ms,
            (unsigned long long)S.restarts);
  uv_timer_start (&S.restart_timer, on_restart_timer, S.backoff_ms, 0);
}

/* The launcher reads its settings from the configuration the sidecar holds
 * (the one SIGHUP validated), written out as INI, rather than from the
 * original file: that file may have been edited into something broken or
 * not yet reloaded when dockerd needs a restart.  NULL (and a log line) when
 * it cannot be written; the launcher then reads the original file. */
static char *
effective_conf_file (void)
{
  rdind_error_t err = NULL;
  char *path = NULL, *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&buf, &len);

  if (f == NULL)
    return NULL;
  conf_print (S.conf, f);
  fclose (f);
  xasprintf (&path, "%s/launcher.ini", S.conf->state_dir);
  if (mkdir_p (S.conf->state_dir, 0700, &err) < 0
      || write_file_atomic (path, buf, len, 0600, &err) < 0)
    {
      log_warn ("cannot write the launcher's configuration, it reads the original file", "error=%s",
                log_quote (0, err->msg));
      rdind_error_release (&err);
      free (steal_pointer (&path));
    }
  free (buf);
  return path;
}

void
supervise_start (void)
{
  char *args[6];
  int i = 0;
  cleanup_free char *eff = effective_conf_file ();
  args[i++] = "rdind";
  args[i++] = "launch";
  if (eff || conf_source_file (S.conf))
    {
      args[i++] = "--config";
      args[i++] = eff ? eff : (char *)conf_source_file (S.conf);
    }
  args[i] = NULL;
  uv_stdio_container_t stdio[5] = {
    { .flags = UV_IGNORE },
    { .flags = UV_INHERIT_FD, .data.fd = 2 }, /* keep stdout free for nobody: all logs on stderr */
    { .flags = UV_INHERIT_FD, .data.fd = 2 },
    /* fd 3: the prepared user namespace, named by RDIND_USERNS_FD=3 */
    { .flags = S.userns_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = S.userns_fd },
    /* fd 4: the daemon's delegated cgroup, named by RDIND_CGROUP_FD=4 */
    { .flags = S.cgroup_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = S.cgroup_fd },
  };
  uv_process_options_t o = {
    .exit_cb = on_launcher_exit,
    .file = "/proc/self/exe",
    .args = args,
    .stdio_count = S.cgroup_fd >= 0 ? 5 : S.userns_fd >= 0 ? 4 : 3,
    .stdio = stdio,
    /* A session of its own: the terminal's Ctrl-C (SIGINT to the whole
     * foreground process group) reaches only us, and we stop the launcher
     * with one SIGTERM; if it reached the launcher too, our SIGTERM would
     * be its second signal and kill the namespace. */
    .flags = UV_PROCESS_DETACHED,
  };
  int r = uv_spawn (S.loop, &S.launcher, &o);
  if (r < 0)
    {
      log_error ("cannot start launcher", "error=%s", log_quote (0, uv_strerror (r)));
      uv_close ((uv_handle_t *)&S.launcher, NULL);
      S.backoff_ms = S.backoff_ms ? S.backoff_ms * 2 : 500;
      if (S.backoff_ms > 30000)
        S.backoff_ms = 30000;
      uv_timer_start (&S.restart_timer, on_restart_timer, S.backoff_ms, 0);
      return;
    }
  S.launcher_running = true;
  S.launcher_pid = S.launcher.pid;
  S.launcher_started_ms = now_ms ();
  log_info ("launcher started", "pid=%d", S.launcher_pid);
}

static void
on_stop_timer (uv_timer_t *t UNUSED)
{
  if (S.launcher_running)
    {
      log_warn ("launcher did not stop in time, killing it", "pid=%d", S.launcher_pid);
      uv_process_kill (&S.launcher, SIGKILL);
    }
}

void
sidecar_shutdown (int code)
{
  if (S.stopping)
    return;
  S.stopping = true;
  S.exit_code = code;
  front_close_listener ("shutting down");
  uv_timer_stop (&S.restart_timer);
  if (S.launcher_running)
    {
      uv_process_kill (&S.launcher, SIGTERM);
      /* The launcher itself gives dockerd stop_timeout; allow a little more
       * before the hard kill. */
      uv_timer_start (&S.stop_timer, on_stop_timer, S.conf->stop_timeout * 1000 + 2000, 0);
    }
  finish_if_done ();
}

/* As PID 1 (or subreaper) we inherit orphans.  libuv reaps the launcher it
 * spawned itself, so look before reaping: WNOWAIT peeks at one zombie and
 * we only collect it when it is not libuv's. */
void
supervise_reap_orphans (void)
{
  for (;;)
    {
      siginfo_t si = { 0 };
      if (waitid (P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
        return;
      if (S.launcher_running && si.si_pid == S.launcher_pid)
        return;
      waitpid (si.si_pid, NULL, WNOHANG);
      log_debug ("reaped orphan", "pid=%d", si.si_pid);
    }
}

void
supervise_on_sigchld (uv_signal_t *h UNUSED, int signum UNUSED)
{
  supervise_reap_orphans ();
}

void
supervise_on_reap_timer (uv_timer_t *t UNUSED)
{
  supervise_reap_orphans ();
}
