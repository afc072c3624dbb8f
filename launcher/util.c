/* rdind - launcher helpers: subordinate ids and their mapping, executable
 * lookup, the slirp4netns network's well-known hosts, a flat JSON reader, the
 * namespace flags, the storage probe and one direction of a splice relay.
 * Built into both `rdind` and the static rdind-launch, so nothing here may
 * need more than the C library. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "launch-int.h"
#include "launch.h"
#include "util.h"

char *
launch_docker_sock_path (const struct rdind_conf *conf)
{
  char *p = NULL;
  xasprintf (&p, "%s/docker.sock", conf->state_dir);
  return p;
}

int
launch_subid_parse (const char *content, const char *user, uid_t uid, uint64_t *start,
                    uint64_t *count)
{
  char uidbuf[32];
  const char *line = content;

  snprintf (uidbuf, sizeof uidbuf, "%u", (unsigned) uid);
  while (line && *line)
    {
      const char *eol = strchr (line, '\n');
      size_t len = eol ? (size_t) (eol - line) : strlen (line);
      cleanup_free char *l = xstrndup (line, len);
      char *c1 = strchr (l, ':');
      char *c2 = c1 ? strchr (c1 + 1, ':') : NULL;

      line = eol ? eol + 1 : NULL;
      if (l[0] == '#' || c1 == NULL || c2 == NULL)
        continue;
      *c1 = *c2 = '\0';
      if ((user && strcmp (l, user) == 0) || strcmp (l, uidbuf) == 0)
        {
          char *end1, *end2;
          unsigned long long s, n;

          errno = 0;
          s = strtoull (c1 + 1, &end1, 10);
          n = strtoull (c2 + 1, &end2, 10);
          if (errno || end1 == c1 + 1 || end2 == c2 + 1 || (*end2 && !isspace ((unsigned char) *end2)))
            continue;
          *start = s;
          *count = n;
          return 1;
        }
    }
  return 0;
}

/* Adds to RANGES (pairs of start, end) every range of CONTENT, whoever
 * owns it. */
static void
subid_ranges (const char *content, uint64_t **ranges, size_t *n)
{
  for (const char *line = content; line && *line;)
    {
      const char *eol = strchr (line, '\n');
      cleanup_free char *l = xstrndup (line, eol ? (size_t) (eol - line) : strlen (line));
      unsigned long long s, c;
      char *c1 = strchr (l, ':');

      line = eol ? eol + 1 : NULL;
      if (l[0] == '#' || c1 == NULL || sscanf (c1 + 1, "%llu:%llu", &s, &c) != 2)
        continue;
      *ranges = xrealloc (*ranges, (*n + 2) * sizeof **ranges);
      (*ranges)[(*n)++] = s;
      (*ranges)[(*n)++] = s + c;
    }
}

uint64_t
launch_subid_free (const char *subuid, const char *subgid, uint64_t count)
{
  cleanup_free uint64_t *r = NULL;
  size_t n = 0;
  uint64_t start = 100000; /* useradd's SUB_UID_MIN */
  bool moved = true;

  subid_ranges (subuid, &r, &n);
  subid_ranges (subgid, &r, &n);
  while (moved)
    {
      moved = false;
      for (size_t i = 0; i < n; i += 2)
        if (r[i] < start + count && start < r[i + 1])
          {
            start = r[i + 1];
            moved = true;
          }
    }
  /* ids are 32 bits and (uid_t)-1 is "no id". */
  return start + count <= 0xffffffffULL ? start : 0;
}

char *
launch_subid_advice (const char *user, const char *which)
{
  cleanup_free char *u = NULL, *g = NULL;
  size_t len;
  unsigned long long s, e;
  char *out = NULL;

  read_file ("/etc/subuid", &u, &len, NULL);
  read_file ("/etc/subgid", &g, &len, NULL);
  s = launch_subid_free (u, g, 65536);
  if (s == 0)
    s = 100000;
  e = s + 65535;
  if (which)
    xasprintf (&out, "usermod --add-%ss %llu-%llu %s", which, s, e, user ? user : "USER");
  else
    xasprintf (&out, "usermod --add-subuids %llu-%llu --add-subgids %llu-%llu %s", s, e, s, e,
               user ? user : "USER");
  return out;
}

