/* rdind - `rdind launch`: a rootless dockerd without rootlesskit.
 *
 * Process tree (no rootlesskit binary at run time):
 *   rdind launch (host namespaces: id maps, slirp4netns, port API, signals)
 *    ├─ slirp4netns  (joins the child's netns; exits with us via --exit-fd)
 *    └─ init         (pid 1 of new user+mount+net+pid namespaces: mounts,
 *        │            reaps, forwards signals; its exit kills the namespace)
 *        └─ dockerd  (rootless mode, unix socket only)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "conf.h"
#include "launch.h"
#include "launch-int.h"
#include "log.h"
#include "util.h"

static int
run_wait (char **argv, char **out_err)
{
  int pfd[2], st;
  pid_t pid;
  char buf[1024];
  ssize_t n;
  size_t len = 0;

  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return -1;
  pid = fork ();
  if (pid == 0)
    {
      int devnull = open ("/dev/null", O_RDONLY);
      dup2 (devnull, 0);
      dup2 (pfd[1], 1);
      dup2 (pfd[1], 2);
      execv (argv[0], argv);
      _exit (127);
    }
  close (pfd[1]);
  if (pid < 0)
    {
      close (pfd[0]);
      return -1;
    }
  while (len < sizeof buf - 1 && (n = read (pfd[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += n;
  buf[len] = '\0';
  while (len && (buf[len - 1] == '\n'))
    buf[--len] = '\0';
  close (pfd[0]);
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (out_err)
    *out_err = xstrdup (buf);
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/* newuidmap PID 0 UID 1 1 SUBSTART SUBCOUNT: root inside is us, and ids
 * 1..65536 come from the subordinate range. */
int
launch_map_ids (pid_t pid, const char *tool, unsigned long self, uint64_t start, uint64_t count,
                rdind_error_t *err)
{
  cleanup_free char *exe = launch_find_exe (tool);
  cleanup_free char *out = NULL;
  char spid[32], sself[32], sstart[32], scount[32];
  char *argv[] = { exe, spid, "0", sself, "1", "1", sstart, scount, NULL };
  int r;

  if (exe == NULL)
    return rdind_make_error (err, 0, "%s not found: install the uidmap package", tool);
  snprintf (spid, sizeof spid, "%d", (int) pid);
  snprintf (sself, sizeof sself, "%lu", self);
  snprintf (sstart, sizeof sstart, "%llu", (unsigned long long) start);
  snprintf (scount, sizeof scount, "%llu", (unsigned long long) count);
  r = run_wait (argv, &out);
  if (r < 0)
    return rdind_make_error (err, errno, "run %s", exe);
  if (r != 0)
    {
      const char *cap = strcmp (tool, "newuidmap") == 0 ? "cap_setuid" : "cap_setgid";
      if (strstr (out, "write to") && strstr (out, "failed"))
        return rdind_make_error (err, 0,
                                 "%s: %s; a setuid-only %s cannot map ids here (container without "
                                 "CAP_SYS_ADMIN): fix with `chmod u-s %s && setcap %s+ep %s`",
                                 exe, out, tool, exe, cap, exe);
      return rdind_make_error (err, 0, "%s failed (status %d): %s", exe, r, out);
    }
  return 0;
}

/* --- the child: pid 1 of the new namespaces --- */

struct child_args
{
  const struct rdind_conf *conf;
  int sync_fd;  /* reads 'g' (ids mapped) then 'n' (network up) */
  int out_fd;   /* dockerd's stdout and stderr: the parent re-logs them */
  char **dockerd_argv;
  char **dockerd_env;
  const char *state_dir;
  const char *dns;
  int ns_flags; /* CLONE_NEW* of the namespaces below the user namespace */
};

