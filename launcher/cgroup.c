/* The daemon's own cgroup subtree on cgroup v2, so that `docker run
 * --memory/--pids-limit/--cpus` are enforced without --privileged.
 *
 * Layout, below G (the cgroup rdind sidecar starts in: a container's
 * cgroup-namespace root, or a systemd unit with Delegate=yes):
 *
 *   G/                   controllers enabled for its children; no process
 *   G/rdind-sidecar/     the sidecar (and whatever else G held)
 *   G/rdind-daemon/      D: handed to the unprivileged account
 *   D/run-PID/           R: one launcher start; init's cgroup-namespace root
 *   R/launcher/          rdind-launch and slirp4netns/pasta
 *   R/init/              init, dockerd, containerd and the shims
 *   R/docker/ID/         each container (dockerd's cgroupfs driver)
 *
 * dockerd runs as uid 0 of rdind's user namespace without RootlessKit's
 * environment (moby's "rootful in rootless"): it keeps the cgroupfs driver,
 * where rootless mode without systemd forces "none" (moby#42910).  Every
 * write below R is done by the account's own processes; root (or the
 * account, when systemd delegated G to it) only prepares G and D. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "launch-int.h"
#include "log.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static const char *const wanted[] = { "memory", "pids", "cpu", "io", NULL };

char *
launch_cgroup_own_path (const char *proc_self_cgroup)
{
  const char *p = proc_self_cgroup;
  while (p && *p)
    {
      const char *nl = strchr (p, '\n');
      size_t len = nl ? (size_t) (nl - p) : strlen (p);
      if (len >= 4 && strncmp (p, "0::/", 4) == 0)
        {
          char *path = xstrndup (p + 3, len - 3);
          /* "(deleted)": our cgroup was removed under us; nothing to use. */
          if (strstr (path, " (deleted)"))
            {
              free (path);
              return NULL;
            }
          return path;
        }
      p = nl ? nl + 1 : NULL;
    }
  return NULL;
}