int
launch_subid_lookup (const char *file, const char *user, uid_t uid, uint64_t *start,
                     uint64_t *count, rdind_error_t *err)
{
  cleanup_free char *content = NULL;

  if (access (file, F_OK) < 0 && errno == ENOENT)
    return 0;
  if (read_file (file, &content, NULL, err) < 0)
    return rdind_error_wrap (err, "read %s", file);
  return launch_subid_parse (content, user, uid, start, count);
}

static char *
find_in (const char *dirs, const char *name)
{
  cleanup_free char *copy = xstrdup (dirs);
  char *save = NULL;

  for (char *d = strtok_r (copy, ":", &save); d; d = strtok_r (NULL, ":", &save))
    {
      char *p = NULL;
      if (*d == '\0')
        continue;
      xasprintf (&p, "%s/%s", d, name);
      if (access (p, X_OK) == 0)
        return p;
      free (p);
    }
  return NULL;
}

char *
launch_find_exe (const char *name)
{
  const char *path = getenv ("PATH");
  char *r;

  if (name == NULL || *name == '\0')
    return NULL;
  if (strchr (name, '/'))
    return access (name, X_OK) == 0 ? xstrdup (name) : NULL;
  if (path && (r = find_in (path, name)))
    return r;
  return find_in ("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", name);
}

int
launch_cidr_hosts (const char *cidr, char **guest, char **dns, rdind_error_t *err)
{
  cleanup_free char *net = xstrdup (cidr ? cidr : "10.0.2.0/24");
  char *slash = strchr (net, '/');
  struct in_addr a;
  char buf[INET_ADDRSTRLEN];
  long bits;

  if (slash == NULL)
    return rdind_make_error (err, 0, "launcher.cidr `%s`: expected ADDRESS/BITS such as 10.0.2.0/24", cidr);
  *slash = '\0';
  bits = strtol (slash + 1, NULL, 10);
  if (inet_pton (AF_INET, net, &a) != 1 || bits < 8 || bits > 25)
    return rdind_make_error (err, 0, "launcher.cidr `%s`: expected an IPv4 network of /8 to /25 such as 10.0.2.0/24", cidr);
  uint32_t base = ntohl (a.s_addr) & (bits == 0 ? 0 : 0xffffffffu << (32 - bits));
  if (guest)
    {
      struct in_addr g = { htonl (base + 100) };
      *guest = xstrdup (inet_ntop (AF_INET, &g, buf, sizeof buf));
    }
  if (dns)
    {
      struct in_addr d = { htonl (base + 3) };
      *dns = xstrdup (inet_ntop (AF_INET, &d, buf, sizeof buf));
    }
  return 0;
}

char *
launch_cidr_nth (const char *cidr, unsigned n)
{
  cleanup_free char *net = xstrdup (cidr);
  char *slash = strchr (net, '/');
  struct in_addr a;
  char buf[INET_ADDRSTRLEN];
  long bits;

  if (slash == NULL)
    return NULL;
  *slash = '\0';
  bits = strtol (slash + 1, NULL, 10);
  if (inet_pton (AF_INET, net, &a) != 1 || bits < 8 || bits > 25)
    return NULL;
  uint32_t base = ntohl (a.s_addr) & (0xffffffffu << (32 - bits));
  struct in_addr h = { htonl (base + n) };
  return xstrdup (inet_ntop (AF_INET, &h, buf, sizeof buf));
}

char *
launch_json_get (const char *json, const char *key)
{
  cleanup_free char *pat = NULL;
  const char *p;

  if (json == NULL)
    return NULL;
  xasprintf (&pat, "\"%s\"", key);
  for (p = strstr (json, pat); p; p = strstr (p + 1, pat))
    {
      const char *v = p + strlen (pat);
      while (isspace ((unsigned char) *v))
        v++;
      if (*v != ':')
        continue;
      v++;
      while (isspace ((unsigned char) *v))
        v++;
      if (*v == '"')
        {
          const char *e = ++v;
          while (*e && *e != '"')
            e += (*e == '\\' && e[1]) ? 2 : 1;
          return xstrndup (v, e - v);
        }
      if (*v == '{' || *v == '[')
        return xstrdup (v); /* the caller looks inside */
      const char *e = v;
      while (*e && *e != ',' && *e != '}' && *e != ']' && !isspace ((unsigned char) *e))
        e++;
      return xstrndup (v, e - v);
    }
  return NULL;
}

static int
write_str (const char *path, const char *s)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  int r;
  if (fd < 0)
    return -1;
  r = write (fd, s, strlen (s)) == (ssize_t) strlen (s) ? 0 : -1;
  close (fd);
  return r;
}

