/* rdind-launch - the launcher's long-lived part, a program of its own.
 *
 * `rdind launch` (launch.c) reads the configuration, checks the machine,
 * resolves every setting and execs this program with them (run-args.c), so
 * the processes that stay resident while dockerd runs link no OpenSSL, libuv
 * or inih, and are static (configure's --with-launch-libc): rootlesskit's
 * parent alone is ~10 MiB resident, these two together ~0.3 MiB with musl.
 *
 * Process tree (no rootlesskit binary at run time):
 *   rdind-launch (host namespaces: id maps, slirp4netns, port API, signals,
 *    │            dockerd's output re-logged)
 *    ├─ (rdind-outer, gone once init runs: in the outer user namespace, it
 *    │   masks certdir in its mount namespace and creates init below it)
 *    ├─ slirp4netns  (joins the child's netns; exits with us via --exit-fd)
 *    │  or pasta     (the same, --foreground; PDEATHSIG and SIGTERM end it)
 *    ├─ rdind-pullproxy (pull_path = direct: dockerd's registry traffic,
 *    │   accepted in the namespace, sent from the host's; pullproxy.c)
 *    └─ rdind-init   (pid 1 of new user+mount+net+pid namespaces nested in
 *        │            the outer ones, init.c: mounts, reaps, forwards
 *        │            signals; its exit kills the namespace)
 *        └─ dockerd  (rootless mode, unix socket only)
 *
 * Our environment is dockerd's: the front built it. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "launch-int.h"
#include "launch.h"
#include "log.h"
#include "util.h"

static void
tail_log (const char *path, int lines)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  const char *p;
  int n = 0;

  if (read_file (path, &buf, &len, NULL) < 0 || len == 0)
    return;
  p = buf + len;
  while (p > buf && n <= lines)
    if (*--p == '\n')
      n++;
  if (*p == '\n')
    p++;
  fprintf (stderr, "----- last lines of %s -----\n%s", path, p);
  if (len && buf[len - 1] != '\n')
    fputc ('\n', stderr);
}

/* Starts init (launch_init_main) in new namespaces, two user namespaces
 * deep (init.c, launch_outer_main): an outer process holds the mount
 * namespace where certdir is masked, and init's namespaces are nested below
 * it, so the daemon cannot undo the masks.  Without USERNS_FD the outer
 * process is born in a new user namespace that we map here with newuidmap
 * from IDS; with it, the outer process joins the sidecar's mapped one (as
 * its owner we may enter it with no capability of our own).  Either way
 * init is created with CLONE_PARENT, so it is our child.  CLOSE_FDS: the
 * parent's fds neither may hold. */
