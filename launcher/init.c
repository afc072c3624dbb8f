/* rdind - init: pid 1 of the launcher's new namespaces, part of rdind-launch.
 *
 * Forked by the launcher parent (run.c) into new user (or the sidecar's),
 * mount, network and pid namespaces: waits for its id maps, becomes root of
 * the namespace, prepares the mounts dockerd expects (a root without the
 * sidecar's secrets, own /proc and /sys, copied-up /etc and /run,
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

/* How PATH relates to the paths to hide: 2 it is one, 1 it holds one (an
 * ancestor), 0 neither. */
static int
hide_relation (const char *path, char **hide)
{
  size_t n = strlen (path);
  int rel = 0;
  for (; hide && *hide; hide++)
    {
      if (strcmp (*hide, path) == 0)
        return 2;
      if (strncmp (*hide, path, n) == 0 && (*hide)[n] == '/')
        rel = 1;
    }
  return rel;
}

/* Fills DST (a directory of the new root) with the entries of SRC (one of
 * the old root): a recursive bind for each, except that a path to hide is
 * left out (an empty directory stands in its place) and a directory that
 * holds one is rebuilt the same way one level down.  So no bind in the new
 * root has a hidden path below it, and unmounting anything in it (which a
 * privileged inner container may) reveals only the empty directories of
 * the tmpfs skeleton. */
static int
fill_view (const char *src, const char *dst, char **hide, rdind_error_t *err)
{
  DIR *d = opendir (src);
  struct dirent *de;

  if (d == NULL)
    return rdind_make_error (err, errno, "open %s", src);
  while ((de = readdir (d)) != NULL)
    {
      cleanup_free char *from = NULL, *to = NULL;
      struct stat st;
      int rel;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      xasprintf (&from, "%s/%s", strcmp (src, "/") == 0 ? "" : src, de->d_name);
      xasprintf (&to, "%s/%s", dst, de->d_name);
      /* /proc and /sys get mounts of their own (new_root). */
      if (strcmp (src, "/") == 0 && (strcmp (de->d_name, "proc") == 0 || strcmp (de->d_name, "sys") == 0))
        {
          mkdir (to, 0555);
          continue;
        }
      if (lstat (from, &st) < 0)
        continue;
      rel = hide_relation (from, hide);
      if (rel == 2)
        {
          mkdir (to, 0700);
          log_info ("hidden from the daemon", "path=%s", from);
          continue;
        }
      if (S_ISLNK (st.st_mode))
        {
          char target[PATH_MAX];
          ssize_t n = readlink (from, target, sizeof target - 1);
          if (n >= 0)
            {
              target[n] = '\0';
              if (symlink (target, to) < 0)
                log_warn ("new root: cannot recreate symlink", "path=%s errno=%d", from, errno);
            }
          continue;
        }
      if (rel == 1 && S_ISDIR (st.st_mode))
        {
          if (mkdir (to, st.st_mode & 07777) < 0)
            {
              closedir (d);
              return rdind_make_error (err, errno, "new root: mkdir %s", to);
            }
          if (fill_view (from, to, hide, err) < 0)
            {
              closedir (d);
              return -1;
            }
          continue;
        }
      if (S_ISDIR (st.st_mode))
        mkdir (to, st.st_mode & 07777);
      else
        {
          int fd = open (to, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
          if (fd >= 0)
            close (fd);
        }
      if (mount (from, to, NULL, MS_BIND | MS_REC, NULL) < 0)
        log_warn ("new root: cannot bind", "path=%s error=%s", from, log_quote (0, strerror (errno)));
    }
  closedir (d);
  return 0;
}

/* The daemon's root: a tmpfs with the old root's entries bound in, minus
 * the paths to hide (certdir: the CA key, the server key, every peer's
 * client key), then pivot_root into it and detach the old root, so nothing
 * in this mount namespace leads to them any more: not a bind of certdir, of
 * its parent or of /, not /proc/PID/root (our /proc shows our own pid
 * namespace only), not an unmount of a mask.
 *
 * The tmpfs is built over the old /proc, a mount point nobody needs while
 * we build: the kernel lets a user namespace mount a fresh proc or sysfs
 * only while one is fully visible in the mount namespace (mount_too_revealing),
 * so both are mounted into the new root before the old one goes. */
static int
new_root (const struct launch_init *a, rdind_error_t *err)
{
  const char *nr = "/proc";

  if (mount ("tmpfs", nr, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
    return rdind_make_error (err, errno, "mount the tmpfs of the daemon's root");
  if (fill_view ("/", nr, a->hide, err) < 0)
    return rdind_error_wrap (err, "build the daemon's root");
  /* A proc of our own pid namespace, or dockerd and runc would see the
   * host's pids.  EPERM here means /proc is masked by the outer runtime. */
  if (mount ("proc", "/proc/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return rdind_make_error (err, errno,
                             "mount a new /proc: the container masks /proc; run it with "
                             "`--security-opt systempaths=unconfined` (Kubernetes: procMount: Unmasked)");
  /* sysfs of the new netns (dockerd reads /sys/class/net), with the cgroup
   * mounts of the old /sys bound back in; the old /sys when that fails. */
  if (mount ("sysfs", "/proc/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
    {
      if (mount ("/sys/fs/cgroup", "/proc/sys/fs/cgroup", NULL, MS_BIND | MS_REC, NULL) < 0)
        log_warn ("cannot bind the cgroup mounts under the new /sys", "error=%s",
                  log_quote (0, strerror (errno)));
    }
  else
    {
      log_warn ("keeping the host's /sys", "error=%s", log_quote (0, strerror (errno)));
      if (mount ("/sys", "/proc/sys", NULL, MS_BIND | MS_REC, NULL) < 0)
        return rdind_make_error (err, errno, "bind /sys into the daemon's root");
    }
  /* A name of its own: the old root's entries are bound in above, and a
   * root may well hold a /.oldroot of its own (one made by another
   * pivot_root), which a fixed name would collide with. */
  char old[] = "/proc/.rdind-oldroot.XXXXXX";
  if (mkdtemp (old) == NULL)
    return rdind_make_error (err, errno, "mkdir the old root's mount point %s", old);
  if (syscall (SYS_pivot_root, nr, old) < 0)
    return rdind_make_error (err, errno, "pivot_root into the daemon's root");
  if (chdir ("/") < 0)
    return rdind_make_error (err, errno, "chdir /");
  /* pivot_root moved the old root's lock to the new root, so the old one
   * may go (bubblewrap does the same).  OLD + 5 is its path from the new
   * root ("/.rdind-oldroot.XXXXXX"). */
  if (umount2 (old + 5, MNT_DETACH) < 0)
    return rdind_make_error (err, errno, "detach the old root");
  rmdir (old + 5);
  return 0;
}

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
  if (new_root (a, err) < 0)
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
  if ((a->ns_flags & CLONE_NEWCGROUP)
      && mount ("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
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

void
launch_init_main (const struct launch_init *a)
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

  /* The native port driver's helper: sockets made here belong to this
   * network namespace, and the launcher outside may use them. */
  if (a->portd_fd >= 0)
    {
      pid_t h = fork ();
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

