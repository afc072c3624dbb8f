/* rdind - `rdind launch`: a rootless dockerd without rootlesskit.
 *
 * This front reads the configuration, checks the machine (preflight), picks
 * the storage driver, resolves the executables and builds dockerd's command
 * line and environment; then it execs rdind-launch (run.c, init.c), the part
 * that stays resident while dockerd runs, with those settings:
 *   rdind-launch (host namespaces: id maps, slirp4netns, port API, signals)
 *    ├─ slirp4netns  (joins the child's netns; exits with us via --exit-fd)
 *    ├─ rdind-pullproxy (dockerd's registry traffic from the host's netns)
 *    └─ rdind-init   (pid 1 of new user+mount+net+pid namespaces, nested in
 *        │            an outer user namespace that masks certdir: mounts,
 *        │            reaps, forwards signals; its exit kills the namespace)
 *        └─ dockerd  (rootless mode, unix socket only)
 */
#include "config.h"

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "conf.h"
#include "launch.h"
#include "launch-int.h"
#include "log.h"
#include "util.h"

/* --- the front: resolve everything, then exec rdind-launch --- */

/* Whether the user chose dockerd's cgroup driver: in DOCKERD_ARGS, or an
 * "exec-opts" in the daemon.json dockerd reads (CFG_PATH, or rootless
 * dockerd's default under XDG_CONFIG_HOME or HOME), where a flag of ours
 * would be refused by dockerd as a directive given twice. */
bool
launch_cgroup_driver_chosen (char *const *dockerd_args, const char *cfg_path)
{
  cleanup_free char *dflt = NULL;
  for (char *const *a = dockerd_args; a && *a; a++)
    if (strstr (*a, "native.cgroupdriver"))
      return true;
  if (!cfg_path)
    {
      const char *ch = getenv ("XDG_CONFIG_HOME");
      if (ch && *ch)
        xasprintf (&dflt, "%s/docker/daemon.json", ch);
      else
        xasprintf (&dflt, "%s/.config/docker/daemon.json", getenv ("HOME") ? getenv ("HOME") : "");
      cfg_path = dflt;
    }
  json_t *cfg = json_load_file (cfg_path, 0, NULL);
  bool has = json_is_object (cfg) && json_object_get (cfg, "exec-opts") != NULL;
  json_decref (cfg);
  return has;
}

/* NAME beside this binary (a build tree: the tests run rdind from there),
 * else in the first of DIRS (where `make install` puts it) that has it. */
static char *
find_program (const char *name, const char *const *dirs)
{
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  char *p = NULL;

  if (n > 0)
    {
      self[n] = '\0';
      xasprintf (&p, "%s/%s", dirname (self), name);
      if (access (p, X_OK) == 0)
        return p;
      free (steal_pointer (&p));
    }
  for (; *dirs; dirs++)
    {
      xasprintf (&p, "%s/%s", *dirs, name);
      if (access (p, X_OK) == 0)
        return p;
      free (steal_pointer (&p));
    }
  return NULL;
}

static char *
find_proxy (void)
{
  static const char *const dirs[] = { BINDIR, LIBEXECDIR, NULL };
  char *p = find_program ("rdind-docker-proxy", dirs);
  return p ? p : launch_find_exe ("rdind-docker-proxy");
}

/* rdind-launch, the resident part (run.c). */
static char *
find_helper (void)
{
  static const char *const dirs[] = { PKGLIBEXECDIR, NULL };
  return find_program ("rdind-launch", dirs);
}

static void
setenv_strv (char ***env, const char *k, const char *v)
{
  char *kv = NULL;
  xasprintf (&kv, "%s=%s", k, v);
  strv_append (env, kv);
  free (kv);
}

/* The hardening flags this slirp4netns knows (its releases added them over
 * time), from one --help run: each run costs start-up time. */
static void
slirp_hardening (const char *slirp, char *args[3])
{
  static const char *const flags[] = { "--enable-sandbox", "--enable-seccomp" };
  cleanup_free char *out = NULL;
  char *argv[] = { (char *) slirp, "--help", NULL };
  int n = 0;

  launch_run_wait (argv, &out);
  for (size_t i = 0; i < ARRAY_SIZE (flags); i++)
    if (out && strstr (out, flags[i]))
      args[n++] = (char *) flags[i];
  args[n] = NULL;
}