/* In a forked child: become root of a fresh user namespace that maps only
 * ourselves (what an unprivileged process may write without newuidmap; the
 * kernel demands setgroups=deny first, or a gid map would let us drop
 * supplementary groups used as negative permissions). */
int
launch_self_userns (int extra_flags)
{
  char buf[64];
  uid_t uid = geteuid ();
  gid_t gid = getegid ();

  if (unshare (CLONE_NEWUSER | extra_flags) < 0)
    return -1;
  if (write_str ("/proc/self/setgroups", "deny") < 0)
    return -1;
  snprintf (buf, sizeof buf, "0 %u 1", (unsigned) uid);
  if (write_str ("/proc/self/uid_map", buf) < 0)
    return -1;
  snprintf (buf, sizeof buf, "0 %u 1", (unsigned) gid);
  if (write_str ("/proc/self/gid_map", buf) < 0)
    return -1;
  return 0;
}

int
launch_probe_overlay (const char *dir, char **why)
{
  cleanup_free char *tmpl = NULL;
  int pfd[2];
  pid_t pid;
  int st, res = 0;
  char step = 0;

  if (mkdir_p (dir, 0700, NULL) < 0)
    {
      xasprintf (why, "cannot create %s", dir);
      return errno ? errno : EIO;
    }
  xasprintf (&tmpl, "%s/.rdind-overlay-probe.XXXXXX", dir);
  if (mkdtemp (tmpl) == NULL)
    {
      xasprintf (why, "cannot create a directory in %s: %s", dir, strerror (errno));
      return errno;
    }
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return errno;
  pid = fork ();
  if (pid == 0)
    {
      char msg[2] = { 0, 0 };
      char p[4][4096];
      cleanup_free char *opts = NULL;
      const char *sub[] = { "lower", "upper", "work", "merged" };

      close (pfd[0]);
      for (int i = 0; i < 4; i++)
        {
          snprintf (p[i], sizeof p[i], "%s/%s", tmpl, sub[i]);
          mkdir (p[i], 0700);
        }
      if (launch_self_userns (CLONE_NEWNS) < 0)
        {
          msg[0] = 'u';
          msg[1] = (char) errno;
        }
      else
        {
          /* dockerd's rootless overlay2 mounts with userxattr on the kernels
           * that allow overlay in a user namespace (5.11+); probe the same. */
          xasprintf (&opts, "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", p[0], p[1], p[2]);
          if (mount ("overlay", p[3], "overlay", 0, opts) < 0)
            {
              msg[0] = 'm';
              msg[1] = (char) errno;
            }
          else
            umount2 (p[3], MNT_DETACH);
        }
      if (write (pfd[1], msg, 2) < 0)
        _exit (1);
      _exit (0);
    }
  close (pfd[1]);
  if (pid < 0)
    {
      close (pfd[0]);
      return errno;
    }
  char msg[2] = { 'x', EIO };
  if (read (pfd[0], msg, 2) != 2)
    msg[0] = 'x';
  close (pfd[0]);
  waitpid (pid, &st, 0);
  step = msg[0];
  if (step)
    {
      res = msg[1] ? msg[1] : EIO;
      xasprintf (why, "%s: %s",
                 step == 'u' ? "cannot create a user namespace"
                 : step == 'm' ? "overlay mount in a user namespace refused"
                               : "probe child failed",
                 strerror (res));
    }
  /* overlay leaves work/work with mode 000. */
  {
    char p[4096];
    snprintf (p, sizeof p, "%s/work/work", tmpl);
    chmod (p, 0700);
    rmdir (p);
    const char *sub[] = { "lower", "upper", "work", "merged" };
    for (int i = 0; i < 4; i++)
      {
        snprintf (p, sizeof p, "%s/%s", tmpl, sub[i]);
        rmdir (p);
      }
    rmdir (tmpl);
  }
  return res;
}

int
launch_pick_storage (const struct rdind_conf *conf, char **driver, char **why, rdind_error_t *err)
{
  cleanup_free char *owhy = NULL;
  cleanup_free char *fuse = NULL;
  int r;

  if (strcmp (conf->storage_driver, "auto") != 0)
    {
      *driver = xstrdup (conf->storage_driver);
      *why = xstrdup ("set in the configuration");
      return 0;
    }
  r = launch_probe_overlay (conf->data_root, &owhy);
  if (r == 0)
    {
      *driver = xstrdup ("overlay2");
      *why = xstrdup ("rootless overlay mount works on this kernel");
      return 0;
    }
  fuse = launch_find_exe ("fuse-overlayfs");
  if (fuse && access ("/dev/fuse", R_OK | W_OK) == 0)
    {
      *driver = xstrdup ("fuse-overlayfs");
      xasprintf (why, "overlay2 unusable (%s); fuse-overlayfs at %s", owhy, fuse);
      return 0;
    }
  *driver = xstrdup ("vfs");
  xasprintf (why, "overlay2 unusable (%s) and fuse-overlayfs %s; vfs is slow", owhy,
             fuse ? "cannot open /dev/fuse" : "is not installed");
  return 0;
}