static int
read_byte (int fd, char want)
{
  char c;
  ssize_t n;
  do
    n = read (fd, &c, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 && c == want ? 0 : -1;
}

static bool
in_list (const char *name, const char *const *skip)
{
  for (; skip && *skip; skip++)
    if (strcmp (name, *skip) == 0)
      return true;
  return false;
}

/* rootlesskit's copy-up: a tmpfs over DIR whose entries are binds of the
 * original ones (symlinks recreated), so dockerd may add or replace entries
 * (resolv.conf, /run/docker...) without touching the host's.  The original
 * is reached through an fd because DIR itself (or TMPBASE, when the state dir
 * lives under /run) disappears under the tmpfs. */
static int
copy_up (const char *dir, const char *tmpbase, const char *const *skip, rdind_error_t *err)
{
  cleanup_free char *tmp = NULL;
  cleanup_close int dfd = -1;
  DIR *d;
  struct dirent *de;

  xasprintf (&tmp, "%s/.copyup-%s", tmpbase, dir[1] ? dir + 1 : "root");
  if (mkdir (tmp, 0700) < 0 && errno != EEXIST)
    return rdind_make_error (err, errno, "mkdir %s", tmp);
  if (mount (dir, tmp, NULL, MS_BIND | MS_REC, NULL) < 0)
    return rdind_make_error (err, errno, "bind %s", dir);
  dfd = open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return rdind_make_error (err, errno, "open %s", tmp);
  if (mount ("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
    return rdind_make_error (err, errno, "mount tmpfs on %s", dir);
  d = fdopendir (dup (dfd));
  if (d == NULL)
    return rdind_make_error (err, errno, "opendir %s", tmp);
  while ((de = readdir (d)))
    {
      struct stat st;
      char src[PATH_MAX], dst[PATH_MAX];

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || in_list (de->d_name, skip))
        continue;
      if (fstatat (dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      snprintf (src, sizeof src, "/proc/self/fd/%d/%s", dfd, de->d_name);
      snprintf (dst, sizeof dst, "%s/%s", dir, de->d_name);
      if (S_ISLNK (st.st_mode))
        {
          char target[PATH_MAX];
          ssize_t n = readlinkat (dfd, de->d_name, target, sizeof target - 1);
          if (n < 0)
            continue;
          target[n] = '\0';
          if (symlink (target, dst) < 0)
            log_warn ("copy-up: cannot recreate symlink", "path=%s errno=%d", dst, errno);
          continue;
        }
      if (S_ISDIR (st.st_mode))
        mkdir (dst, st.st_mode & 07777);
      else
        {
          int fd = open (dst, O_CREAT | O_WRONLY | O_CLOEXEC, st.st_mode & 0777);
          if (fd >= 0)
            close (fd);
        }
      if (mount (src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        log_warn ("copy-up: cannot bind", "path=%s error=%s", dst, log_quote (0, strerror (errno)));
    }
  closedir (d);
  /* The bind of the original is no longer needed; where it stays reachable
   * (tmpbase outside DIR) detach it, else it is hidden under the tmpfs. */
  umount2 (tmp, MNT_DETACH);
  rmdir (tmp);
  return 0;
}

static int
child_mounts (struct child_args *a, rdind_error_t *err)
{
  static const char *const etc_skip[] = { "resolv.conf", NULL };
  static const char *const run_skip[] = { "docker", "docker.sock", "docker.pid", "containerd",
                                          "runc", "xtables.lock", NULL };
  cleanup_free char *resolv = NULL;
  cleanup_free char *sock = NULL;
  cleanup_free char *cg = NULL;

  /* Nothing we mount may leak to the host: receive, never send. */
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return rdind_make_error (err, errno, "make / rslave");
  /* A proc of our own pid namespace, or dockerd and runc would see the
   * host's pids.  EPERM here means /proc is masked by the outer runtime. */
  if (mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return rdind_make_error (err, errno,
                             "mount a new /proc: the container masks /proc; run it with "
                             "`--security-opt systempaths=unconfined` (Kubernetes: procMount: Unmasked)");
  /* sysfs of the new netns (dockerd reads /sys/class/net), keeping the
   * cgroup mounts it would hide. */
  xasprintf (&cg, "%s/.cgroup", a->state_dir);
  mkdir (cg, 0700);
  if (mount ("/sys/fs/cgroup", cg, NULL, MS_BIND | MS_REC, NULL) == 0)
    {
      if (mount ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
        {
          if (mount (cg, "/sys/fs/cgroup", NULL, MS_MOVE, NULL) < 0)
            log_warn ("cannot move the cgroup mounts back under /sys", "error=%s",
                      log_quote (0, strerror (errno)));
        }
      else
        {
          log_warn ("keeping the host's /sys", "error=%s", log_quote (0, strerror (errno)));
          umount2 (cg, MNT_DETACH);
        }
    }
  rmdir (cg);

  if (copy_up ("/etc", a->state_dir, etc_skip, err) < 0)
    return rdind_error_wrap (err, "copy-up /etc");
  if (copy_up ("/run", a->state_dir, run_skip, err) < 0)
    return rdind_error_wrap (err, "copy-up /run");
  /* The host's resolver (often 127.0.0.53) is unreachable from the netns:
   * slirp4netns serves DNS at network + 3. */
  xasprintf (&resolv, "nameserver %s\n", a->dns);
  if (write_file_atomic ("/etc/resolv.conf", resolv, strlen (resolv), 0644, err) < 0)
    return rdind_error_wrap (err, "write /etc/resolv.conf");
  /* With a cgroup namespace, a cgroup2 mount of our own shows our cgroup as
   * the root, as dockerd expects inside its own namespace. */
  if ((a->ns_flags & CLONE_NEWCGROUP)
      && mount ("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    log_warn ("cgroup namespace: cannot mount cgroup2, keeping the inherited view", "error=%s",
              log_quote (0, strerror (errno)));
  if (mkdir ("/run/docker", 0700) < 0 && errno != EEXIST)
    return rdind_make_error (err, errno, "mkdir /run/docker");
  /* Testcontainers' Ryuk bind-mounts /var/run/docker.sock (/var/run is
   * /run): a symlink to the real socket lets the mount resolve to it. */
  sock = launch_docker_sock_path (a->conf);
  unlink ("/run/docker.sock");
  if (symlink (sock, "/run/docker.sock") < 0)
    return rdind_make_error (err, errno, "symlink /run/docker.sock");
  return 0;
}

static int
child_main (struct child_args *a)
{
  rdind_error_t err = NULL;
  sigset_t set;
  pid_t dockerd;
  int st, code = 1;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  prctl (PR_SET_NAME, "rdind-init");
  if (read_byte (a->sync_fd, 'g') < 0)
    _exit (1);
  /* We are root of the namespace now that the maps exist. */
  if (setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0)
    {
      rdind_make_error (&err, errno, "become root in the user namespace");
      _exit (rdind_error_report (&err, 1));
    }
  setgroups (0, NULL);
  if (child_mounts (a, &err) < 0)
    _exit (rdind_error_report (&err, 1));
  if (read_byte (a->sync_fd, 'n') < 0)
    _exit (1);
  close (a->sync_fd);

  dockerd = fork ();
  if (dockerd == 0)
    {
      int nul = open ("/dev/null", O_RDONLY);
      if (nul < 0)
        _exit (127);
      dup2 (nul, 0);
      dup2 (a->out_fd, 1);
      dup2 (a->out_fd, 2);
      sigemptyset (&set);
      sigprocmask (SIG_SETMASK, &set, NULL);
      execve (a->dockerd_argv[0], a->dockerd_argv, a->dockerd_env);
      dprintf (2, "rdind: exec %s: %s\n", a->dockerd_argv[0], strerror (errno));
      _exit (127);
    }
  if (dockerd < 0)
    _exit (1);
  close (a->out_fd);

  /* A minimal pid 1 (tini's loop): forward stop signals to dockerd, reap
   * every orphan; when dockerd is gone we exit and the kernel kills what is
   * left in the pid namespace. */
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  for (;;)
    {
      siginfo_t si;
      int sig = sigwaitinfo (&set, &si);
      pid_t p;

      if (sig < 0)
        continue;
      if (sig != SIGCHLD)
        {
          kill (dockerd, sig);
          continue;
        }
      while ((p = waitpid (-1, &st, WNOHANG)) > 0)
        if (p == dockerd)
          {
            code = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
            _exit (code);
          }
    }
}

/* --- the parent --- */

static char *
find_proxy (void)
{
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  char *p = NULL;

  if (n > 0)
    {
      self[n] = '\0';
      xasprintf (&p, "%s/rdind-docker-proxy", dirname (self));
      if (access (p, X_OK) == 0)
        return p;
      free (p);
    }
  xasprintf (&p, "%s/rdind-docker-proxy", BINDIR);
  if (access (p, X_OK) == 0)
    return p;
  free (p);
  xasprintf (&p, "%s/rdind-docker-proxy", LIBEXECDIR);
  if (access (p, X_OK) == 0)
    return p;
  free (p);
  return launch_find_exe ("rdind-docker-proxy");
}

static void
setenv_strv (char ***env, const char *k, const char *v)
{
  char *kv = NULL;
  xasprintf (&kv, "%s=%s", k, v);
  strv_append (env, kv);
  free (kv);
}

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

static bool
slirp_supports (const char *slirp, const char *flag)
{
  cleanup_free char *out = NULL;
  char *argv[] = { (char *) slirp, "--help", NULL };
  run_wait (argv, &out);
  return out && strstr (out, flag);
}

int
launch_subid_require (const char *file, const char *user, uid_t uid, uint64_t *start, uint64_t *count,
                      rdind_error_t *err)
{
  int r = launch_subid_lookup (file, user, uid, start, count, err);
  if (r < 0)
    return r;
  if (r == 0)
    return rdind_make_error (err, 0,
                             "%s has no range for user %s: add one with `usermod --add-subuids "
                             "100000-165535 --add-subgids 100000-165535 %s` (as root)",
                             file, user ? user : "?", user ? user : "USER");
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
                             "open /dev/net/tun (slirp4netns needs it): fix with `chmod 0666 "
                             "/dev/net/tun`, or pass the device to the container (--device "
                             "/dev/net/tun), or start rdind sidecar as root so it creates it");
  close (fd);
  return 0;
}

int
launch_ns_flags (char **names)
{
  int flags = CLONE_NEWPID; /* always: see conf's check */
  for (char **n = names; n && *n; n++)
    if (strcmp (*n, "uts") == 0)
      flags |= CLONE_NEWUTS;
    else if (strcmp (*n, "ipc") == 0)
      flags |= CLONE_NEWIPC;
    else if (strcmp (*n, "cgroup") == 0)
      flags |= CLONE_NEWCGROUP;
  return flags;
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

/* Starts init (child_main) in new namespaces.  Without USERNS_FD it is born
 * in a new user namespace too, which the caller then maps with newuidmap.
 * With it, an intermediate process joins that namespace (as its owner we may
 * enter it with no capability of our own) and creates init there with
 * CLONE_PARENT, so init is still our child and the new mount, network and
 * pid namespaces belong to the mapped user namespace.  CLOSE_FDS: the
 * parent's fds init must not hold. */
static pid_t
spawn_init (struct child_args *a, int userns_fd, const int *close_fds, size_t n_close,
            rdind_error_t *err)
{
  int pfd[2];
  pid_t mid, child = -1;
  int st, e = 0;

  if (userns_fd < 0)
    {
      child = syscall (SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | a->ns_flags | SIGCHLD,
                       NULL, NULL, NULL, 0);
      if (child == 0)
        {
          for (size_t i = 0; i < n_close; i++)
            close (close_fds[i]);
          _exit (child_main (a));
        }
      if (child < 0)
        return rdind_make_error (err, errno,
                                 "create user+mount+net+pid namespaces: unprivileged user namespaces "
                                 "are refused here (sysctl, AppArmor or seccomp): run `rdind doctor`");
      return child;
    }
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return rdind_make_error (err, errno, "pipe");
  mid = fork ();
  if (mid == 0)
    {
      close (pfd[0]);
      if (setns (userns_fd, CLONE_NEWUSER) < 0)
        {
          e = errno;
          (void) !write (pfd[1], &e, sizeof e);
          _exit (1);
        }
      child = syscall (SYS_clone, CLONE_PARENT | CLONE_NEWNS | CLONE_NEWNET | a->ns_flags | SIGCHLD,
                       NULL, NULL, NULL, 0);
      if (child == 0)
        {
          close (pfd[1]);
          for (size_t i = 0; i < n_close; i++)
            close (close_fds[i]);
          _exit (child_main (a));
        }
      e = child < 0 ? errno : 0;
      (void) !write (pfd[1], &e, sizeof e);
      (void) !write (pfd[1], &child, sizeof child);
      _exit (0);
    }
  close (pfd[1]);
  if (mid < 0)
    {
      close (pfd[0]);
      return rdind_make_error (err, errno, "fork");
    }
  if (read (pfd[0], &e, sizeof e) != sizeof e)
    e = EIO;
  if (e == 0 && read (pfd[0], &child, sizeof child) != sizeof child)
    e = EIO;
  close (pfd[0]);
  while (waitpid (mid, &st, 0) < 0 && errno == EINTR)
    ;
  if (e != 0)
    return rdind_make_error (err, e,
                             "enter the user namespace prepared by rdind sidecar and create "
                             "mount+net+pid namespaces in it: a seccomp profile must allow setns "
                             "and unshare (run the container with contrib/seccomp.json)");
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

int
rdind_cmd_launch (struct rdind_conf *conf, int argc, char **argv)
{
  rdind_error_t err = NULL;
  struct launch_ids ids = { 0 };
  cleanup_free char *dockerd = NULL, *slirp = NULL, *proxy = NULL;
  cleanup_free char *driver = NULL, *why = NULL, *guest = NULL, *dns = NULL;
  cleanup_free char *rkdir = NULL, *api_path = NULL, *slirp_sock = NULL, *docker_sock = NULL;
  cleanup_free char *log_path = NULL, *exec_root = NULL, *pidfile = NULL, *s = NULL;
  cleanup_strv char **dargv = NULL;
  cleanup_strv char **denv = NULL;
  struct launch_api api = { 0 };
  int sync[2] = { -1, -1 }, ready[2] = { -1, -1 }, exitp[2] = { -1, -1 }, outp[2] = { -1, -1 };
  cleanup_free struct outbuf *relay = xmalloc0 (sizeof *relay);
  int userns_fd;
  sigset_t mask, oldmask;
  pid_t child, slirp_pid = -1;
  int sfd, status = 1;
  bool stopping = false, dockerd_gone = false;
  uint64_t deadline = 0;

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
  relay->log_fd = -1;
  conf_resolve_paths (conf);
  userns_fd = take_userns_fd (&err);
  if (err)
    return rdind_error_report (&err, 2);

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
  slirp = launch_find_exe (conf->slirp4netns);
  proxy = find_proxy ();
  if (dockerd == NULL || slirp == NULL || proxy == NULL)
    {
      rdind_make_error (&err, 0, "%s not found: %s",
                        dockerd == NULL ? conf->dockerd : slirp == NULL ? conf->slirp4netns
                                                                        : "rdind-docker-proxy",
                        dockerd == NULL ? "install docker.io (or set launcher.dockerd)"
                        : slirp == NULL ? "install slirp4netns (or set launcher.slirp4netns)"
                                        : "install it beside rdind");
      return rdind_error_report (&err, 1);
    }
  if (launch_cidr_hosts (conf->cidr, &guest, &dns, &err) < 0)
    return rdind_error_report (&err, 2);
  if (mkdir_p (conf->state_dir, 0700, &err) < 0 || mkdir_p (conf->data_root, 0700, &err) < 0)
    return rdind_error_report (&err, 1);
  xasprintf (&rkdir, "%s/rootlesskit", conf->state_dir);
  xasprintf (&api_path, "%s/api.sock", rkdir);
  xasprintf (&slirp_sock, "%s/slirp4netns.sock", rkdir);
  xasprintf (&log_path, "%s/dockerd.log", conf->state_dir);
  xasprintf (&exec_root, "%s/exec", conf->state_dir);
  xasprintf (&pidfile, "%s/docker.pid", conf->state_dir);
  docker_sock = launch_docker_sock_path (conf);
  if (mkdir_p (rkdir, 0700, &err) < 0)
    return rdind_error_report (&err, 1);
  unlink (slirp_sock);
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
  for (char **a = conf->dockerd_args; a && *a; a++)
    strv_append (&dargv, *a);

  /* dockerd's rootless mode keys on ROOTLESSKIT_STATE_DIR (moby
   * pkg/rootless); its userland proxy finds our port API there. */
  setenv_strv (&denv, "ROOTLESSKIT_STATE_DIR", rkdir);
  xasprintf (&s, "%u", (unsigned) geteuid ());
  setenv_strv (&denv, "ROOTLESSKIT_PARENT_EUID", s);
  free (steal_pointer (&s));
  xasprintf (&s, "%u", (unsigned) getegid ());
  setenv_strv (&denv, "ROOTLESSKIT_PARENT_EGID", s);
  free (steal_pointer (&s));
  setenv_strv (&denv, "ROOTLESSKIT_NET", "slirp4netns");
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
  if (getenv ("RDIND_REAL_DOCKER_PROXY"))
    setenv_strv (&denv, "RDIND_REAL_DOCKER_PROXY", getenv ("RDIND_REAL_DOCKER_PROXY"));

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
  relay->log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  fcntl (outp[0], F_SETFL, O_NONBLOCK);

  /* bubblewrap's handshake: the child is born in its namespaces and waits
   * on SYNC while we write its id maps from outside (only newuidmap, with
   * its setuid bit or file capability, may map the subordinate range), or,
   * with the sidecar's prepared namespace, simply until the network is up. */
  {
    struct child_args a = { conf, sync[0], outp[1], dargv, denv, conf->state_dir, dns,
                            launch_ns_flags (conf->namespaces) };
    /* Init holds none of the parent's pipes: slirp4netns's exit fd must
     * reach EOF when the parent dies, whatever init does. */
    int close_fds[] = { sync[1], api.fd, ready[0], ready[1], exitp[0], exitp[1], sfd, outp[0], relay->log_fd };
    child = spawn_init (&a, userns_fd, close_fds, ARRAY_SIZE (close_fds), &err);
  }
  close (sync[0]);
  close (outp[1]);
  if (userns_fd >= 0)
    close (userns_fd);
  if (child < 0)
    {
      launch_api_close (&api);
      return rdind_error_report (&err, 1);
    }
  api.child_pid = child;
  if (userns_fd < 0
      && (launch_map_ids (child, "newuidmap", getuid (), ids.uid_start, ids.uid_count, &err) < 0
          || launch_map_ids (child, "newgidmap", getgid (), ids.gid_start, ids.gid_count, &err) < 0))
    {
      kill (child, SIGKILL);
      waitpid (child, NULL, 0);
      launch_api_close (&api);
      return rdind_error_report (&err, 1);
    }
  if (write (sync[1], "g", 1) != 1)
    goto child_died;

  /* slirp4netns: the child's only route out; --exit-fd makes it exit when
   * we do (even SIGKILLed), --ready-fd replaces polling. */
  {
    char sp[32], rfd[32], efd[32], mtu[32];
    cleanup_free char *slirp_log = NULL;
    xasprintf (&slirp_log, "%s/slirp4netns.log", conf->state_dir);
    char *sargv[20];
    int n = 0;
    snprintf (sp, sizeof sp, "%d", (int) child);
    snprintf (rfd, sizeof rfd, "--ready-fd=%d", ready[1]);
    snprintf (efd, sizeof efd, "--exit-fd=%d", exitp[0]);
    snprintf (mtu, sizeof mtu, "--mtu=%llu", (unsigned long long) conf->mtu);
    xasprintf (&s, "--api-socket=%s", slirp_sock);
    sargv[n++] = slirp;
    sargv[n++] = "--configure";
    sargv[n++] = mtu;
    sargv[n++] = "--disable-host-loopback";
    if (slirp_supports (slirp, "--enable-sandbox"))
      sargv[n++] = "--enable-sandbox";
    if (slirp_supports (slirp, "--enable-seccomp"))
      sargv[n++] = "--enable-seccomp";
    sargv[n++] = rfd;
    sargv[n++] = efd;
    sargv[n++] = s;
    char cidr[64];
    snprintf (cidr, sizeof cidr, "--cidr=%s", conf->cidr);
    sargv[n++] = cidr;
    sargv[n++] = sp;
    sargv[n++] = "tap0";
    sargv[n] = NULL;
    slirp_pid = fork ();
    if (slirp_pid == 0)
      {
        int nul = open ("/dev/null", O_RDWR);
        int lfd = open (slirp_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        sigprocmask (SIG_SETMASK, &oldmask, NULL);
        dup2 (nul, 0);
        /* slirp4netns chats on stderr at every API call: keep it in a file */
        dup2 (lfd >= 0 ? lfd : nul, 1);
        dup2 (lfd >= 0 ? lfd : nul, 2);
        fcntl (ready[1], F_SETFD, 0);
        fcntl (exitp[0], F_SETFD, 0);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        execv (slirp, sargv);
        _exit (127);
      }
    free (steal_pointer (&s));
  }
  close (ready[1]);
  close (exitp[0]);
  {
    struct pollfd p = { ready[0], POLLIN, 0 };
    char c = 0;
    if (poll (&p, 1, 10000) <= 0 || read (ready[0], &c, 1) != 1 || c != '1')
      {
        rdind_make_error (&err, 0, "slirp4netns (%s) did not become ready within 10 s (see %s/slirp4netns.log)", slirp, conf->state_dir);
        kill (child, SIGKILL);
        kill (slirp_pid, SIGKILL);
        waitpid (child, NULL, 0);
        waitpid (slirp_pid, NULL, 0);
        launch_api_close (&api);
        return rdind_error_report (&err, 1);
      }
    close (ready[0]);
  }
  api.slirp_pid = slirp_pid;
  log_info ("slirp4netns ready", "pid=%d cidr=%s mtu=%llu", (int) slirp_pid, conf->cidr,
            (unsigned long long) conf->mtu);
  if (write (sync[1], "n", 1) != 1)
    goto child_died;
  close (sync[1]);
  sync[1] = -1;
  log_info ("dockerd starting", "init_pid=%d socket=%s log=%s", (int) child, docker_sock, log_path);

  for (;;)
    {
      struct pollfd p[3] = { { sfd, POLLIN, 0 }, { api.fd, POLLIN, 0 }, { outp[0], POLLIN, 0 } };
      int timeout = -1;
      if (stopping)
        {
          uint64_t now = now_ms ();
          timeout = deadline > now ? (int) (deadline - now) : 0;
        }
      int r = poll (p, outp[0] >= 0 ? 3 : 2, timeout);
      if (r < 0 && errno != EINTR)
        break;
      if (stopping && now_ms () >= deadline)
        {
          log_warn ("dockerd did not stop in time, killing the namespace", "stop_timeout=%llu",
                    (unsigned long long) conf->stop_timeout);
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
                      else if (w == slirp_pid)
                        {
                          slirp_pid = -1;
                          if (!stopping)
                            {
                              log_error ("slirp4netns exited; stopping dockerd", NULL);
                              stopping = true;
                              deadline = now_ms () + conf->stop_timeout * 1000;
                              kill (child, SIGTERM);
                            }
                        }
                    }
                }
              else if (!stopping)
                {
                  log_info ("stopping dockerd", "signal=%d stop_timeout=%llu", (int) si.ssi_signo,
                            (unsigned long long) conf->stop_timeout);
                  stopping = true;
                  deadline = now_ms () + conf->stop_timeout * 1000;
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
  goto out;

child_died:
  waitpid (child, &status, 0);
  status = 1;
  log_error ("namespace setup failed", NULL);
out:
  /* Closing the exit fd is slirp4netns's signal to leave. */
  close (exitp[1]);
  if (slirp_pid > 0)
    {
      uint64_t end = now_ms () + 3000;
      while (waitpid (slirp_pid, NULL, WNOHANG) == 0)
        {
          if (now_ms () > end)
            {
              kill (slirp_pid, SIGKILL);
              waitpid (slirp_pid, NULL, 0);
              break;
            }
          usleep (20000);
        }
    }
  launch_api_close (&api);
  unlink (slirp_sock);
  if (sync[1] >= 0)
    close (sync[1]);
  if (outp[0] >= 0)
    close (outp[0]);
  if (relay->log_fd >= 0)
    close (relay->log_fd);
  close (sfd);
  return status;
}
