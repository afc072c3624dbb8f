/* rdind - init: pid 1 of the launcher's new namespaces, part of rdind-launch,
 * and the outer process that creates it.
 *
 * The outer process (launch_outer_main) sits in a user namespace of the
 * launcher's (mapped with newuidmap) or the sidecar's: it masks certdir in
 * its own mount namespace, then creates init in user, mount, network and
 * pid namespaces nested below, so the masks are locked for the daemon.
 * init waits for the launcher's go, becomes root of the namespace, prepares
 * the mounts dockerd expects (own /proc and /sys, copied-up /etc and /run,
 * resolv.conf pointing at slirp4netns), waits for the network, then forks
 * dockerd and stays as a minimal pid 1. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch-int.h"
#include "log.h"
#include "util.h"

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

/* Masks each path to hide (certdir: the CA key, the server key, every
 * peer's client key; the launcher's private sockets) with an empty,
 * read-only tmpfs.  This runs in the outer mount namespace, owned by a user
 * namespace above the daemon's: when init's namespace is copied from it for
 * the daemon's user namespace, the kernel marks every mount MNT_LOCKED, so
 * root in the daemon's namespace (a --privileged inner container included)
 * can neither unmount, move nor remount a mask, and a non-recursive bind of
 * a parent is refused rather than showing what lies beneath.  Everything
 * else stays the host's tree itself: a directory made after start is there. */
static int
mask_paths (char **hide, rdind_error_t *err)
{
  for (; hide && *hide; hide++)
    {
      if (mount ("tmpfs", *hide, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "mode=0755,size=4k")
          == 0)
        {
          log_info ("hidden from the daemon", "path=%s", *hide);
          continue;
        }
      /* Nothing there yet (rdind launch run alone): nothing to hide. */
      if (errno == ENOENT)
        continue;
      return rdind_make_error (err, errno, "mask %s from the daemon", *hide);
    }
  return 0;
}

/* Writes to /proc/PID/NAME an identity map of every id our own user
 * namespace maps: the daemon's namespace sees the same ids as ours. */