int
launch_subid_require (const char *file, const char *user, uid_t uid, uint64_t *start, uint64_t *count,
                      rdind_error_t *err)
{
  int r = launch_subid_lookup (file, user, uid, start, count, err);
  if (r < 0)
    return r;
  if (r == 0)
    {
      cleanup_free char *fix = launch_subid_advice (user, NULL);
      return rdind_make_error (err, 0, "%s has no range for user %s: add a free one with `%s` (as root)",
                               file, user ? user : "?", fix);
    }
  if (*count < 65536)
    return rdind_make_error (err, 0, "%s gives user %s only %llu ids; dockerd's images need 65536: widen the range to 65536",
                             file, user ? user : "?", (unsigned long long) *count);
  return 0;
}

int
launch_preflight (const struct rdind_conf *conf, struct launch_ids *ids, bool have_userns,
                  rdind_error_t *err)
{
  struct passwd *pw = getpwuid (getuid ());
  const char *user = pw ? pw->pw_name : NULL;
  const char *files[2] = { "/etc/subuid", "/etc/subgid" };
  uint64_t *starts[2] = { &ids->uid_start, &ids->gid_start };
  uint64_t *counts[2] = { &ids->uid_count, &ids->gid_count };
  int fd;

  if (geteuid () == 0)
    return rdind_make_error (err, 0,
                             "rdind launch runs as an unprivileged user: as root, start `rdind "
                             "sidecar` (it drops to sidecar.user) or use setpriv/su");
  /* Without any cgroup file system dockerd starts and answers, then runc
   * fails every container: refuse here, where it can be said plainly. */
  {
    struct launch_cgroup_facts cg = { 0 };
    launch_cgroup_probe_mounts (&cg);
    if (!launch_cgroup_usable (&cg))
      return rdind_make_error (err, cg.statfs_errno,
                               "no cgroup file system is mounted on /sys/fs/cgroup (and no reachable v1 "
                               "hierarchy in /proc/self/mountinfo): every `docker run` would fail with "
                               "`no cgroup mount found in mountinfo`; " LAUNCH_CGROUP_MOUNT_FIX);
  }
  /* The sidecar mapped the subordinate ids while it was root: no /etc/subuid
   * lookup, newuidmap or user namespace creation is needed here. */
  for (int i = 0; i < 2 && !have_userns; i++)
    if (launch_subid_require (files[i], user, getuid (), starts[i], counts[i], err) < 0)
      return -1;
  /* Probe for real in a throw-away child: a seccomp filter (Docker's default
   * profile), a sysctl or AppArmor can each refuse a user namespace, and only
   * trying tells which machine we are on. */
  if (!have_userns)
  {
    pid_t pid = fork ();
    int st = 0;
    if (pid == 0)
      _exit (unshare (CLONE_NEWUSER) == 0 ? 0 : (errno & 0x7f) + 1);
    if (pid > 0 && waitpid (pid, &st, 0) == pid && WIFEXITED (st) && WEXITSTATUS (st) != 0)
      return rdind_make_error (err, WEXITSTATUS (st) - 1,
                               "cannot create a user namespace: a seccomp profile, "
                               "kernel.unprivileged_userns_clone/user.max_user_namespaces or AppArmor "
                               "forbids it; run the container with rdind's seccomp profile "
                               "(--security-opt seccomp=contrib/seccomp.json)");
  }
  fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return rdind_make_error (err, errno,
                             "open /dev/net/tun (slirp4netns and pasta need it): fix with `chmod 0666 "
                             "/dev/net/tun`, or pass the device to the container (--device "
                             "/dev/net/tun), or start rdind sidecar as root so it creates it");
  close (fd);
  return 0;
}

/* The fd named by RDIND_USERNS_FD, checked to be a user namespace; -1 when
 * the variable is absent.  The variable is removed so that nothing we start
 * believes it owns the fd. */
static int
take_userns_fd (rdind_error_t *err)
{
  const char *v = getenv (LAUNCH_USERNS_FD_ENV);
  char *end;
  long fd;

  if (v == NULL)
    return -1;
  errno = 0;
  fd = strtol (v, &end, 10);
  unsetenv (LAUNCH_USERNS_FD_ENV);
  if (*v == '\0' || *end || errno || fd < 3 || fd > 1024)
    return rdind_make_error (err, 0, "%s='%s' is not an fd number (it is set by rdind sidecar; unset it)",
                             LAUNCH_USERNS_FD_ENV, v);
  if (ioctl ((int) fd, NS_GET_NSTYPE) != CLONE_NEWUSER)
    return rdind_make_error (err, errno, "%s=%ld is not a user namespace (it is set by rdind sidecar; unset it)",
                             LAUNCH_USERNS_FD_ENV, fd);
  fcntl ((int) fd, F_SETFD, FD_CLOEXEC);
  return (int) fd;
}

