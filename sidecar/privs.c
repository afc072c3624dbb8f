/* rdind sidecar: the root-only preparation and the one-way privilege drop. */
#include "config.h"

#include <arpa/inet.h>
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "log.h"
#include "sidecar.h"
#include "util.h"

/* rootless networking (slirp4netns) opens /dev/net/tun as the user; many
 * container runtimes hand out a missing or 0600 node. */
static int
ensure_tun (rdind_error_t *err)
{
  struct stat st;
  if (stat ("/dev/net/tun", &st) < 0)
    {
      if (mkdir_p ("/dev/net", 0755, err) < 0)
        return rdind_error_wrap (err, "create /dev/net");
      if (mknod ("/dev/net/tun", S_IFCHR | 0666, makedev (10, 200)) < 0)
        return rdind_make_error (err, errno, "create /dev/net/tun (fix: run with --device /dev/net/tun)");
      log_info ("created /dev/net/tun", "mode=%s", "0666");
    }
  else if (!S_ISCHR (st.st_mode) || major (st.st_rdev) != 10 || minor (st.st_rdev) != 200)
    return rdind_make_error (err, 0, "/dev/net/tun is not the tun device 10:200 (fix: remove it or pass --device /dev/net/tun)");
  if (chmod ("/dev/net/tun", 0666) < 0)
    return rdind_make_error (err, errno, "chmod 0666 /dev/net/tun");
  return 0;
}

/* Creates PATH for the user.  Every component that did not exist before is
 * handed over (root's mkdir would leave /x/certs's new parent /x 0700 root,
 * closed to the user), and so are root-owned components below the user's
 * HOME (~/.local/share/rdind...), or the user could not create siblings
 * there later. */
static int
own_dir (const char *path, const char *home, uid_t uid, gid_t gid, rdind_error_t *err)
{
  cleanup_free char *p = xstrdup (path);
  size_t hl = strlen (home);
  bool below_home = strncmp (path, home, hl) == 0 && path[hl] == '/';
  size_t first_new = 0; /* offset of the first missing component's end */
  struct stat st;

  for (char *s = p + 1;; s++)
    if (*s == '/' || *s == '\0')
      {
        char c = *s;
        *s = '\0';
        bool missing = stat (p, &st) < 0;
        *s = c;
        if (missing)
          {
            first_new = (size_t) (s - p);
            break;
          }
        if (c == '\0')
          break;
      }
  if (mkdir_p (path, 0700, err) < 0)
    return rdind_error_wrap (err, "create %s", path);
  for (char *s = p + 1;; s++)
    if (*s == '/' || *s == '\0')
      {
        char c = *s;
        size_t off = (size_t) (s - p);
        *s = '\0';
        bool hand_over = (first_new && off >= first_new) || c == '\0'
                         || (below_home && off > hl && stat (p, &st) == 0 && st.st_uid == 0);
        if (hand_over && chown (p, uid, gid) < 0)
          return rdind_make_error (err, errno, "chown %s to %u:%u", p, (unsigned) uid, (unsigned) gid);
        *s = c;
        if (c == '\0')
          break;
      }
  return 0;
}

static int
write_map (pid_t pid, const char *name, unsigned long self, uint64_t start, uint64_t count, rdind_error_t *err)
{
  cleanup_free char *path = NULL, *map = NULL;
  cleanup_close int fd = -1;
  size_t len;

  xasprintf (&path, "/proc/%d/%s", (int) pid, name);
  /* 0 is us (files in the data root stay ours), 1..count the subordinate
   * range, exactly what newuidmap would write from /etc/subuid. */
  xasprintf (&map, "0 %lu 1\n1 %llu %llu\n", self, (unsigned long long) start, (unsigned long long) count);
  len = strlen (map);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write (fd, map, len) != (ssize_t) len)
    return rdind_make_error (err, errno, "write %s", path);
  return 0;
}