bool
launch_cgroup_has (const char *list, const char *w)
{
  size_t n = strlen (w);
  for (const char *p = list; (p = strstr (p, w)); p += n)
    if ((p == list || p[-1] == ' ' || p[-1] == '\n') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
      return true;
  return false;
}

char *
launch_cgroup_pick (const char *controllers)
{
  char *out = NULL;
  for (size_t i = 0; wanted[i]; i++)
    {
      size_t n = strlen (wanted[i]);
      for (const char *p = controllers; p && *p;)
        {
          p += strspn (p, " \t\n");
          size_t len = strcspn (p, " \t\n");
          if (len == n && strncmp (p, wanted[i], n) == 0)
            {
              char *t = NULL;
              xasprintf (&t, "%s%s%s", out ? out : "", out ? " " : "", wanted[i]);
              free (out);
              out = t;
              break;
            }
          p += len;
        }
    }
  return out ? out : xstrdup ("");
}

char *
launch_cgroup_identity_map (const char *id_map)
{
  char *out = xstrdup ("");
  for (const char *p = id_map; p && *p;)
    {
      unsigned long long inside, outside, count;
      if (sscanf (p, "%llu %llu %llu", &inside, &outside, &count) == 3)
        {
          char *t = NULL;
          xasprintf (&t, "%s%llu %llu %llu\n", out, inside, inside, count);
          free (out);
          out = t;
        }
      const char *nl = strchr (p, '\n');
      p = nl ? nl + 1 : NULL;
    }
  return out;
}

static int
write_at (int dfd, const char *file, const char *s)
{
  int fd = openat (dfd, file, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t len = (ssize_t) strlen (s);
  int r = write (fd, s, len) == len ? 0 : -1;
  int e = errno;
  close (fd);
  errno = e;
  return r;
}

static char *
read_at (int dfd, const char *file)
{
  int fd = openat (dfd, file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  char *buf = xmalloc (65536);
  size_t len = 0;
  ssize_t n;
  while (len < 65535 && (n = read (fd, buf + len, 65535 - len)) > 0)
    len += (size_t) n;
  buf[len] = '\0';
  close (fd);
  return buf;
}

int
launch_cgroup_mount_fresh (void)
{
  /* The kernel refuses a file system mounted on the root of a mount of the
   * same super block (EBUSY), and there is one cgroup2 super block: put it
   * on a tmpfs laid over the inherited view. */
  if (mount ("tmpfs", "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16k") < 0)
    return -1;
  return mount ("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

int
launch_cgroup_move_self (int dfd, const char *sub)
{
  cleanup_free char *f = NULL;
  xasprintf (&f, "%s%scgroup.procs", sub ? sub : "", sub ? "/" : "");
  return write_at (dfd, f, "0");
}

/* Enables each of CONTROLLERS (space separated) in DFD's subtree_control;
 * returns the ones that took, space separated. */
static char *
enable_controllers (int dfd, const char *controllers)
{
  char *out = xstrdup ("");
  cleanup_free char *copy = xstrdup (controllers);
  for (char *save = NULL, *c = strtok_r (copy, " ", &save); c; c = strtok_r (NULL, " ", &save))
    {
      cleanup_free char *plus = NULL;
      xasprintf (&plus, "+%s", c);
      if (write_at (dfd, "cgroup.subtree_control", plus) == 0)
        {
          char *t = NULL;
          xasprintf (&t, "%s%s%s", out, *out ? " " : "", c);
          free (out);
          out = t;
        }
      else
        log_warn ("cgroup: cannot enable a controller", "controller=%s error=%s", c,
                  log_quote (0, strerror (errno)));
    }
  return out;
}

/* Moves every process of DFD into DFD/SUB, so that DFD may hand controllers
 * to its children (cgroup v2: no process in a cgroup with subtree
 * controllers). */
static int
evacuate (int dfd, const char *sub)
{
  cleanup_free char *dst = NULL;
  xasprintf (&dst, "%s/cgroup.procs", sub);
  for (int round = 0; round < 10; round++)
    {
      cleanup_free char *procs = read_at (dfd, "cgroup.procs");
      if (procs == NULL)
        return -1;
      if (procs[strspn (procs, " \n")] == '\0')
        return 0;
      for (char *save = NULL, *p = strtok_r (procs, "\n", &save); p; p = strtok_r (NULL, "\n", &save))
        if (write_at (dfd, dst, p) < 0 && errno != ESRCH)
          return -1;
    }
  errno = EBUSY;
  return -1;
}

/* The part done with a writable view WFD of G: returns D's fd (O_PATH-free,
 * a plain directory fd) and *CONTROLLERS, or -1 with errno and *STEP. */
static int
prepare (int wfd, uid_t uid, gid_t gid, char **controllers, const char **step)
{
  cleanup_free char *avail = NULL, *pick = NULL, *on_g = NULL;
  int dfd;

  *step = "mkdir rdind-sidecar";
  if (mkdirat (wfd, "rdind-sidecar", 0755) < 0 && errno != EEXIST)
    return -1;
  *step = "move G's processes to rdind-sidecar";
  if (evacuate (wfd, "rdind-sidecar") < 0)
    return -1;
  *step = "read cgroup.controllers";
  avail = read_at (wfd, "cgroup.controllers");
  if (avail == NULL)
    return -1;
  pick = launch_cgroup_pick (avail);
  on_g = enable_controllers (wfd, pick);
  *step = "mkdir rdind-daemon";
  if (mkdirat (wfd, "rdind-daemon", 0755) < 0 && errno != EEXIST)
    return -1;
  dfd = openat (wfd, "rdind-daemon", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -1;
  *controllers = enable_controllers (dfd, on_g);
  if (uid != geteuid ())
    {
      /* cgroup-v2.rst "Delegation Containment": the directory and its
       * cgroup.procs, cgroup.threads and cgroup.subtree_control; and G's
       * cgroup.procs, the common ancestor the launcher crosses when it
       * moves itself from rdind-sidecar into D. */
      static const char *const files[] = { ".", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", NULL };
      *step = "hand rdind-daemon to the account";
      for (size_t i = 0; files[i]; i++)
        if (fchownat (dfd, files[i], uid, gid, 0) < 0)
          {
            int e = errno;
            close (dfd);
            errno = e;
            return -1;
          }
      if (fchownat (wfd, "cgroup.procs", uid, gid, 0) < 0)
        {
          int e = errno;
          close (dfd);
          errno = e;
          return -1;
        }
    }
  return dfd;
}

static int
send_fd (int sock, int fd, const char *msg)
{
  char cbuf[CMSG_SPACE (sizeof (int))] = { 0 };
  struct iovec iov = { .iov_base = (void *) msg, .iov_len = strlen (msg) + 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (fd >= 0)
    {
      m.msg_control = cbuf;
      m.msg_controllen = sizeof cbuf;
      struct cmsghdr *c = CMSG_FIRSTHDR (&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &fd, sizeof fd);
    }
  return sendmsg (sock, &m, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int
recv_fd (int sock, char *msg, size_t size)
{
  char cbuf[CMSG_SPACE (sizeof (int))] = { 0 };
  struct iovec iov = { .iov_base = msg, .iov_len = size - 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  ssize_t n = recvmsg (sock, &m, MSG_CMSG_CLOEXEC);
  int fd = -1;
  msg[n > 0 ? (size_t) n : 0] = '\0';
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&m); n > 0 && c; c = CMSG_NXTHDR (&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy (&fd, CMSG_DATA (c), sizeof fd);
  return fd;
}

static int
copy_map (pid_t pid, const char *name)
{
  cleanup_free char *self = NULL, *map = NULL, *path = NULL;
  xasprintf (&path, "/proc/self/%s", name);
  if (read_file (path, &self, NULL, NULL) < 0)
    return -1;
  map = launch_cgroup_identity_map (self);
  free (steal_pointer (&path));
  xasprintf (&path, "/proc/%d/%s", (int) pid, name);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int r = write (fd, map, strlen (map)) == (ssize_t) strlen (map) ? 0 : -1;
  close (fd);
  return r;
}

/* Root whose /sys/fs/cgroup is mounted read-only (an unprivileged
 * container's): a child in a user namespace that maps every id to itself
 * (so it stays the files' owner) and a cgroup namespace of its own mounts
 * a writable cgroup2 showing G as its root, prepares, and sends D's fd
 * back; the fd keeps that mount usable after the child is gone. */
static int
prepare_via_userns (uid_t uid, gid_t gid, char **controllers, char **why)
{
  int sv[2], go[2];
  char msg[512];
  pid_t pid;
  int st, dfd;

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe2 (go, O_CLOEXEC) < 0)
    {
      xasprintf (why, "socketpair: %s", strerror (errno));
      return -1;
    }
  pid = fork ();
  if (pid == 0)
    {
      const char *step = "unshare a user namespace";
      char c;
      close (sv[0]);
      close (go[1]);
      if (unshare (CLONE_NEWUSER) < 0)
        goto fail;
      (void) !write (sv[1], "u", 2);
      step = "wait for the id maps";
      if (read (go[0], &c, 1) != 1 || c != 'g')
        goto fail;
      step = "unshare mount and cgroup namespaces";
      if (unshare (CLONE_NEWNS | CLONE_NEWCGROUP) < 0)
        goto fail;
      step = "mount a writable cgroup2";
      if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || launch_cgroup_mount_fresh () < 0)
        goto fail;
      {
        int wfd = open ("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *ctl = NULL;
        if (wfd < 0)
          goto fail;
        int d = prepare (wfd, uid, gid, &ctl, &step);
        if (d < 0)
          goto fail;
        send_fd (sv[1], d, ctl);
        _exit (0);
      }
    fail:
      snprintf (msg, sizeof msg, "!%s: %s", step, strerror (errno));
      send_fd (sv[1], -1, msg);
      _exit (1);
    }
  close (sv[1]);
  close (go[0]);
  if (pid < 0)
    {
      close (sv[0]);
      close (go[1]);
      xasprintf (why, "fork: %s", strerror (errno));
      return -1;
    }
  dfd = -1;
  if (recv (sv[0], msg, sizeof msg, 0) == 2 && msg[0] == 'u')
    {
      if (copy_map (pid, "uid_map") == 0 && copy_map (pid, "gid_map") == 0)
        (void) !write (go[1], "g", 1);
      else
        xasprintf (why, "write the helper's id maps: %s", strerror (errno));
      close (go[1]);
      go[1] = -1;
      dfd = recv_fd (sv[0], msg, sizeof msg);
      if (dfd >= 0)
        *controllers = xstrdup (msg);
      else if (*why == NULL)
        xasprintf (why, "%s", msg[0] == '!' ? msg + 1 : "the helper died");
    }
  else if (*why == NULL)
    xasprintf (why, "a user namespace for the helper: refused (seccomp or sysctl)");
  if (go[1] >= 0)
    close (go[1]);
  close (sv[0]);
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  return dfd;
}

bool
launch_cgroup_ours (bool root, const char *own, bool delegate_attr, bool owner, bool read_only, const char **why)
{
  /* Whose cgroup is it to divide?  A container's own (its cgroup namespace
   * root: /proc/self/cgroup says "/"), one systemd delegated (Delegate=yes
   * sets the trusted.delegate or user.delegate attribute, and hands the
   * directory to the unit's user), never a login session's scope, whose
   * processes are systemd's to place. */
  if (root && (strcmp (own, "/") == 0 || delegate_attr))
    return true;
  if (!root && owner && !read_only)
    return true;
  if (root)
    *why = "neither a container's cgroup namespace nor a systemd unit with Delegate=yes (fix: run the "
           "sidecar in a container, or under systemd with Delegate=yes)";
  else if (owner)
    *why = "/sys/fs/cgroup is read-only and only root can make a writable view (fix: start the sidecar as "
           "root, or mount /sys/fs/cgroup read-write)";
  else
    *why = "not delegated to this account (fix: a systemd user unit with Delegate=yes, such as "
           "contrib/rdind.service, or `systemd-run --user -p Delegate=yes`)";
  return false;
}

int
launch_cgroup_delegate (uid_t uid, gid_t gid, int *dfd_out, char **desc)
{
  cleanup_free char *self = NULL, *own = NULL, *gpath = NULL, *controllers = NULL;
  struct statfs sf;
  struct statvfs sv;
  int wfd, dfd;
  bool root = geteuid () == 0, via_userns = false, ro;

  *dfd_out = -1;
  *desc = NULL;
  if (statfs ("/sys/fs/cgroup", &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
    {
      xasprintf (desc, "/sys/fs/cgroup is not cgroup v2 (cgroup v1 or none): containers run without "
                       "resource limits (--memory, --pids-limit and --cpus are not enforced)");
      return 0;
    }
  if (read_file ("/proc/self/cgroup", &self, NULL, NULL) < 0 || (own = launch_cgroup_own_path (self)) == NULL)
    {
      xasprintf (desc, "/proc/self/cgroup names no cgroup v2 path: limits are not enforced");
      return 0;
    }
  /* A restart in the same cgroup finds the sidecar in its own leaf. */
  {
    size_t n = strlen (own);
    if (n > 14 && strcmp (own + n - 14, "/rdind-sidecar") == 0)
      own[n - 14 == 0 ? 1 : n - 14] = '\0';
  }
  xasprintf (&gpath, "/sys/fs/cgroup%s", strcmp (own, "/") == 0 ? "" : own);
  wfd = open (gpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (wfd < 0)
    {
      xasprintf (desc, "cannot open our cgroup %s (%s): limits are not enforced", gpath, strerror (errno));
      return 0;
    }

  {
    char x[8];
    struct stat st;
    const char *why = NULL;
    bool delegated = getxattr (gpath, "trusted.delegate", x, sizeof x) > 0
                     || getxattr (gpath, "user.delegate", x, sizeof x) > 0;
    bool owner = fstat (wfd, &st) == 0 && st.st_uid == geteuid ();
    ro = fstatvfs (wfd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
    if (!launch_cgroup_ours (root, own, delegated, owner, ro, &why))
      {
        xasprintf (desc, "our cgroup %s: %s: limits are not enforced", own, why);
        close (wfd);
        return 0;
      }
  }

  if (ro)
    {
      cleanup_free char *why = NULL;
      close (wfd);
      via_userns = true;
      dfd = prepare_via_userns (uid, gid, &controllers, &why);
      if (dfd < 0)
        {
          xasprintf (desc, "/sys/fs/cgroup is read-only and a writable view failed (%s): limits are not enforced",
                     why ? why : "?");
          return 0;
        }
    }
  else
    {
      const char *step = NULL;
      dfd = prepare (wfd, uid, gid, &controllers, &step);
      int e = errno;
      close (wfd);
      if (dfd < 0)
        {
          xasprintf (desc, "cgroup %s: %s: %s: limits are not enforced", own, step, strerror (e));
          return 0;
        }
    }
  if (controllers == NULL || *controllers == '\0')
    {
      close (dfd);
      xasprintf (desc, "cgroup %s offers none of memory, pids, cpu, io to delegate: limits are not enforced", own);
      return 0;
    }
  xasprintf (desc, "%s%srdind-daemon controllers=%s%s", own, strcmp (own, "/") == 0 ? "" : "/", controllers,
             via_userns ? " (through a user namespace of our own: read-only /sys/fs/cgroup)" : "");
  *dfd_out = dfd;
  return 1;
}

/* Removes the empty cgroups below DFD/NAME, depth first (a run the last
 * launcher left behind); one whose processes live on stays. */
static void
prune (int dfd, const char *name, int depth)
{
  int fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || depth > 8)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return;
    }
  struct dirent *e;
  while ((e = readdir (d)))
    if (e->d_type == DT_DIR && e->d_name[0] != '.')
      prune (dirfd (d), e->d_name, depth + 1);
  closedir (d);
  unlinkat (dfd, name, AT_REMOVEDIR);
}

int
launch_cgroup_enter (int dfd, int *rfd, char **why)
{
  char name[64];
  *rfd = -1;
  *why = NULL;
  {
    int fd = dup (dfd);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    struct dirent *e;
    while (d && (e = readdir (d)))
      if (e->d_type == DT_DIR && strncmp (e->d_name, "run-", 4) == 0)
        prune (dfd, e->d_name, 0);
    if (d)
      closedir (d);
    else if (fd >= 0)
      close (fd);
  }
  snprintf (name, sizeof name, "run-%d", (int) getpid ());
  if (mkdirat (dfd, name, 0755) < 0 && errno != EEXIST)
    {
      xasprintf (why, "mkdir %s: %s", name, strerror (errno));
      return -1;
    }
  *rfd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*rfd < 0 || mkdirat (*rfd, "launcher", 0755) < 0 || mkdirat (*rfd, "init", 0755) < 0
      || launch_cgroup_move_self (*rfd, NULL) < 0)
    {
      xasprintf (why, "enter %s: %s", name, strerror (errno));
      if (*rfd >= 0)
        close (*rfd);
      *rfd = -1;
      unlinkat (dfd, name, AT_REMOVEDIR);
      return -1;
    }
  return 0;
}

int
launch_cgroup_init_ns (pid_t helper, char **controllers, char **why)
{
  cleanup_free char *avail = NULL, *pick = NULL;
  int root;

  *controllers = NULL;
  *why = NULL;
  /* We are in R (inherited): R becomes our cgroup namespace's root. */
  if (unshare (CLONE_NEWCGROUP) < 0)
    {
      xasprintf (why, "unshare a cgroup namespace: %s", strerror (errno));
      return -1;
    }
  if (launch_cgroup_mount_fresh () < 0)
    {
      xasprintf (why, "mount cgroup2: %s", strerror (errno));
      return -1;
    }
  root = open ("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0 || launch_cgroup_move_self (root, "init") < 0)
    {
      xasprintf (why, "move into init: %s", strerror (errno));
      if (root >= 0)
        close (root);
      return -1;
    }
  /* Our child forked before this (portd) is still in R: it goes too, or R
   * could never hand out a controller (EBUSY as long as it lives). */
  if (helper > 0)
    {
      cleanup_free char *pid = NULL;
      xasprintf (&pid, "%d", (int) helper);
      if (write_at (root, "init/cgroup.procs", pid) < 0 && errno != ESRCH)
        {
          xasprintf (why, "move the port helper (pid %d) into init: %s", (int) helper, strerror (errno));
          close (root);
          return -1;
        }
    }
  avail = read_at (root, "cgroup.controllers");
  pick = launch_cgroup_pick (avail ? avail : "");
  /* The launcher leaves R for R/launcher before it lets us go on; give a
   * slow machine a moment all the same (EBUSY: a process still in R), and
   * say which one if it never leaves. */
  int busy = 0;
  for (int i = 0; i < 200; i++)
    {
      cleanup_free char *first = NULL;
      xasprintf (&first, "+%s", pick);
      char *sp = strchr (first, ' ');
      if (sp)
        *sp = '\0';
      busy = 0;
      if (*pick == '\0' || write_at (root, "cgroup.subtree_control", first) == 0 || (busy = errno) != EBUSY)
        break;
      usleep (10000);
    }
  if (busy == EBUSY)
    {
      /* Pids of our namespace; 0 for one outside it (the launcher). */
      cleanup_free char *left = read_at (root, "cgroup.procs");
      for (char *p = left; p && *p; p++)
        if (*p == '\n')
          *p = ' ';
      log_warn ("cgroup: processes are still in the run's own cgroup, which can then hand out no controller",
                "pids=%s", log_quote (0, left ? left : "?"));
    }
  *controllers = enable_controllers (root, pick);
  close (root);
  return 0;
}