int
launch_run_wait (char **argv, char **out_err)
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

char *
launch_exit_describe (const char *name, const char *exe, int status, const char *log_text,
                      const char *log_path)
{
  cleanup_free char *how = NULL, *tail = NULL;
  size_t len = log_text ? strlen (log_text) : 0;

  if (WIFSIGNALED (status))
    xasprintf (&how, "was killed by signal %d (%s)", WTERMSIG (status), strsignal (WTERMSIG (status)));
  else
    xasprintf (&how, "exited with status %d", WIFEXITED (status) ? WEXITSTATUS (status) : status);
  /* The last three lines of what it wrote, at most 400 bytes, on one line. */
  while (len && (log_text[len - 1] == '\n' || log_text[len - 1] == ' '))
    len--;
  if (len)
    {
      size_t start = len;
      int lines = 0;
      while (start > 0 && len - start < 400)
        {
          if (log_text[start - 1] == '\n' && ++lines == 3)
            break;
          start--;
        }
      tail = xmalloc (len - start + 1);
      for (size_t i = start; i < len; i++)
        {
          char c = log_text[i];
          tail[i - start] = c == '\n' || c == '\r' || c == '\t' ? ' ' : ((unsigned char) c < 0x20 ? '?' : c);
        }
      tail[len - start] = '\0';
    }
  char *s;
  xasprintf (&s, "%s (%s) %s during setup%s%s%s (see %s)", name, exe, how, tail ? ": `" : "",
             tail ? tail : "", tail ? "`" : "", log_path);
  return s;
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
  r = launch_run_wait (argv, &out);
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

/* Is A the same path as B or below it?  Both absolute and normalized. */
static bool
path_within (const char *a, const char *b)
{
  size_t n = strlen (b);
  if (n == 1 && b[0] == '/')
    return true;
  return strncmp (a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* The certdir holds the CA key, the server key and every peer's client key:
 * the daemon needs none of them, and anything the daemon can see a job can
 * bind into a container.  So the daemon's mount namespace masks certdir (init.c);
 * that cannot work when certdir and the daemon's own directories nest. */
int
launch_hide_paths (const char *certdir, const char *state_dir, const char *data_root, char ***out,
                   rdind_error_t *err)
{
  char buf[PATH_MAX];
  const char *c = realpath (certdir, buf) ? buf : certdir;
  const struct
  {
    const char *key, *path;
  } own[] = { { "launcher.state_dir", state_dir }, { "launcher.data_root", data_root } };

  *out = NULL;
  if (c[0] != '/' || strcmp (c, "/") == 0)
    return rdind_make_error (err, 0, "tls.certdir '%s' must be an absolute directory other than /", certdir);
  for (size_t i = 0; i < ARRAY_SIZE (own); i++)
    {
      char b2[PATH_MAX];
      const char *o = realpath (own[i].path, b2) ? b2 : own[i].path;
      if (path_within (o, c) || path_within (c, o))
        return rdind_make_error (err, 0,
                                 "tls.certdir '%s' and %s '%s' nest: the daemon must see its own "
                                 "directory but never certdir (fix: put them side by side, e.g. "
                                 "certdir=/certs and %s under /var/lib/rdind)",
                                 certdir, own[i].key, own[i].path, own[i].key);
    }
  strv_append (out, c);
  return 0;
}

/* The pid holding the flock of the file open on FD, from /proc/locks
 * (matched by device and inode), else the pid written in the file; 0 when
 * neither says. */
static long
flock_holder (int fd)
{
  struct stat st;
  cleanup_file FILE *f = NULL;
  char line[256], buf[32];
  ssize_t n;

  if (fstat (fd, &st) == 0 && (f = fopen ("/proc/locks", "re")) != NULL)
    while (fgets (line, sizeof line, f))
      {
        long pid;
        unsigned maj, min;
        unsigned long long ino;
        /* "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF"; waiters have "->". */
        if (sscanf (line, "%*d: FLOCK %*s %*s %ld %x:%x:%llu", &pid, &maj, &min, &ino) == 4
            && maj == major (st.st_dev) && min == minor (st.st_dev) && ino == (unsigned long long) st.st_ino)
          return pid;
      }
  n = pread (fd, buf, sizeof buf - 1, 0);
  buf[n > 0 ? n : 0] = '\0';
  return strtol (buf, NULL, 10);
}

int
launch_lock_dir (const char *dir, const char *key, int *fd, rdind_error_t *err)
{
  return launch_lock_file (dir, "rdind.lock", key, true, fd, err);
}

int
launch_lock_file (const char *dir, const char *name, const char *key, bool parent_ok, int *fd,
                  rdind_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_close int lfd = -1;
  char buf[32];
  long pid;

  *fd = -1;
  xasprintf (&path, "%s/%s", dir, name);
  lfd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lfd < 0)
    return rdind_make_error (err, errno, "open %s (the lock of %s)", path, key);
  if (flock (lfd, LOCK_EX | LOCK_NB) == 0)
    {
      /* The pid is only for the message of whoever comes second: a full
       * file system (faults-disk.sh) must not stop us here. */
      snprintf (buf, sizeof buf, "%ld\n", (long) getpid ());
      if (ftruncate (lfd, 0) == 0)
        (void) !pwrite (lfd, buf, strlen (buf), 0);
      *fd = steal_fd (&lfd);
      return 0;
    }
  if (errno != EWOULDBLOCK)
    return rdind_make_error (err, errno, "lock %s", path);
  pid = flock_holder (lfd);
  if (parent_ok && pid > 0 && pid == (long) getppid ())
    return 0;
  if (pid <= 0)
    return rdind_make_error (err, 0,
                             "another rdind is running on %s = %s: stop it first, or give this "
                             "one its own %s",
                             key, dir, key);
  return rdind_make_error (err, 0,
                           "another rdind (pid %ld) is running on %s = %s: stop it first, or give "
                           "this one its own %s",
                           pid, key, dir, key);
}

int
launch_splice_open (struct launch_splice *d, size_t want)
{
  if (pipe2 (d->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return -1;
  /* A refused resize (pipe-max-size, the account's pipe pages) keeps the
   * capacity the pipe was made with, which works, only slower. */
  if (want > 0)
    fcntl (d->pipe[1], F_SETPIPE_SZ, (int) want);
  int got = fcntl (d->pipe[1], F_GETPIPE_SZ);
  d->cap = got > 0 ? (size_t) got : 4096;
  d->pending = 0;
  d->full = false;
  return 0;
}

int
launch_splice_pump (struct launch_splice *d, int src, int dst)
{
  for (;;)
    {
      bool moved = false;
      if (launch_splice_wants_src (d))
        {
          ssize_t n = splice (src, NULL, d->pipe[1], NULL, d->cap - d->pending, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
          if (n > 0)
            d->pending += (size_t) n, d->bytes += (uint64_t) n, moved = true;
          else if (n == 0)
            d->eof = true;
          else if (errno != EAGAIN && errno != EINTR)
            return -1;
          else if (errno == EAGAIN && d->pending > 0)
            {
              /* Each fragment of the source's buffers takes a slot of
               * the pipe: fragments smaller than a page (a NIC's packets,
               * a sender's page-cache pages at an odd offset) fill its
               * slots before its bytes reach D->CAP.  The pipe says
               * whether it has room; without it the source stays
               * readable and would be polled in a busy loop. */
              struct pollfd p = { d->pipe[1], POLLOUT, 0 };
              d->full = poll (&p, 1, 0) == 0;
            }
        }
      while (d->pending > 0)
        {
          ssize_t n = splice (d->pipe[0], NULL, dst, NULL, d->pending, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
          if (n > 0)
            d->pending -= (size_t) n, d->full = false, moved = true;
          else if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
          else
            return -1;
        }
      if (d->eof && d->pending == 0 && !d->shut)
        {
          /* Half-close: the other side learns this one is done sending. */
          shutdown (dst, SHUT_WR);
          d->shut = true;
        }
      if (!moved || d->shut)
        return 0;
    }
}

void
launch_splice_close (struct launch_splice *d)
{
  for (int j = 0; j < 2; j++)
    if (d->pipe[j] >= 0)
      close (d->pipe[j]);
  d->pipe[0] = d->pipe[1] = -1;
}