/* Creates the user namespace the launcher will run dockerd in, while we
 * still hold CAP_SETUID and CAP_SETGID, and returns an fd that keeps it
 * alive (the launcher setns()es into it at every start).  This replaces
 * newuidmap/newgidmap, whose file capabilities would not survive the empty
 * bounding set and no_new_privs we are about to set.
 *
 * The kernel lets a map be written only by a process that has CAP_SYS_ADMIN
 * over the new namespace (its owner: same euid) and CAP_SETUID/CAP_SETGID
 * over the parent one, so we do it already as the target user, keeping
 * just those two capabilities across the uid change.  Returns -1 with *ERR
 * unset when this kernel or seccomp profile refuses user namespaces: the
 * launcher's preflight then prints the doctor report with the fix. */
static int
make_userns (uid_t uid, gid_t gid, uint64_t *ids, rdind_error_t *err)
{
  int go[2], done[2], fd = -1, st;
  pid_t pid;
  char c = 0;

  if (pipe2 (go, O_CLOEXEC) < 0 || pipe2 (done, O_CLOEXEC) < 0)
    return rdind_make_error (err, errno, "pipe");
  /* After the uid change the kernel made us non-dumpable, which would leave
   * the child's /proc files owned by root and closed to us. */
  prctl (PR_SET_DUMPABLE, 1, 0, 0, 0);
  pid = fork ();
  if (pid == 0)
    {
      close (go[0]);
      close (done[1]);
      c = unshare (CLONE_NEWUSER) == 0 ? 'u' : 'e';
      (void) !write (go[1], &c, 1);
      /* Stay until the parent has written the maps and opened ns/user. */
      (void) !read (done[0], &c, 1);
      _exit (0);
    }
  close (go[1]);
  close (done[0]);
  if (pid < 0 || read (go[0], &c, 1) != 1 || c != 'u')
    {
      int e = errno;
      close (go[0]);
      close (done[1]);
      if (pid > 0)
        waitpid (pid, &st, 0);
      prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
      if (pid < 0)
        return rdind_make_error (err, e, "fork");
      log_warn ("cannot create a user namespace; the launcher's checks will say why", NULL);
      return -1;
    }
  if (write_map (pid, "uid_map", uid, ids[0], ids[1], err) == 0
      && write_map (pid, "gid_map", gid, ids[2], ids[3], err) == 0)
    {
      cleanup_free char *path = NULL;
      xasprintf (&path, "/proc/%d/ns/user", (int) pid);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        rdind_make_error (err, errno, "open %s", path);
    }
  close (go[0]);
  close (done[1]);
  waitpid (pid, &st, 0);
  /* Non-dumpable again: our memory holds the CA key, and other processes of
   * this user (a `docker exec` into the sidecar's container) must not be
   * able to ptrace it or read it through /proc. */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  return fd;
}

/* The daemon's cgroup subtree (launcher/cgroup.c).  What came of it is
 * logged by sidecar_report_cgroup, once the sidecar knows it will start
 * (a second instance's refusal stays one line). */
static char *cgroup_desc;
static bool cgroup_delegated;

static void
delegate_cgroup (uid_t uid, gid_t gid, int *cgroup_fd)
{
  free (cgroup_desc);
  cgroup_desc = NULL;
  cgroup_delegated = launch_cgroup_delegate (uid, gid, cgroup_fd, &cgroup_desc) == 1;
}

void
sidecar_report_cgroup (void)
{
  /* "X controllers=memory pids cpu io (...)": the three that hold the limits. */
  const char *c = cgroup_desc ? strstr (cgroup_desc, "controllers=") : NULL;
  cleanup_free char *list = c ? xstrndup (c + 12, strcspn (c + 12, "(")) : NULL;
  bool all = list && launch_cgroup_has (list, "memory") && launch_cgroup_has (list, "pids")
             && launch_cgroup_has (list, "cpu");
  if (cgroup_delegated && all)
    log_info ("cgroup delegated to the daemon: docker run --memory, --pids-limit and --cpus are enforced",
              "cgroup=%s", log_quote (0, cgroup_desc ? cgroup_desc : "?"));
  else if (cgroup_delegated)
    log_warn ("cgroup delegated to the daemon, without every controller: a limit whose controller is "
              "missing is NOT enforced (rdind doctor names it and the fix)",
              "cgroup=%s", log_quote (0, cgroup_desc ? cgroup_desc : "?"));
  else
    log_warn ("no cgroup for the daemon's limits", "why=%s", log_quote (0, cgroup_desc ? cgroup_desc : "?"));
  free (cgroup_desc);
  cgroup_desc = NULL;
}