/* The fd named by RDIND_CGROUP_FD (the sidecar's delegated cgroup), checked
 * to be a cgroup v2 directory; -1 when absent.  Like the user namespace's,
 * the variable goes: nothing we start may think it owns the fd. */
static int
take_cgroup_fd (rdind_error_t *err)
{
  const char *v = getenv (LAUNCH_CGROUP_FD_ENV);
  struct statfs sf;
  char *end;
  long fd;

  if (v == NULL)
    return -1;
  errno = 0;
  fd = strtol (v, &end, 10);
  unsetenv (LAUNCH_CGROUP_FD_ENV);
  if (*v == '\0' || *end || errno || fd < 3 || fd > 1024)
    return rdind_make_error (err, 0, "%s='%s' is not an fd number (it is set by rdind sidecar; unset it)",
                             LAUNCH_CGROUP_FD_ENV, v);
  if (fstatfs ((int) fd, &sf) < 0 || sf.f_type != 0x63677270 /* CGROUP2_SUPER_MAGIC */)
    return rdind_make_error (err, errno, "%s=%ld is not a cgroup v2 directory (it is set by rdind sidecar; unset it)",
                             LAUNCH_CGROUP_FD_ENV, fd);
  fcntl ((int) fd, F_SETFD, FD_CLOEXEC);
  return (int) fd;
}

/* The proxy variables of the user's environment, upper and lower case. */
static const char *const proxy_vars[][2] = { { "HTTP_PROXY", "http_proxy" },
                                             { "HTTPS_PROXY", "https_proxy" },
                                             { "NO_PROXY", "no_proxy" } };