static pid_t
spawn_init (const struct launch_init *a, int userns_fd, const struct launch_ids *ids,
            const int *close_fds, size_t n_close, rdind_error_t *err)
{
  int go[2], rep[2];
  pid_t outer, child = -1;
  int st, e = 0;

  if (pipe2 (go, O_CLOEXEC) < 0)
    return rdind_make_error (err, errno, "pipe");
  if (pipe2 (rep, O_CLOEXEC) < 0)
    {
      close (go[0]);
      close (go[1]);
      return rdind_make_error (err, errno, "pipe");
    }
  if (userns_fd < 0)
    outer = syscall (SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
  else
    outer = fork ();
  if (outer == 0)
    {
      close (go[1]);
      close (rep[0]);
      for (size_t i = 0; i < n_close; i++)
        close (close_fds[i]);
      launch_outer_main (a, userns_fd, go[0], rep[1]);
    }
  close (go[0]);
  close (rep[1]);
  if (outer < 0)
    {
      e = errno;
      close (go[1]);
      close (rep[0]);
      if (userns_fd < 0)
        return rdind_make_error (err, e,
                                 "create a user namespace: unprivileged user namespaces are refused "
                                 "here (sysctl, AppArmor or seccomp): run `rdind doctor`");
      return rdind_make_error (err, e, "fork");
    }
  if (userns_fd < 0
      && (launch_map_ids (outer, "newuidmap", getuid (), ids->uid_start, ids->uid_count, err) < 0
          || launch_map_ids (outer, "newgidmap", getgid (), ids->gid_start, ids->gid_count, err) < 0))
    {
      close (go[1]);
      close (rep[0]);
      kill (outer, SIGKILL);
      waitpid (outer, NULL, 0);
      return -1;
    }
  (void) !write (go[1], "g", 1);
  close (go[1]);
  if (read (rep[0], &e, sizeof e) != sizeof e)
    e = EIO;
  if (read (rep[0], &child, sizeof child) != sizeof child && e == 0)
    e = EIO;
  close (rep[0]);
  while (waitpid (outer, &st, 0) < 0 && errno == EINTR)
    ;
  if (e != 0)
    {
      if (child > 0)
        {
          kill (child, SIGKILL);
          waitpid (child, NULL, 0);
        }
      return rdind_make_error (err, e,
                               "create the daemon's namespaces (a user namespace nested in %s, with "
                               "mount, network and pid namespaces): a seccomp profile must allow "
                               "setns, unshare and clone with namespace flags (run the container "
                               "with contrib/seccomp.json), and user.max_user_namespaces must allow "
                               "two per daemon",
                               userns_fd < 0 ? "the launcher's" : "the sidecar's");
    }
  return child;
}

/* Re-logs dockerd's output, a line at a time, tagged src=dockerd, and keeps
 * a copy in dockerd.log (read back when dockerd dies).  FINAL: flush a last
 * line without its newline. */
struct outbuf
{
  char buf[8192];
  size_t len;
  int log_fd;
};

static void
relay_lines (struct outbuf *o, bool final)
{
  char fields[4096];
  size_t off = 0;

  while (off < o->len)
    {
      char *nl = memchr (o->buf + off, '\n', o->len - off);
      char line[sizeof o->buf + 1];
      size_t n;

      if (nl)
        n = (size_t) (nl - (o->buf + off));
      else if (final || (off == 0 && o->len == sizeof o->buf))
        n = o->len - off; /* a last or an overlong line */
      else
        break;
      memcpy (line, o->buf + off, n);
      line[n] = '\0';
      if (o->log_fd >= 0)
        {
          (void) !write (o->log_fd, line, n);
          (void) !write (o->log_fd, "\n", 1);
        }
      if (n)
        log_line (log_foreign_fields (line, fields, sizeof fields), "dockerd", fields);
      off += n + (nl ? 1 : 0);
    }
  o->len -= off;
  memmove (o->buf, o->buf + off, o->len);
}

static void
relay_read (int fd, struct outbuf *o)
{
  ssize_t n;
  while ((n = read (fd, o->buf + o->len, sizeof o->buf - o->len)) > 0)
    {
      o->len += (size_t) n;
      relay_lines (o, false);
    }
}


/* Execs ARGV with stdio on LOG (the helpers chat on stderr at every call:
 * keep it in a file), our signal mask restored, FDS inherited, and killed
 * if we die. */
static pid_t
spawn_net (char **argv, const char *log, const sigset_t *oldmask, const int *fds, size_t nfds)
{
  pid_t pid = fork ();
  if (pid != 0)
    return pid;
  int nul = open ("/dev/null", O_RDWR);
  int lfd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  sigprocmask (SIG_SETMASK, oldmask, NULL);
  dup2 (nul, 0);
  dup2 (lfd >= 0 ? lfd : nul, 1);
  dup2 (lfd >= 0 ? lfd : nul, 2);
  for (size_t i = 0; i < nfds; i++)
    fcntl (fds[i], F_SETFD, 0);
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  setsid (); /* the terminal's Ctrl-C is ours to handle, not its */
  execv (argv[0], argv);
  _exit (127);
}

/* Waits up to MS milliseconds for PID to end; true (STATUS filled) when it did. */
static bool
reap_within (pid_t pid, int ms, int *status)
{
  for (int i = 0; i < ms / 10; i++)
    {
      if (waitpid (pid, status, WNOHANG) == pid)
        return true;
      usleep (10000);
    }
  return false;
}

/* The error for a network helper that exited during setup: its status and
 * the tail of its log (its stderr). */
static int
net_exited (rdind_error_t *err, const char *name, const char *exe, int status, const char *log)
{
  cleanup_free char *text = NULL, *msg = NULL;
  read_file (log, &text, NULL, NULL);
  msg = launch_exit_describe (name, exe, status, text, log);
  return rdind_make_error (err, 0, "%s", msg);
}

/* slirp4netns: the child's only route out; --exit-fd makes it exit when we
 * do (even SIGKILLed), --ready-fd replaces polling. */
static pid_t
start_slirp (const struct launch_run *run, pid_t child, const char *api_sock, int ready[2],
             int exit_fd, const sigset_t *oldmask, rdind_error_t *err)
{
  char sp[32], rfd[32], efd[32], mtu[32], cidr[64];
  cleanup_free char *slirp_log = NULL, *api = NULL;
  /* Ten fixed arguments, the optional flags, and the terminating NULL. */
  cleanup_free char **argv = xmalloc ((11 + strv_len (run->slirp_args)) * sizeof *argv);
  int n = 0;

  xasprintf (&slirp_log, "%s/slirp4netns.log", run->state_dir);
  /* Only the slirp4netns port driver needs its API; whoever can reach that
   * socket can open host ports (add_hostfwd) behind dockerd's back, so it
   * lives in state_dir's private directory, masked from the daemon. */
  if (api_sock)
    xasprintf (&api, "--api-socket=%s", api_sock);
  snprintf (sp, sizeof sp, "%d", (int) child);
  snprintf (rfd, sizeof rfd, "--ready-fd=%d", ready[1]);
  snprintf (efd, sizeof efd, "--exit-fd=%d", exit_fd);
  snprintf (mtu, sizeof mtu, "--mtu=%llu", (unsigned long long) run->mtu);
  snprintf (cidr, sizeof cidr, "--cidr=%s", run->cidr);
  argv[n++] = (char *) run->slirp4netns;
  argv[n++] = "--configure";
  argv[n++] = mtu;
  argv[n++] = "--disable-host-loopback";
  for (char **a = run->slirp_args; a && *a; a++)
    argv[n++] = *a;
  argv[n++] = rfd;
  argv[n++] = efd;
  if (api)
    argv[n++] = api;
  argv[n++] = cidr;
  argv[n++] = sp;
  argv[n++] = "tap0";
  argv[n] = NULL;
  int keep[] = { ready[1], exit_fd };
  pid_t pid = spawn_net (argv, slirp_log, oldmask, keep, ARRAY_SIZE (keep));
  close (ready[1]);
  ready[1] = -1;
  struct pollfd p = { ready[0], POLLIN, 0 };
  char c = 0;
  if (pid < 0)
    return rdind_make_error (err, errno, "fork for slirp4netns");
  int pr = poll (&p, 1, 10000);
  ssize_t got = pr > 0 ? read (ready[0], &c, 1) : -1;
  if (got == 1 && c == '1')
    return pid;
  /* End of file on the ready pipe: slirp4netns closed it, nearly always by
   * exiting.  Say so, with how it ended and what it wrote, not a timeout. */
  int st;
  if (got == 0 && reap_within (pid, 2000, &st))
    return net_exited (err, "slirp4netns", run->slirp4netns, st, slirp_log);
  if (got == 0)
    rdind_make_error (err, 0, "slirp4netns (%s) closed its ready fd without becoming ready (see %s)",
                      run->slirp4netns, slirp_log);
  else
    rdind_make_error (err, 0, "slirp4netns (%s) did not become ready within 10 s (see %s)",
                      run->slirp4netns, slirp_log);
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  return -1;
}

/* pasta: the same addresses as slirp4netns (guest network + 100, gateway
 * + 2, DNS + 3 forwarded to the host's resolver), the same MTU, IPv4 only,
 * no port forwarding either way (published ports are the native driver's),
 * and the gateway not mapped to the host's loopback (slirp4netns's
 * --disable-host-loopback).  It stays our child (--foreground), dies with
 * us (PDEATHSIG), and writes its pid file once the interface is up: that is
 * the readiness we wait for. */
static pid_t
start_pasta (const struct launch_run *run, pid_t child, const sigset_t *oldmask,
             rdind_error_t *err)
{
  char sp[32], mtu[32];
  cleanup_free char *log = NULL, *pidfile = NULL, *guest = NULL, *gw = NULL, *dns = NULL;
  const char *bits = strchr (run->cidr, '/');

  xasprintf (&log, "%s/pasta.log", run->state_dir);
  xasprintf (&pidfile, "%s/pasta.pid", run->state_dir);
  unlink (pidfile);
  guest = launch_cidr_nth (run->cidr, 100);
  gw = launch_cidr_nth (run->cidr, 2);
  dns = launch_cidr_nth (run->cidr, 3);
  if (guest == NULL || gw == NULL || dns == NULL || bits == NULL)
    return rdind_make_error (err, 0, "launcher.cidr `%s`: expected an IPv4 network such as 10.0.2.0/24", run->cidr);
  snprintf (sp, sizeof sp, "%d", (int) child);
  snprintf (mtu, sizeof mtu, "%llu", (unsigned long long) run->mtu);
  char *argv[] = { (char *) run->pasta, "--foreground", "--quiet", "--ipv4-only", "--config-net",
                   "--ns-ifname", "tap0", "--mtu", mtu, "--address", guest, "--netmask",
                   (char *) bits + 1, "--gateway", gw, "--dns-forward", dns, "--no-map-gw",
                   "--tcp-ports", "none", "--udp-ports", "none", "--tcp-ns", "none", "--udp-ns",
                   "none", "--pid", pidfile, sp, NULL };
  pid_t pid = spawn_net (argv, log, oldmask, NULL, 0);
  if (pid < 0)
    return rdind_make_error (err, errno, "fork for pasta");
  for (int i = 0; i < 1000; i++)
    {
      struct stat sb;
      int st;
      if (stat (pidfile, &sb) == 0 && sb.st_size > 0)
        return pid;
      if (waitpid (pid, &st, WNOHANG) == pid)
        return net_exited (err, "pasta", run->pasta, st, log);
      usleep (10000);
    }
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  return rdind_make_error (err, 0, "pasta (%s) did not become ready within 10 s (see %s)", run->pasta, log);
}

/* The direct pull path (pullproxy.c): a listener on the namespace's
 * 127.0.0.1, made there by portd and served by a child of ours, which stays
 * in the host's namespace.  *ENV gets the lines init adds to dockerd's
 * environment.  -1 (logged) when the listener cannot be made: dockerd then
 * reaches registries through slirp4netns or pasta, as with pull_path = slirp. */
static pid_t
start_pull (const struct launch_run *run, int portd, const int *close_fds, size_t n_close, char **env)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t sl = sizeof sin;
  cleanup_free char *token = launch_pull_token (), *url = NULL, *no_proxy = NULL;
  const char *step = token ? "socket" : "getrandom";
  const char *user_np = getenv ("NO_PROXY");
  /* NO_PROXY, HTTP_PROXY and HTTPS_PROXY are the user's (rdind launch
   * passes them on): the upstream proxies we chain to, and what dockerd
   * must reach without any proxy. */
  int s = token ? launch_portd_socket (portd, AF_INET, false, 10000) : -1;
  pid_t pid;

  if (s >= 0)
    {
      step = "bind";
      if (bind (s, (struct sockaddr *) &sin, sizeof sin) == 0)
        {
          step = "listen";
          if (listen (s, 128) == 0)
            {
              step = "getsockname";
              if (getsockname (s, (struct sockaddr *) &sin, &sl) == 0)
                step = NULL;
            }
        }
    }
  if (step)
    {
      log_warn ("pull path: direct unavailable, registry traffic crosses the namespace's network", "step=%s error=%s",
                step, log_quote (0, strerror (errno)));
      if (s >= 0)
        close (s);
      return -1;
    }
  pid = fork ();
  if (pid == 0)
    {
      for (size_t i = 0; i < n_close; i++)
        if (close_fds[i] >= 0)
          close (close_fds[i]);
      launch_pull_main (s, token, getenv ("HTTP_PROXY"), getenv ("HTTPS_PROXY"));
    }
  close (s);
  if (pid < 0)
    {
      log_warn ("pull path: direct unavailable, registry traffic crosses the namespace's network", "step=fork error=%s",
                log_quote (0, strerror (errno)));
      return -1;
    }
  xasprintf (&url, "http://" LAUNCH_PULL_USER ":%s@127.0.0.1:%d", token, (int) ntohs (sin.sin_port));
  /* What must not go through the proxy: the namespace's own addresses,
   * which mean nothing in the host's namespace (dockerd's loopback, the
   * slirp4netns network, the default bridge where a registry container
   * may run), and what the user's NO_PROXY names. */
  xasprintf (&no_proxy, "localhost,127.0.0.0/8,::1,%s,172.17.0.0/16%s%s", run->cidr,
             user_np && *user_np ? "," : "", user_np && *user_np ? user_np : "");
  xasprintf (env, "HTTP_PROXY=%s\nHTTPS_PROXY=%s\nhttp_proxy=%s\nhttps_proxy=%s\nNO_PROXY=%s\nno_proxy=%s\n", url, url,
             url, url, no_proxy, no_proxy);
  {
    struct launch_pull_upstream h, hs;
    char hv[300] = "none", hsv[300] = "none";
    launch_pull_upstream_parse (getenv ("HTTP_PROXY"), &h);
    launch_pull_upstream_parse (getenv ("HTTPS_PROXY"), &hs);
    if (h.host[0])
      snprintf (hv, sizeof hv, "%s:%d", h.host, h.port);
    if (hs.host[0])
      snprintf (hsv, sizeof hsv, "%s:%d", hs.host, hs.port);
    free (h.auth);
    free (hs.auth);
    log_info ("pull path: direct", "proxy=127.0.0.1:%d pid=%d no_proxy=%s upstream_http=%s upstream_https=%s",
              (int) ntohs (sin.sin_port), (int) pid, log_quote (0, no_proxy), log_quote (1, hv), log_quote (2, hsv));
  }
  return pid;
}