int
sidecar_drop_privileges (struct rdind_conf *conf, int *userns_fd, int *cgroup_fd, rdind_error_t *err)
{
  uint64_t ids[4];

  *userns_fd = -1;
  *cgroup_fd = -1;
  if (geteuid () != 0)
    {
      conf_resolve_paths (conf);
      delegate_cgroup (geteuid (), getegid (), cgroup_fd);
      return 0;
    }
  struct passwd *pw = getpwnam (conf->user);
  if (pw == NULL)
    return rdind_make_error (err, 0, "sidecar.user '%s' does not exist (fix: create the account or set RDIND_SIDECAR_USER)",
                             conf->user);
  if (pw->pw_uid == 0)
    return rdind_make_error (err, 0, "sidecar.user '%s' is root; the sidecar never serves as root (fix: name an unprivileged account)",
                             conf->user);
  uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  if (ensure_tun (err) < 0)
    return -1;

  /* The environment must describe the target user before the "auto" paths
   * are resolved, or they would land in root's home. */
  cleanup_free char *rundir = NULL;
  xasprintf (&rundir, "/run/user/%u", (unsigned) uid);
  if (own_dir (rundir, pw->pw_dir, uid, gid, err) < 0)
    return -1;
  setenv ("HOME", pw->pw_dir, 1);
  setenv ("USER", pw->pw_name, 1);
  setenv ("LOGNAME", pw->pw_name, 1);
  setenv ("XDG_RUNTIME_DIR", rundir, 1);
  unsetenv ("XDG_CONFIG_HOME");
  unsetenv ("XDG_DATA_HOME");
  unsetenv ("XDG_STATE_HOME");
  conf_resolve_paths (conf);
  if (own_dir (pw->pw_dir, pw->pw_dir, uid, gid, err) < 0 || own_dir (conf->certdir, pw->pw_dir, uid, gid, err) < 0
      || own_dir (conf->data_root, pw->pw_dir, uid, gid, err) < 0 || own_dir (conf->state_dir, pw->pw_dir, uid, gid, err) < 0
      || (conf->cache_dir && *conf->cache_dir && own_dir (conf->cache_dir, pw->pw_dir, uid, gid, err) < 0))
    return -1;

  /* Before the drop: dividing the container's cgroup needs root. */
  delegate_cgroup (uid, gid, cgroup_fd);

  if (launch_subid_require ("/etc/subuid", pw->pw_name, uid, &ids[0], &ids[1], err) < 0
      || launch_subid_require ("/etc/subgid", pw->pw_name, uid, &ids[2], &ids[3], err) < 0)
    return rdind_error_wrap (err, "sidecar.user %s", pw->pw_name);

  /* One step to the user: supplementary groups dropped, the bounding set
   * emptied (no later exec can gain a capability, whatever file
   * capabilities or setuid bits it finds), and of all capabilities only
   * CAP_SETUID/CAP_SETGID kept, for the id maps below. */
  capng_clear (CAPNG_SELECT_BOTH);
  capng_updatev (CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SETUID, CAP_SETGID, -1);
  if (capng_change_id ((int) uid, (int) gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) != 0)
    return rdind_make_error (err, errno, "drop privileges to %s (%u:%u)", pw->pw_name, (unsigned) uid,
                             (unsigned) gid);
  *userns_fd = make_userns (uid, gid, ids, err);
  if (*userns_fd < 0 && *err)
    return rdind_error_wrap (err, "map the subordinate ids of %s", pw->pw_name);
  /* The last two go, and no_new_privs makes it final for every process we
   * start: a setuid binary can no longer bring anything back. */
  capng_clear (CAPNG_SELECT_CAPS);
  if (capng_apply (CAPNG_SELECT_CAPS) != 0 || prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return rdind_make_error (err, errno, "drop the last capabilities");
  if (getuid () != uid || geteuid () != uid || getgid () != gid || setuid (0) == 0
      || capng_have_capabilities (CAPNG_SELECT_CAPS) != CAPNG_NONE || prctl (PR_CAPBSET_READ, CAP_SETUID) != 0)
    return rdind_make_error (err, 0, "privilege drop to %s did not stick", pw->pw_name);
  if (chdir (pw->pw_dir) < 0)
    (void) chdir ("/");
  log_info ("dropped privileges", "user=%s uid=%u gid=%u userns=%s capabilities=none bounding_set=empty no_new_privs=1",
            pw->pw_name, (unsigned) uid, (unsigned) gid, *userns_fd >= 0 ? "prepared" : "none");
  return 0;
}

/* "a.b.c.d", "a.b.c.d/n", "v6", "v6/n" against ADDR. */
static bool
cidr_match (const char *spec, const struct sockaddr *addr)
{
  char buf[128];
  snprintf (buf, sizeof buf, "%s", spec);
  int bits = -1;
  char *slash = strchr (buf, '/');
  if (slash)
    {
      *slash = '\0';
      bits = atoi (slash + 1);
    }
  unsigned char net[16], a[16];
  size_t len;
  if (inet_pton (AF_INET, buf, net) == 1)
    {
      len = 4;
      if (addr->sa_family == AF_INET)
        memcpy (a, &((const struct sockaddr_in *) addr)->sin_addr, 4);
      else if (addr->sa_family == AF_INET6
               && IN6_IS_ADDR_V4MAPPED (&((const struct sockaddr_in6 *) addr)->sin6_addr))
        memcpy (a, ((const unsigned char *) &((const struct sockaddr_in6 *) addr)->sin6_addr) + 12, 4);
      else
        return false;
    }
  else if (inet_pton (AF_INET6, buf, net) == 1)
    {
      len = 16;
      if (addr->sa_family != AF_INET6)
        return false;
      memcpy (a, &((const struct sockaddr_in6 *) addr)->sin6_addr, 16);
    }
  else
    return false;
  if (bits < 0 || bits > (int) len * 8)
    bits = (int) len * 8;
  for (int i = 0; i < bits; i++)
    {
      int byte = i / 8, bit = 7 - (i % 8);
      if (((net[byte] >> bit) & 1) != ((a[byte] >> bit) & 1))
        return false;
    }
  return true;
}

bool
sidecar_allowed (char **allow_from, char **resolved, const struct sockaddr *addr)
{
  if (allow_from == NULL || allow_from[0] == NULL)
    return true;
  for (char **p = allow_from; *p; p++)
    if (cidr_match (*p, addr))
      return true;
  for (char **p = resolved; p && *p; p++)
    if (cidr_match (*p, addr))
      return true;
  return false;
}

char **
sidecar_resolve_names (char **allow_from)
{
  char **out = NULL;
  for (char **p = allow_from; p && *p; p++)
    {
      unsigned char tmp[16];
      char buf[128];
      snprintf (buf, sizeof buf, "%s", *p);
      char *slash = strchr (buf, '/');
      if (slash)
        *slash = '\0';
      if (inet_pton (AF_INET, buf, tmp) == 1 || inet_pton (AF_INET6, buf, tmp) == 1)
        continue;
      struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
      int r = getaddrinfo (*p, NULL, &hints, &res);
      if (r != 0)
        {
          log_warn ("allow_from name does not resolve", "name=%s error=%s", *p, log_quote (0, gai_strerror (r)));
          continue;
        }
      for (struct addrinfo *a = res; a; a = a->ai_next)
        {
          char host[NI_MAXHOST];
          if (getnameinfo (a->ai_addr, a->ai_addrlen, host, sizeof host, NULL, 0, NI_NUMERICHOST) == 0
              && !strv_contains (out, host))
            strv_append (&out, host);
        }
      freeaddrinfo (res);
    }
  return out;
}