int
rdind_cmd_launch (struct rdind_conf *conf, int argc, char **argv)
{
  rdind_error_t err = NULL;
  struct launch_ids ids = { 0 };
  cleanup_free char *dockerd = NULL, *net_exe = NULL, *proxy = NULL, *helper = NULL;
  cleanup_free char *driver = NULL, *why = NULL;
  cleanup_free char *rkdir = NULL, *docker_sock = NULL;
  cleanup_free char *exec_root = NULL, *pidfile = NULL, *s = NULL;
  cleanup_strv char **dargv = NULL;
  cleanup_strv char **denv = NULL;
  cleanup_strv char **hargv = NULL;
  cleanup_strv char **hide = NULL;
  char *slirp_args[3] = { NULL, NULL, NULL };
  int userns_fd, cgroup_fd, lock_fds[3] = { -1, -1, -1 };

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          printf ("usage: rdind launch\n  Runs a rootless dockerd in the foreground on "
                  "unix://$state_dir/docker.sock; SIGTERM stops it.\n");
          return 0;
        }
      fprintf (stderr, "rdind launch: unknown argument `%s` (see rdind launch --help)\n", argv[i]);
      return 2;
    }
  log_set_source ("launcher");
  conf_resolve_paths (conf);
  /* An upstream proxy the direct pull path cannot speak to is refused
   * before anything starts (restarting cannot help: exit as for a missing
   * requirement, so the sidecar does not retry). */
  if (strcmp (conf->pull_path, "direct") == 0)
    for (size_t i = 0; i < ARRAY_SIZE (proxy_vars) - 1; i++)
      {
        const char *v = getenv (proxy_vars[i][0]) ? getenv (proxy_vars[i][0]) : getenv (proxy_vars[i][1]);
        struct launch_pull_upstream up;
        if (v && *v && launch_pull_upstream_parse (v, &up) < 0)
          {
            rdind_make_error (&err, 0,
                              "%s is not a plain http://[user:password@]host[:port] proxy: launcher.pull_path = "
                              "direct chains only to such a proxy; fix %s, or set pull_path = slirp (dockerd "
                              "then uses it itself, from the namespace)",
                              proxy_vars[i][0], proxy_vars[i][0]);
            rdind_error_report (&err, 2);
            return LAUNCH_EXIT_REQUIREMENTS;
          }
        if (v && *v)
          free (up.auth);
      }
  userns_fd = take_userns_fd (&err);
  if (err)
    return rdind_error_report (&err, 2);
  cgroup_fd = take_cgroup_fd (&err);
  if (err)
    return rdind_error_report (&err, 2);
  /* A delegated cgroup: this start's own subtree R, which we enter now
   * (rdind-launch keeps our pid, and init is born in R). */
  if (cgroup_fd >= 0)
    {
      cleanup_free char *why = NULL;
      int d = cgroup_fd;
      if (launch_cgroup_enter (d, &cgroup_fd, &why) < 0)
        log_warn ("cgroup: cannot use the delegated subtree; containers run without limits", "error=%s",
                  log_quote (0, why));
      close (d);
    }

  if (launch_preflight (conf, &ids, userns_fd >= 0, &err) < 0)
    {
      /* A missing requirement will not go away by restarting: print the
       * doctor's report (every check and its fix) and exit with the status
       * the sidecar reads as "do not restart". */
      rdind_error_wrap (&err, "preflight (run `rdind doctor` for every check)");
      rdind_error_report (&err, 1);
      launch_doctor_run (conf, false, userns_fd >= 0, stderr);
      return LAUNCH_EXIT_REQUIREMENTS;
    }
  dockerd = launch_find_exe (conf->dockerd);
  bool pasta = strcmp (conf->net, "pasta") == 0;
  const char *net_name = pasta ? conf->pasta : conf->slirp4netns;
  net_exe = launch_find_exe (net_name);
  proxy = find_proxy ();
  helper = find_helper ();
  if (dockerd == NULL || net_exe == NULL || proxy == NULL || helper == NULL)
    {
      rdind_make_error (&err, 0, "%s not found: %s",
                        dockerd == NULL  ? conf->dockerd
                        : net_exe == NULL  ? net_name
                        : proxy == NULL  ? "rdind-docker-proxy"
                                         : "rdind-launch",
                        dockerd == NULL  ? "install docker.io (or set launcher.dockerd)"
                        : net_exe == NULL && pasta ? "install passt (or set launcher.pasta)"
                        : net_exe == NULL  ? "install slirp4netns (or set launcher.slirp4netns)"
                        : proxy == NULL  ? "install it beside rdind"
                                         : "reinstall rdind (`make install` puts it in "
                                           PKGLIBEXECDIR ")");
      return rdind_error_report (&err, 1);
    }
  if (launch_cidr_hosts (conf->cidr, NULL, NULL, &err) < 0)
    return rdind_error_report (&err, 2);
  if (mkdir_p (conf->state_dir, 0700, &err) < 0 || mkdir_p (conf->data_root, 0700, &err) < 0)
    return rdind_error_report (&err, 1);
  /* Held until dockerd is gone: rdind-launch keeps these fds (not
   * close-on-exec) and init inherits them. */
  if (launch_lock_dir (conf->state_dir, "launcher.state_dir", &lock_fds[0], &err) < 0
      || launch_lock_dir (conf->data_root, "launcher.data_root", &lock_fds[1], &err) < 0)
    return rdind_error_report (&err, 1);
  /* The sidecar's lock covers its launchers; this one covers a launcher
   * still stopping its dockerd after its sidecar was killed, when a new
   * sidecar has already taken the state (the new launcher fails and its
   * sidecar retries with its backoff). */
  if (launch_lock_file (conf->state_dir, "rdind-launch.lock", "launcher.state_dir", false, &lock_fds[2],
                        &err) < 0)
    return rdind_error_report (&err, 1);
  if (launch_hide_paths (conf->certdir, conf->state_dir, conf->data_root, &hide, &err) < 0)
    return rdind_error_report (&err, 2);
  {
    cleanup_free char *priv = NULL;
    char rp[PATH_MAX];
    xasprintf (&priv, "%s/" LAUNCH_PRIVATE_DIR, conf->state_dir);
    if (mkdir_p (priv, 0700, &err) < 0)
      return rdind_error_report (&err, 1);
    strv_append (&hide, realpath (priv, rp) ? rp : priv);
  }
  xasprintf (&rkdir, "%s/rootlesskit", conf->state_dir);
  xasprintf (&exec_root, "%s/exec", conf->state_dir);
  xasprintf (&pidfile, "%s/docker.pid", conf->state_dir);
  docker_sock = launch_docker_sock_path (conf);
  if (mkdir_p (rkdir, 0700, &err) < 0)
    return rdind_error_report (&err, 1);
  /* Each launch has a fresh pid namespace, so a pid file left by a killed
   * dockerd is always stale, and its pid (small numbers) is likely reused by
   * the new dockerd itself, which then refuses to start. */
  unlink (pidfile);
  /* The same holds for the containerd that dockerd starts: dockerd trusts
   * exec/containerd/containerd.pid and, when that small pid names some new
   * process in the fresh namespace, waits for a containerd that never comes. */
  {
    cleanup_free char *cpid = NULL;
    xasprintf (&cpid, "%s/containerd/containerd.pid", exec_root);
    unlink (cpid);
  }

  if (launch_pick_storage (conf, &driver, &why, &err) < 0)
    return rdind_error_report (&err, 1);
  log_info ("storage driver", "driver=%s why=%s", driver, log_quote (0, why));

  /* dockerd's command line and environment (built before the fork: the
   * child only execs). */
  strv_append (&dargv, dockerd);
  xasprintf (&s, "--host=unix://%s", docker_sock);
  strv_append (&dargv, s);
  free (steal_pointer (&s));
  xasprintf (&s, "--data-root=%s", conf->data_root);
  strv_append (&dargv, s);
  free (steal_pointer (&s));
  xasprintf (&s, "--exec-root=%s", exec_root);
  strv_append (&dargv, s);
  free (steal_pointer (&s));
  xasprintf (&s, "--pidfile=%s", pidfile);
  strv_append (&dargv, s);
  free (steal_pointer (&s));
  xasprintf (&s, "--userland-proxy-path=%s", proxy);
  strv_append (&dargv, s);
  free (steal_pointer (&s));
  xasprintf (&s, "--storage-driver=%s", driver);
  strv_append (&dargv, s);
  free (steal_pointer (&s));
  /* The default bridge at the tap device's MTU: containers hand slirp4netns
   * 64 KiB segments instead of 1500-byte ones, which is most of its cost
   * (bench/bench-ports.sh: egress about 3x).  Not with pasta, whose 2023
   * release loses throughput with large segments from a bridge.  An --mtu
   * in dockerd_args wins. */
  {
    bool user_mtu = false;
    for (char **a = conf->dockerd_args; a && *a; a++)
      user_mtu |= strncmp (*a, "--mtu", 5) == 0;
    if (!pasta && !user_mtu)
      {
        xasprintf (&s, "--mtu=%llu", (unsigned long long) conf->mtu);
        strv_append (&dargv, s);
        free (steal_pointer (&s));
      }
  }
  /* dockerd's own configuration file, written by rdind when it has
   * something to say there:
   *  - with the API policy denying host namespaces to any peer, BuildKit
   *    must refuse the network.host entitlement (`docker buildx build
   *    --network host` asks for it over /grpc, where the endpoint cannot
   *    read it) and security.insecure;
   *  - [cache] registry_mirror and insecure_registries, which dockerd's
   *    BuildKit takes from the daemon as well.
   * A --config-file in dockerd_args is the user's to keep: then the log
   * says what it must hold. */
  cleanup_free char *cfg_path = NULL; /* the daemon.json dockerd reads; NULL: its default */
  {
    bool deny_host = conf_yes (conf->policy.enabled) && !conf_yes (conf->policy.allow_host_namespaces);
    bool user_cfg = false;
    for (size_t i = 0; conf_yes (conf->policy.enabled) && i < conf->n_peer_policies; i++)
      deny_host |= !conf_yes (conf->peer_policies[i].policy.allow_host_namespaces);
    for (char **a = conf->dockerd_args; a && *a; a++)
      if (strncmp (*a, "--config-file", 13) == 0)
        {
          user_cfg = true;
          free (cfg_path);
          cfg_path = xstrdup ((*a)[13] == '=' ? *a + 14 : (a[1] ? a[1] : ""));
        }
    json_t *cfg = json_object ();
    if (deny_host)
      json_object_set_new (cfg, "builder",
                           json_pack ("{s:{s:b,s:b}}", "Entitlements", "network-host", 0, "security-insecure", 0));
    if (conf->cache_registry_mirror && *conf->cache_registry_mirror)
      json_object_set_new (cfg, "registry-mirrors", json_pack ("[s]", conf->cache_registry_mirror));
    if (conf->cache_insecure_registries && *conf->cache_insecure_registries)
      {
        json_t *a = json_array ();
        for (char **r = conf->cache_insecure_registries; *r; r++)
          json_array_append_new (a, json_string (*r));
        json_object_set_new (cfg, "insecure-registries", a);
      }
    if (json_object_size (cfg) && user_cfg)
      {
        cleanup_free char *want = json_dumps (cfg, JSON_COMPACT);
        log_warn ("dockerd_args has --config-file: it must hold what rdind would have written there",
                  "settings=%s", log_quote (0, want ? want : "?"));
      }
    else if (!json_object_size (cfg) && cgroup_fd >= 0)
      {
        /* Without RootlessKit's environment dockerd would read the
         * system's /etc/docker/daemon.json: keep reading the account's,
         * as rootless mode does, or none. */
        cleanup_free char *xdg = NULL;
        const char *ch = getenv ("XDG_CONFIG_HOME");
        if (ch && *ch)
          xasprintf (&xdg, "%s/docker/daemon.json", ch);
        else
          xasprintf (&xdg, "%s/.config/docker/daemon.json", getenv ("HOME") ? getenv ("HOME") : "");
        if (!user_cfg && access (xdg, R_OK) == 0)
          xasprintf (&s, "--config-file=%s", xdg);
        else if (!user_cfg)
          {
            cleanup_free char *path = NULL;
            xasprintf (&path, "%s/daemon.json", conf->state_dir);
            if (write_file_atomic (path, "{}\n", 3, 0600, &err) < 0)
              {
                json_decref (cfg);
                return rdind_error_report (&err, 1);
              }
            xasprintf (&s, "--config-file=%s", path);
          }
        if (s)
          {
            cfg_path = xstrdup (s + strlen ("--config-file="));
            strv_append (&dargv, s);
            free (steal_pointer (&s));
          }
      }
    else if (json_object_size (cfg))
      {
        cleanup_free char *path = NULL;
        char *text = json_dumps (cfg, JSON_INDENT (2));
        int r;
        xasprintf (&path, "%s/daemon.json", conf->state_dir);
        r = write_file_atomic (path, text, strlen (text), 0600, &err);
        free (text);
        if (r < 0)
          {
            json_decref (cfg);
            return rdind_error_report (&err, 1);
          }
        xasprintf (&s, "--config-file=%s", path);
        strv_append (&dargv, s);
        free (steal_pointer (&s));
        cfg_path = steal_pointer (&path);
      }
    json_decref (cfg);
  }
  /* The cgroupfs driver, unless the user chose one: dockerd 26 picks
   * systemd on a v2 host whose /run/systemd/system it sees (copied up),
   * then finds no manager of ours (no limits, delegated) or asks for the
   * account's session slice, which is not in its view, and every start
   * fails (not delegated).  Rootless dockerd turns cgroupfs into "none",
   * which is what runs without delegation on v1 and v2 alike. */
  if (!launch_cgroup_driver_chosen (conf->dockerd_args, cfg_path))
    strv_append (&dargv, "--exec-opt=native.cgroupdriver=cgroupfs");
  for (char **a = conf->dockerd_args; a && *a; a++)
    strv_append (&dargv, *a);

  /* dockerd's rootless mode keys on ROOTLESSKIT_STATE_DIR (moby
   * pkg/rootless); its userland proxy finds our port API there.  With a
   * delegated cgroup dockerd runs without it, as uid 0 of our user
   * namespace ("rootful in rootless"): rootless mode without systemd
   * forces the cgroup driver "none" (moby#42910), this keeps cgroupfs;
   * the proxy then finds the API through RDIND_PORT_DIR. */
  if (cgroup_fd >= 0)
    setenv_strv (&denv, LAUNCH_PORT_DIR_ENV, rkdir);
  else
    setenv_strv (&denv, "ROOTLESSKIT_STATE_DIR", rkdir);
  xasprintf (&s, "%u", (unsigned) geteuid ());
  setenv_strv (&denv, "ROOTLESSKIT_PARENT_EUID", s);
  free (steal_pointer (&s));
  xasprintf (&s, "%u", (unsigned) getegid ());
  setenv_strv (&denv, "ROOTLESSKIT_PARENT_EGID", s);
  free (steal_pointer (&s));
  setenv_strv (&denv, "ROOTLESSKIT_NET", conf->net);
  setenv_strv (&denv, "ROOTLESSKIT_PORT_DRIVER", "builtin");
  setenv_strv (&denv, "XDG_RUNTIME_DIR", conf->state_dir);
  setenv_strv (&denv, "HOME", getenv ("HOME") ? getenv ("HOME") : "/");
  /* dockerd 20.10 in rootless mode refuses to start unless a program named
   * rootlesskit-docker-proxy is in PATH, even with --userland-proxy-path:
   * give it ours under that name, first in its PATH, so no rootlesskit
   * package is needed at run time. */
  {
    cleanup_free char *bindir = NULL, *link = NULL;
    xasprintf (&bindir, "%s/bin", conf->state_dir);
    xasprintf (&link, "%s/rootlesskit-docker-proxy", bindir);
    if (mkdir (bindir, 0700) < 0 && errno != EEXIST)
      log_warn ("cannot create proxy directory", "path=%s errno=%d", bindir, errno);
    unlink (link);
    if (symlink (proxy, link) < 0)
      log_warn ("cannot link rootlesskit-docker-proxy", "path=%s errno=%d", link, errno);
    xasprintf (&s, "%s:%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", bindir,
               getenv ("PATH") ? getenv ("PATH") : "/usr/bin");
  }
  setenv_strv (&denv, "PATH", s);
  free (steal_pointer (&s));
  /* The user's proxy settings (a corporate proxy), upper case winning as
   * in Go.  pull_path = slirp: dockerd uses them itself, from the
   * namespace.  direct: rdind-launch chains to HTTP_PROXY/HTTPS_PROXY from
   * the host's namespace and hands dockerd its own proxy instead, with
   * NO_PROXY extended by the namespace's own addresses; what NO_PROXY names
   * goes without any proxy, through slirp4netns or pasta. */
  for (size_t i = 0; i < ARRAY_SIZE (proxy_vars); i++)
    {
      const char *v = getenv (proxy_vars[i][0]) ? getenv (proxy_vars[i][0]) : getenv (proxy_vars[i][1]);
      if (v && *v)
        setenv_strv (&denv, proxy_vars[i][0], v);
    }
  if (getenv ("RDIND_REAL_DOCKER_PROXY"))
    setenv_strv (&denv, "RDIND_REAL_DOCKER_PROXY", getenv ("RDIND_REAL_DOCKER_PROXY"));

  if (!pasta)
    slirp_hardening (net_exe, slirp_args);

  /* Everything is resolved: the part that stays resident while dockerd runs
   * (the parent and init) is rdind-launch, a small static program without
   * OpenSSL, libuv or inih (run.c).  exec keeps our pid, so whoever started
   * `rdind launch` (the sidecar, a shell) still waits on and signals it. */
  {
    struct launch_run run = {
      .state_dir = conf->state_dir,
      .rootlesskit_dir = rkdir,
      .docker_sock = docker_sock,
      .net = conf->net,
      .slirp4netns = pasta ? NULL : net_exe,
      .pasta = pasta ? net_exe : NULL,
      .slirp_args = slirp_args,
      .cidr = conf->cidr,
      .mtu = conf->mtu,
      .stop_timeout = conf->stop_timeout,
      .namespaces = conf->namespaces,
      .hide = hide,
      .port_driver = conf->port_driver,
      .pull_path = conf->pull_path,
      .userns_fd = userns_fd,
      .cgroup_fd = cgroup_fd,
      .ids = ids,
      .log_level = conf->log_level,
      .dockerd_argv = dargv,
    };
    hargv = launch_run_to_argv (&run, helper);
  }
  /* The sidecar's user namespace must survive the exec (take_userns_fd
   * made it close-on-exec for the programs we ran meanwhile). */
  if (userns_fd >= 0 && fcntl (userns_fd, F_SETFD, 0) < 0)
    {
      rdind_make_error (&err, errno, "keep the user namespace fd %d open for rdind-launch",
                        userns_fd);
      return rdind_error_report (&err, 1);
    }
  if (cgroup_fd >= 0)
    fcntl (cgroup_fd, F_SETFD, 0);
  for (size_t i = 0; i < ARRAY_SIZE (lock_fds); i++)
    if (lock_fds[i] >= 0)
      fcntl (lock_fds[i], F_SETFD, 0);
  fflush (stdout);
  fflush (stderr);
  /* Its environment is dockerd's: DENV carries nothing of ours. */
  execve (helper, hargv, denv);
  rdind_make_error (&err, errno,
                    "exec %s: reinstall rdind (the launcher runs it to supervise dockerd)", helper);
  return rdind_error_report (&err, 1);
}