int
main (int argc, char **argv)
{
  rdind_error_t err = NULL;
  struct launch_run run;
  cleanup_free char *guest = NULL, *dns = NULL, *api_path = NULL, *slirp_sock = NULL;
  cleanup_free char *log_path = NULL, *s = NULL, *pull_env = NULL;
  struct launch_api api = { 0 };
  int sync[2] = { -1, -1 }, ready[2] = { -1, -1 }, exitp[2] = { -1, -1 }, outp[2] = { -1, -1 };
  int portd[2] = { -1, -1 };
  bool native, pasta, pull_direct;
  cleanup_free struct outbuf *relay = xmalloc0 (sizeof *relay);
  sigset_t mask, oldmask;
  pid_t child, net_pid = -1, pull_pid = -1;
  int sfd, status = 1;
  bool stopping = false, dockerd_gone = false, net_lost = false;
  uint64_t deadline = 0;

  log_set_source ("launcher");
  /* Whoever started us (the sidecar) dying, even by SIGKILL, stops dockerd
   * as SIGTERM does: nothing of the account outlives its supervisor.  The
   * signal is blocked below and read from the signalfd like any other. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
  relay->log_fd = -1;
  if (launch_run_parse (&run, argc, argv, &err) < 0)
    return rdind_error_report (&err, 2);
  log_set_level (log_level_from_name (run.log_level, strlen (run.log_level)));
  native = run.port_driver == NULL || strcmp (run.port_driver, "native") == 0;
  pasta = launch_run_pasta (&run);
  pull_direct = run.pull_path == NULL || strcmp (run.pull_path, "direct") == 0;
  if (pasta && !native)
    {
      rdind_make_error (&err, 0, "--port-driver=slirp4netns needs --net=slirp4netns (pasta has no hostfwd API)");
      return rdind_error_report (&err, 2);
    }
  /* Whatever the front left open for us (the instance locks) stays ours
   * and init's: nothing we exec inherits it. */
  {
    DIR *d = opendir ("/proc/self/fd");
    struct dirent *de;
    while (d && (de = readdir (d)))
      {
        int fd = atoi (de->d_name);
        if (fd > 2 && fd != dirfd (d))
          fcntl (fd, F_SETFD, FD_CLOEXEC);
      }
    if (d)
      closedir (d);
  }
  /* Neither slirp4netns nor dockerd may inherit the sidecar's namespace fd. */
  if (run.userns_fd >= 0 && fcntl (run.userns_fd, F_SETFD, FD_CLOEXEC) < 0)
    {
      rdind_make_error (&err, errno,
                        "--userns-fd=%d is not open: start `rdind launch`, which passes it",
                        run.userns_fd);
      return rdind_error_report (&err, 2);
    }
  if (launch_cidr_hosts (run.cidr, &guest, &dns, &err) < 0)
    return rdind_error_report (&err, 2);
  xasprintf (&api_path, "%s/api.sock", run.rootlesskit_dir);
  xasprintf (&slirp_sock, "%s/" LAUNCH_PRIVATE_DIR "/slirp4netns.sock", run.state_dir);
  xasprintf (&log_path, "%s/dockerd.log", run.state_dir);
  unlink (slirp_sock);

  if (launch_api_listen (&api, api_path, slirp_sock, guest, &err) < 0)
    return rdind_error_report (&err, 1);

  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGHUP);
  sigaddset (&mask, SIGPIPE);
  sigprocmask (SIG_BLOCK, &mask, &oldmask);
  sigdelset (&mask, SIGPIPE);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  if (pipe2 (sync, O_CLOEXEC) < 0 || pipe2 (ready, O_CLOEXEC) < 0 || pipe2 (exitp, O_CLOEXEC) < 0
      || pipe2 (outp, O_CLOEXEC) < 0)
    {
      rdind_make_error (&err, errno, "pipe");
      return rdind_error_report (&err, 1);
    }
  /* The native port driver and the direct pull path: a helper in the
   * namespace (init's child) makes the sockets we forward to or listen on;
   * SEQPACKET keeps each answer one message. */
  if (native || pull_direct)
    {
      if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, portd) < 0)
        {
          rdind_make_error (&err, errno, "socketpair for the port helper");
          return rdind_error_report (&err, 1);
        }
    }
  if (native)
    {
      if ((api.fwd = launch_fwd_new (portd[0], &err)) == NULL)
        {
          if (err == NULL)
            rdind_make_error (&err, errno, "socketpair for the port helper");
          return rdind_error_report (&err, 1);
        }
      /* Each forwarded connection holds two sockets and two pipes. */
      struct rlimit rl;
      if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
        {
          rl.rlim_cur = rl.rlim_max;
          setrlimit (RLIMIT_NOFILE, &rl);
        }
    }
  relay->log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  fcntl (outp[0], F_SETFL, O_NONBLOCK);

  /* bubblewrap's handshake: the child is born in its namespaces and waits
   * on SYNC while we write its id maps from outside (only newuidmap, with
   * its setuid bit or file capability, may map the subordinate range), or,
   * with the sidecar's prepared namespace, simply until the network is up. */
  {
    struct launch_init a = { sync[0], outp[1], run.dockerd_argv, environ, run.state_dir,
                             run.docker_sock, dns, launch_ns_flags (run.namespaces), run.hide,
                             portd[1], run.cgroup_fd >= 0 };
    /* In a delegated R init makes its cgroup namespace itself, once it
     * is sure to be R's root (launch_cgroup_init_ns). */
    if (a.cgroup)
      a.ns_flags &= ~CLONE_NEWCGROUP;
    /* Init holds none of the parent's pipes: slirp4netns's exit fd must
     * reach EOF when the parent dies, whatever init does. */
    int close_fds[] = { sync[1], api.fd, ready[0], ready[1], exitp[0],
                        exitp[1], sfd,    outp[0],  relay->log_fd, portd[0] };
    child = spawn_init (&a, run.userns_fd, &run.ids, close_fds, ARRAY_SIZE (close_fds), &err);
  }
  close (sync[0]);
  close (outp[1]);
  if (portd[1] >= 0)
    close (portd[1]);
  if (run.userns_fd >= 0)
    close (run.userns_fd);
  /* R must hold no process when init hands it controllers: we leave for
   * R/launcher before init goes on (slirp4netns and pasta follow us). */
  if (run.cgroup_fd >= 0)
    {
      if (child >= 0 && launch_cgroup_move_self (run.cgroup_fd, "launcher") < 0)
        log_warn ("cgroup: cannot move the launcher into its leaf", "error=%s", log_quote (0, strerror (errno)));
      close (run.cgroup_fd);
    }
  if (child < 0)
    {
      launch_api_close (&api);
      return rdind_error_report (&err, 1);
    }
  api.child_pid = child;
  api.proxies_only = true;
  if (write (sync[1], "g", 1) != 1)
    goto child_died;

  net_pid = pasta ? start_pasta (&run, child, &oldmask, &err)
                    : start_slirp (&run, child, native ? NULL : slirp_sock, ready, exitp[0], &oldmask, &err);
  close (ready[1]);
  close (ready[0]);
  close (exitp[0]);
  if (net_pid < 0)
    {
      kill (child, SIGKILL);
      waitpid (child, NULL, 0);
      launch_api_close (&api);
      return rdind_error_report (&err, 1);
    }
  api.slirp_pid = pasta ? -1 : net_pid;
  api.net = pasta ? "pasta" : NULL;
  log_info (pasta ? "pasta ready" : "slirp4netns ready", "pid=%d cidr=%s mtu=%llu",
            (int) net_pid, run.cidr, (unsigned long long) run.mtu);
  if (pull_direct)
    {
      int close_fds[] = { sync[1], api.fd, exitp[1], sfd, outp[0], relay->log_fd, portd[0] };
      pull_pid = start_pull (&run, portd[0], close_fds, ARRAY_SIZE (close_fds), &pull_env);
      /* Without the native driver portd served its one socket: closing
       * our end ends it. */
      if (!native)
        {
          close (portd[0]);
          portd[0] = -1;
        }
    }
  else
    log_info ("pull path: slirp", "via=%s", pasta ? "pasta" : "slirp4netns");
  if (write (sync[1], "n", 1) != 1
      || (pull_env && write (sync[1], pull_env, strlen (pull_env)) != (ssize_t) strlen (pull_env)))
    goto child_died;
  close (sync[1]);
  sync[1] = -1;
  log_info ("dockerd starting", "init_pid=%d socket=%s log=%s", (int) child, run.docker_sock,
            log_path);

  int fwd_timeout = -1;
  for (;;)
    {
      struct pollfd p[4] = { { sfd, POLLIN, 0 },
                             { api.fd, POLLIN, 0 },
                             { outp[0], POLLIN, 0 },
                             { api.fwd ? launch_fwd_fd (api.fwd) : -1, POLLIN, 0 } };
      int timeout = fwd_timeout;
      if (stopping)
        {
          uint64_t now = now_ms ();
          int left = deadline > now ? (int) (deadline - now) : 0;
          timeout = timeout < 0 || left < timeout ? left : timeout;
        }
      int r = poll (p, 4, timeout);
      if (api.fwd && (p[3].revents & POLLIN || r == 0))
        fwd_timeout = launch_fwd_dispatch (api.fwd);
      if (r < 0 && errno != EINTR)
        break;
      if (stopping && now_ms () >= deadline)
        {
          log_warn ("dockerd did not stop in time, killing the namespace", "stop_timeout=%llu",
                    (unsigned long long) run.stop_timeout);
          kill (child, SIGKILL);
          deadline = UINT64_MAX;
        }
      if (p[1].revents & POLLIN)
        launch_api_serve_one (&api);
      if (outp[0] >= 0 && (p[2].revents & (POLLIN | POLLHUP)))
        {
          relay_read (outp[0], relay);
          if (p[2].revents & POLLHUP && !(p[2].revents & POLLIN))
            {
              relay_lines (relay, true);
              close (outp[0]);
              outp[0] = -1;
            }
        }
      if (p[0].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          while (read (sfd, &si, sizeof si) == sizeof si)
            {
              if (si.ssi_signo == SIGCHLD)
                {
                  int st;
                  pid_t w;
                  while ((w = waitpid (-1, &st, WNOHANG)) > 0)
                    {
                      if (w == child)
                        {
                          status = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
                          dockerd_gone = true;
                        }
                      else if (w == pull_pid)
                        {
                          /* Pulls now fail with a refused connection (dockerd
                           * says so); the daemon's containers run on. */
                          pull_pid = -1;
                          if (!stopping)
                            log_error ("pull path: the proxy exited; pulls fail until rdind restarts",
                                       "status=%d", WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st));
                        }
                      else if (w == net_pid)
                        {
                          net_pid = -1;
                          net_lost = true;
                          if (!stopping)
                            {
                              log_error (pasta ? "pasta exited; stopping dockerd"
                                               : "slirp4netns exited; stopping dockerd", NULL);
                              stopping = true;
                              deadline = now_ms () + run.stop_timeout * 1000;
                              kill (child, SIGTERM);
                            }
                        }
                    }
                }
              else if (!stopping)
                {
                  log_info ("stopping dockerd", "signal=%d stop_timeout=%llu", (int) si.ssi_signo,
                            (unsigned long long) run.stop_timeout);
                  stopping = true;
                  deadline = now_ms () + run.stop_timeout * 1000;
                  kill (child, SIGTERM);
                }
              else
                {
                  log_warn ("second signal: killing the namespace", NULL);
                  kill (child, SIGKILL);
                }
            }
        }
      if (dockerd_gone)
        break;
    }

  if (outp[0] >= 0)
    {
      relay_read (outp[0], relay);
      relay_lines (relay, true);
    }
  if (!stopping)
    {
      log_error ("dockerd exited", "status=%d", status);
      tail_log (log_path, 20);
    }
  else
    log_info ("dockerd stopped", "status=%d", status);
  /* dockerd stopped cleanly, but because its network went away: that is a
   * failure for whoever supervises us (the sidecar restarts on failure). */
  if (net_lost && status == 0)
    status = 1;
  goto out;

child_died:
  waitpid (child, &status, 0);
  status = 1;
  log_error ("namespace setup failed", NULL);
out:
  /* Closing the exit fd is slirp4netns's signal to leave; pasta has none. */
  close (exitp[1]);
  if (net_pid > 0)
    {
      if (pasta)
        kill (net_pid, SIGTERM);
      uint64_t end = now_ms () + 3000;
      while (waitpid (net_pid, NULL, WNOHANG) == 0)
        {
          if (now_ms () > end)
            {
              kill (net_pid, SIGKILL);
              waitpid (net_pid, NULL, 0);
              break;
            }
          usleep (20000);
        }
    }
  if (pull_pid > 0)
    {
      kill (pull_pid, SIGKILL);
      waitpid (pull_pid, NULL, 0);
    }
  launch_api_close (&api);
  launch_fwd_free (api.fwd);
  unlink (slirp_sock);
  if (sync[1] >= 0)
    close (sync[1]);
  if (outp[0] >= 0)
    close (outp[0]);
  if (relay->log_fd >= 0)
    close (relay->log_fd);
  close (sfd);
  launch_run_release (&run);
  return status;
}