static int
write_identity_map (pid_t pid, const char *name, rdind_error_t *err)
{
  cleanup_free char *self = NULL, *path = NULL, *map = NULL;
  size_t len = 0, cap = 0;
  char *line, *save = NULL;
  cleanup_close int fd = -1;

  xasprintf (&path, "/proc/self/%s", name);
  if (read_file (path, &self, &len, err) < 0)
    return -1;
  map = xmalloc (len + 1);
  map[0] = '\0';
  for (line = strtok_r (self, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      unsigned long long in, out, count;
      if (sscanf (line, "%llu %llu %llu", &in, &out, &count) != 3)
        continue;
      cap = strlen (map);
      snprintf (map + cap, len + 1 - cap, "%llu %llu %llu\n", in, in, count);
    }
  free (path);
  xasprintf (&path, "/proc/%d/%s", (int) pid, name);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  len = strlen (map);
  if (fd < 0 || write (fd, map, len) != (ssize_t) len)
    return rdind_make_error (err, errno, "write %s", path);
  return 0;
}

/* /proc of the daemon's own pid namespace (or dockerd and runc would see
 * the host's pids, and /proc/PID/root would lead out), and sysfs of its
 * network namespace with the cgroup mounts of the old /sys bound back in. */
static int
proc_sys_mounts (const struct launch_init *a, rdind_error_t *err)
{
  cleanup_free char *scratch = NULL;
  bool cg;

  /* EPERM here means /proc is masked by the outer runtime. */
  if (mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return rdind_make_error (err, errno,
                             "mount a new /proc: the container masks /proc; run it with "
                             "`--security-opt systempaths=unconfined` (Kubernetes: procMount: Unmasked)");
  xasprintf (&scratch, "%s/.cgroup-%d", a->state_dir, (int) getpid ());
  cg = mkdir (scratch, 0700) == 0 && mount ("/sys/fs/cgroup", scratch, NULL, MS_BIND | MS_REC, NULL) == 0;
  if (mount ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
    {
      if (!cg || mount (scratch, "/sys/fs/cgroup", NULL, MS_MOVE, NULL) < 0)
        log_warn ("cannot bind the cgroup mounts under the new /sys", "error=%s",
                  log_quote (0, strerror (errno)));
      else
        cg = false;
    }
  else
    log_warn ("keeping the host's /sys", "error=%s", log_quote (0, strerror (errno)));
  if (cg)
    umount2 (scratch, MNT_DETACH);
  rmdir (scratch);
  return 0;
}

/* The port helper, forked before the mounts: it follows init into its
 * cgroup leaf (launch_cgroup_init_ns). */
static pid_t portd_pid = -1;

static int
child_mounts (const struct launch_init *a, rdind_error_t *err)
{
  static const char *const etc_skip[] = { "resolv.conf", NULL };
  static const char *const run_skip[] = { "docker", "docker.sock", "docker.pid", "containerd",
                                          "runc", "xtables.lock", NULL };
  cleanup_free char *resolv = NULL;

  /* Nothing we mount may leak to the host: receive, never send. */
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return rdind_make_error (err, errno, "make / rslave");
  if (proc_sys_mounts (a, err) < 0)
    return -1;

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
  if (a->cgroup)
    {
      cleanup_free char *ctl = NULL, *why = NULL;
      if (launch_cgroup_init_ns (portd_pid, &ctl, &why) < 0)
        log_warn ("cgroup: the delegated subtree is not usable; containers run without limits", "error=%s",
                  log_quote (0, why));
      else
        log_info ("cgroup: the daemon's own subtree", "controllers=%s", log_quote (0, ctl));
    }
  else if ((a->ns_flags & CLONE_NEWCGROUP) && launch_cgroup_mount_fresh () < 0)
    log_warn ("cgroup namespace: cannot mount cgroup2, keeping the inherited view", "error=%s",
              log_quote (0, strerror (errno)));
  if (mkdir ("/run/docker", 0700) < 0 && errno != EEXIST)
    return rdind_make_error (err, errno, "mkdir /run/docker");
  /* Testcontainers' Ryuk bind-mounts /var/run/docker.sock (/var/run is
   * /run): a symlink to the real socket lets the mount resolve to it. */
  unlink ("/run/docker.sock");
  if (symlink (a->docker_sock, "/run/docker.sock") < 0)
    return rdind_make_error (err, errno, "symlink /run/docker.sock");
  return 0;
}

/* ENV with the KEY=VALUE lines the launcher writes after 'n' (the pull
 * path's proxy settings) read from FD to EOF; a key given there replaces
 * ENV's. */
static char **
env_with_tail (char **env, int fd)
{
  char buf[8192], *line, *save = NULL;
  char **tail = NULL, **out = NULL;
  size_t len = 0;
  ssize_t n;

  while (len < sizeof buf - 1 && ((n = read (fd, buf + len, sizeof buf - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
    if (n > 0)
      len += (size_t) n;
  buf[len] = '\0';
  for (line = strtok_r (buf, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    if (strchr (line, '=') && line[0] != '=')
      strv_append (&tail, line);
  for (char **e = env; e && *e; e++)
    {
      bool replaced = false;
      for (char **t = tail; t && *t && !replaced; t++)
        {
          size_t k = (size_t) (strchr (*t, '=') - *t) + 1;
          replaced = strncmp (*e, *t, k) == 0;
        }
      if (!replaced)
        strv_append (&out, *e);
    }
  for (char **t = tail; t && *t; t++)
    strv_append (&out, *t);
  strv_free (tail);
  return out;
}

void
launch_init_main (const struct launch_init *a)
{
  rdind_error_t err = NULL;
  sigset_t set;
  pid_t dockerd;
  char **env;
  int st, code = 1;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  prctl (PR_SET_NAME, "rdind-init");
  /* Out of the terminal's session: Ctrl-C reaches the launcher, which
   * stops dockerd once, not dockerd and its helpers directly. */
  setsid ();
  if (read_byte (a->sync_fd, 'g') < 0)
    _exit (1);
  /* We are root of the namespace now that the maps exist. */
  if (setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0)
    {
      rdind_make_error (&err, errno, "become root in the user namespace");
      _exit (rdind_error_report (&err, 1));
    }
  setgroups (0, NULL);
  /* The helper that makes sockets for the launcher (the native port
   * driver's, and the pull path's listener): sockets made here belong to
   * this network namespace, and the launcher outside may use them.  Started
   * before the mounts, so it answers by the time the network is up. */
  if (a->portd_fd >= 0)
    {
      pid_t h = portd_pid = fork ();
      if (h == 0)
        {
          sigemptyset (&set);
          sigprocmask (SIG_SETMASK, &set, NULL);
          prctl (PR_SET_NAME, "rdind-portd");
          close (a->out_fd);
          launch_portd_main (a->portd_fd);
        }
      close (a->portd_fd);
      if (h < 0)
        log_warn ("no port helper: published ports will not answer", "errno=%d", errno);
    }

  if (child_mounts (a, &err) < 0)
    _exit (rdind_error_report (&err, 1));
  if (read_byte (a->sync_fd, 'n') < 0)
    _exit (1);
  env = env_with_tail (a->dockerd_env, a->sync_fd);
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
      execve (a->dockerd_argv[0], a->dockerd_argv, env);
      dprintf (2, "rdind-init: exec %s: %s\n", a->dockerd_argv[0], strerror (errno));
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


static void
report (int fd, int e, pid_t pid)
{
  (void) !write (fd, &e, sizeof e);
  (void) !write (fd, &pid, sizeof pid);
}

void
launch_outer_main (const struct launch_init *a, int userns_fd, int go_fd, int report_fd)
{
  rdind_error_t err = NULL;
  pid_t child;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  prctl (PR_SET_NAME, "rdind-outer");
  if (userns_fd >= 0)
    {
      /* As the namespace's owner we may enter it with no capability of our
       * own, and then hold every capability in it. */
      if (setns (userns_fd, CLONE_NEWUSER) < 0 || unshare (CLONE_NEWNS) < 0)
        {
          report (report_fd, errno, -1);
          _exit (1);
        }
      close (userns_fd);
    }
  else if (read_byte (go_fd, 'g') < 0)
    _exit (1);
  if (setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0)
    rdind_make_error (&err, errno, "become root in the outer user namespace");
  else if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    rdind_make_error (&err, errno, "make / rslave");
  else
    mask_paths (a->hide, &err);
  if (err)
    {
      int e = err->status;
      rdind_error_report (&err, 1);
      report (report_fd, e ? e : EPERM, -1);
      _exit (1);
    }
  /* init's user namespace is a child of ours, so its mount namespace is a
   * less privileged copy of ours: every mount in it, the masks included,
   * is locked.  CLONE_PARENT keeps init the launcher's child. */
  child = syscall (SYS_clone,
                   CLONE_PARENT | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | a->ns_flags | SIGCHLD,
                   NULL, NULL, NULL, 0);
  if (child == 0)
    {
      close (go_fd);
      close (report_fd);
      launch_init_main (a);
    }
  if (child < 0)
    {
      report (report_fd, errno, -1);
      _exit (1);
    }
  /* We hold CAP_SETUID/CAP_SETGID over its parent namespace (ours), so we
   * may map every id we have, unchanged. */
  if (write_identity_map (child, "uid_map", &err) < 0 || write_identity_map (child, "gid_map", &err) < 0)
    {
      int e = err->status;
      rdind_error_report (&err, 1);
      kill (child, SIGKILL);
      report (report_fd, e ? e : EPERM, -1);
      _exit (1);
    }
  report (report_fd, 0, child);
  _exit (0);
}
