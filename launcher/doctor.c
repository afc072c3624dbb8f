/* rdind - `rdind doctor`: every requirement of `rdind launch`, probed for real
 * in throw-away children (the errors a container runtime gives are cryptic;
 * each FAIL here carries its one-line fix). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmds.h"
#include "conf.h"
#include "launch-int.h"
#include "launch.h"
#include "util.h"

struct report
{
  FILE *out;
  bool json;
  int n, fails;
};

static void
json_str (FILE *f, const char *s)
{
  fputc ('"', f);
  for (; s && *s; s++)
    {
      if (*s == '"' || *s == '\\')
        fprintf (f, "\\%c", *s);
      else if ((unsigned char) *s < 0x20)
        fprintf (f, "\\u%04x", *s);
      else
        fputc (*s, f);
    }
  fputc ('"', f);
}

static void
item (struct report *r, const char *name, enum launch_doctor_status st, const char *detail,
      const char *fix)
{
  static const char *names[] = { "OK", "WARN", "FAIL" };
  if (st == LAUNCH_DOCTOR_FAIL)
    r->fails++;
  if (r->json)
    {
      fprintf (r->out, "%s\n  {\"check\": ", r->n ? "," : "[");
      json_str (r->out, name);
      fprintf (r->out, ", \"status\": \"%s\", \"detail\": ", names[st]);
      json_str (r->out, detail);
      fprintf (r->out, ", \"fix\": ");
      json_str (r->out, st == LAUNCH_DOCTOR_OK ? "" : fix);
      fputc ('}', r->out);
    }
  else
    {
      fprintf (r->out, "%-4s %-16s %s", names[st], name, detail);
      if (st != LAUNCH_DOCTOR_OK && fix && *fix)
        fprintf (r->out, "\n     fix: %s", fix);
      fputc ('\n', r->out);
    }
  r->n++;
}

/* --- verdicts: pure functions of what the probes saw --- */

#define APPARMOR_USERNS_FIX                                                                        \
  "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 on the host, or run the container "    \
  "under an AppArmor profile that allows `userns,` (apparmor=unconfined is restricted too)"
#define SYSTEMPATHS_FIX                                                                            \
  "run the container with `--security-opt systempaths=unconfined` (Kubernetes: "                   \
  "securityContext.procMount: Unmasked)"

static void
verdict (struct launch_doctor_verdict *v, enum launch_doctor_status st, char *detail, char *fix)
{
  v->status = st;
  v->detail = detail;
  v->fix = fix;
}

static char *fmt (const char *f, ...) __attribute__ ((format (printf, 1, 2)));

static char *
fmt (const char *f, ...)
{
  char *s = NULL;
  va_list ap;
  va_start (ap, f);
  if (vasprintf (&s, f, ap) < 0)
    abort ();
  va_end (ap);
  return s;
}

void
launch_doctor_verdict_release (struct launch_doctor_verdict *v)
{
  free (v->detail);
  free (v->fix);
  v->detail = v->fix = NULL;
}

/* The value of the "KEY:" line of /proc/self/status, as text; NULL when absent. */
static const char *
status_field (const char *status, const char *key)
{
  size_t n = strlen (key);
  for (const char *p = status; p && *p; p = strchr (p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp (p, key, n) == 0 && p[n] == ':')
      return p + n + 1 + strspn (p + n + 1, " \t");
  return NULL;
}

void
launch_doctor_userns (const struct launch_userns_facts *f, struct launch_doctor_verdict *v)
{
  const char *seccomp = status_field (f->proc_status, "Seccomp");
  int e = f->unshare_errno;

  if (e == 0 && f->map_errno == 0)
    return verdict (
        v, LAUNCH_DOCTOR_OK,
        fmt ("unshare(CLONE_NEWUSER) works (max_user_namespaces=%ld)", f->max_user_namespaces),
        NULL);
  if (e == 0)
    {
      /* Ubuntu >= 23.10 lets an unconfined process create the namespace but
       * moves it into the unprivileged_userns profile, which denies every
       * capability inside: even writing its own uid_map fails. */
      if (f->apparmor_restrict == 1)
        return verdict (v, LAUNCH_DOCTOR_FAIL,
                        fmt ("kernel.apparmor_restrict_unprivileged_userns=1: a new user namespace "
                             "gets no capabilities (writing its uid_map: %s)",
                             strerror (f->map_errno)),
                        xstrdup (APPARMOR_USERNS_FIX));
      return verdict (v, LAUNCH_DOCTOR_FAIL,
                      fmt ("unshare(CLONE_NEWUSER) works, but writing its own uid_map: %s",
                           strerror (f->map_errno)),
                      xstrdup ("allow unprivileged user namespaces in the host's security module "
                               "(SELinux, AppArmor) for this container"));
    }
  /* The knobs first: each one refuses for every unprivileged caller, and
   * its errno alone (EPERM, ENOSPC) would also fit the causes below. */
  if (f->unprivileged_userns_clone == 0)
    return verdict (v, LAUNCH_DOCTOR_FAIL, xstrdup ("kernel.unprivileged_userns_clone=0"),
                    xstrdup ("sysctl -w kernel.unprivileged_userns_clone=1 (on the host)"));
  if (f->max_user_namespaces == 0)
    return verdict (v, LAUNCH_DOCTOR_FAIL, xstrdup ("user.max_user_namespaces=0"),
                    xstrdup ("sysctl -w user.max_user_namespaces=15000 (on the host, or in the "
                             "user namespace the container runs in)"));
  if (e == ENOSPC || e == EUSERS)
    return verdict (v, LAUNCH_DOCTOR_FAIL,
                    fmt ("unshare(CLONE_NEWUSER): %s: user.max_user_namespaces (%ld) is used up, "
                         "or 32 user namespaces are nested",
                         strerror (e), f->max_user_namespaces),
                    xstrdup ("sysctl -w user.max_user_namespaces=15000 (on the host), or nest "
                             "fewer user namespaces"));
  if (f->apparmor_restrict == 1 && (e == EACCES || e == EPERM))
    return verdict (v, LAUNCH_DOCTOR_FAIL,
                    xstrdup ("kernel.apparmor_restrict_unprivileged_userns=1"),
                    xstrdup (APPARMOR_USERNS_FIX));
  /* Docker's and containerd's default profiles refuse CLONE_NEWUSER without
   * CAP_SYS_ADMIN (EPERM); other filters may answer ENOSYS. */
  if (seccomp && atoi (seccomp) == 2 && (e == EPERM || e == ENOSYS))
    return verdict (v, LAUNCH_DOCTOR_FAIL,
                    fmt ("a seccomp filter blocks unshare(CLONE_NEWUSER) (%s)",
                         e == EPERM ? "EPERM" : "ENOSYS"),
                    xstrdup ("run with rdind's seccomp profile (contrib/seccomp.json) or "
                             "`--security-opt seccomp=unconfined`"));
  verdict (v, LAUNCH_DOCTOR_FAIL, fmt ("unshare(CLONE_NEWUSER): %s", strerror (e)),
           xstrdup ("allow unprivileged user namespaces (sysctls, AppArmor, seccomp of the "
                    "container)"));
}

/* CAP_SETUID / CAP_SETGID in the CapBnd mask of /proc/self/status (true
 * when it cannot be read: then the try tells). */
static bool
in_bounding_set (const char *status, int cap)
{
  const char *bnd = status_field (status, "CapBnd");
  return bnd == NULL || (strtoull (bnd, NULL, 16) >> cap) & 1;
}

bool
launch_doctor_idmap_tryable (const struct launch_idmap_facts *f)
{
  int cap = strcmp (f->tool, "newgidmap") == 0 ? 6 /* CAP_SETGID */ : 7 /* CAP_SETUID */;
  return f->exe && (f->setuid || f->fcaps) && in_bounding_set (f->proc_status, cap) && f->userns_ok
         && f->subids_ok;
}

void
launch_doctor_idmap (const struct launch_idmap_facts *f, struct launch_doctor_verdict *v)
{
  bool gid = strcmp (f->tool, "newgidmap") == 0;
  const char *cap = gid ? "cap_setgid" : "cap_setuid";
  const char *how = f->fcaps ? "file caps" : "setuid";

  if (f->exe == NULL)
    return verdict (v, LAUNCH_DOCTOR_FAIL, xstrdup ("not found"),
                    xstrdup ("apt-get install uidmap"));
  if (!f->setuid && !f->fcaps)
    return verdict (v, LAUNCH_DOCTOR_FAIL,
                    fmt ("%s has neither the setuid bit nor file capabilities", f->exe),
                    fmt ("setcap %s+ep %s", cap, f->exe));
  /* Whether by the setuid bit or by a file capability, the helper can only
   * get what the bounding set holds (and a file capability outside it makes
   * execve fail outright). */
  if (!in_bounding_set (f->proc_status, gid ? 6 : 7))
    return verdict (v, LAUNCH_DOCTOR_FAIL,
                    fmt ("the capability bounding set lacks %s: %s cannot map ids",
                         gid ? "CAP_SETGID" : "CAP_SETUID", f->exe),
                    fmt ("keep %s in the container's capabilities (no --cap-drop %s or ALL; "
                         "Kubernetes: capabilities.add: [\"%s\"])",
                         gid ? "CAP_SETGID" : "CAP_SETUID", gid ? "SETGID" : "SETUID",
                         gid ? "SETGID" : "SETUID"));
  if (!f->userns_ok || !f->subids_ok)
    return verdict (v, LAUNCH_DOCTOR_WARN,
                    fmt ("%s present (%s); not tried: %s", f->exe, how,
                         !f->userns_ok ? "no user namespaces" : "no subordinate ids"),
                    xstrdup ("fix the checks above first"));
  if (f->map_error == NULL)
    return verdict (v, LAUNCH_DOCTOR_OK, fmt ("%s maps the subordinate range (%s)", f->exe, how),
                    NULL);
  /* Setuid root plus a file capability: the kernel then grants root only
   * the file capability, without CAP_DAC_OVERRIDE to open the user's map
   * ("open of uid_map failed: Permission denied"). */
  if (f->setuid && f->fcaps)
    return verdict (v, LAUNCH_DOCTOR_FAIL,
                    fmt ("%s (it has both the setuid bit and a file capability)", f->map_error),
                    fmt ("chmod u-s %s (keep its file capability)", f->exe));
  /* Setuid root is not the owner of the new namespace, so the kernel wants
   * CAP_SYS_ADMIN for the write, which containers do not have; a file
   * capability keeps the user's euid (the owner) and needs only CAP_SETUID.
   * The setuid bit must go too, see above. */
  if (f->setuid)
    return verdict (v, LAUNCH_DOCTOR_FAIL, xstrdup (f->map_error),
                    fmt ("chmod u-s %s && setcap %s+ep %s", f->exe, cap, f->exe));
  verdict (v, LAUNCH_DOCTOR_FAIL, xstrdup (f->map_error),
           fmt ("check the range of this user in %s and that %s keeps %s+ep",
                gid ? "/etc/subgid" : "/etc/subuid", f->exe, cap));
}

/* The first few mounts over paths inside /proc (Docker's masked and
 * read-only paths, Kubernetes's default procMount): while they are there
 * the kernel refuses a new proc mount in a user namespace, which could
 * otherwise reveal what they hide.  binfmt_misc sits on a permanently empty
 * directory and does not count.  NULL when there are none. */
static char *
proc_masks (const char *mountinfo)
{
  char *list = NULL;
  int n = 0;
  for (const char *p = mountinfo; p && *p; p = strchr (p, '\n'), p = p ? p + 1 : NULL)
    {
      char target[256];
      /* id parent major:minor root mount-point ... */
      if (sscanf (p, "%*s %*s %*s %*s %255s", target) != 1 || strncmp (target, "/proc/", 6) != 0
          || strcmp (target, "/proc/sys/fs/binfmt_misc") == 0)
        continue;
      if (n++ < 4)
        {
          char *l = fmt ("%s%s%s", list ? list : "", list ? ", " : "", target);
          free (list);
          list = l;
        }
    }
  if (n > 4)
    {
      char *l = fmt ("%s and %d more", list, n - 4);
      free (list);
      list = l;
    }
  return list;
}

void
launch_doctor_proc (const struct launch_proc_facts *f, struct launch_doctor_verdict *v)
{
  cleanup_free char *masks = NULL;
  const char *why;

  if (!f->userns_ok)
    return verdict (v, LAUNCH_DOCTOR_WARN, xstrdup ("not tried: no user namespaces"),
                    xstrdup ("fix userns first"));
  if (f->probe == 0)
    return verdict (v, LAUNCH_DOCTOR_OK, xstrdup ("a new /proc mounts in a new pid namespace"),
                    NULL);
  why = f->probe < 200 ? strerror (f->probe) : "namespace setup failed";
  if (f->probe >= 200 && f->apparmor_restrict == 1)
    return verdict (v, LAUNCH_DOCTOR_FAIL,
                    fmt ("mount proc in a new pid namespace: %s "
                         "(kernel.apparmor_restrict_unprivileged_userns=1)",
                         why),
                    xstrdup (APPARMOR_USERNS_FIX));
  masks = f->probe < 200 ? proc_masks (f->mountinfo) : NULL;
  if (masks)
    return verdict (v, LAUNCH_DOCTOR_FAIL,
                    fmt ("mount proc in a new pid namespace: %s (/proc is masked: %s)", why, masks),
                    xstrdup (SYSTEMPATHS_FIX));
  verdict (v, LAUNCH_DOCTOR_FAIL, fmt ("mount proc in a new pid namespace: %s", why),
           xstrdup (SYSTEMPATHS_FIX));
}

void
launch_doctor_pasta_wmem (long wmem_max, struct launch_doctor_verdict *v)
{
  if (wmem_max < 0)
    return verdict (v, LAUNCH_DOCTOR_OK, xstrdup ("net.ipv4.tcp_wmem unreadable: not checked"), NULL);
  if (wmem_max >= LAUNCH_PASTA_WMEM_MIN)
    return verdict (v, LAUNCH_DOCTOR_OK, fmt ("net.ipv4.tcp_wmem maximum %ld bytes", wmem_max), NULL);
  verdict (v, LAUNCH_DOCTOR_WARN,
           fmt ("net = pasta with the host's net.ipv4.tcp_wmem maximum at %ld bytes: pasta's egress "
                "stalls on retransmissions below %ld (README, \"Published ports\")",
                wmem_max, LAUNCH_PASTA_WMEM_MIN),
           fmt ("raise it in the host's (the pod's) network namespace, e.g. `sysctl -w "
                "net.ipv4.tcp_wmem='4096 16384 %ld'`, or set launcher.net = slirp4netns",
                LAUNCH_PASTA_WMEM_MIN));
}

/* The third field of net.ipv4.tcp_wmem in this network namespace, or -1. */
static long
tcp_wmem_max (void)
{
  cleanup_free char *s = NULL;
  long a, b, c;
  if (read_file ("/proc/sys/net/ipv4/tcp_wmem", &s, NULL, NULL) < 0 || sscanf (s, "%ld %ld %ld", &a, &b, &c) != 3)
    return -1;
  return c;
}

static long
read_long (const char *path)
{
  cleanup_free char *s = NULL;
  if (read_file (path, &s, NULL, NULL) < 0)
    return -1;
  return strtol (s, NULL, 10);
}

/* Runs FN in a forked child and returns its errno-ish exit code. */
static int
in_child (int (*fn) (void))
{
  int st;
  pid_t p = fork ();
  if (p == 0)
    _exit (fn ());
  if (p < 0)
    return errno;
  while (waitpid (p, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 255;
}

static int
probe_userns (void)
{
  return unshare (CLONE_NEWUSER) < 0 ? errno : 0;
}

/* A namespace that exists but where the creator has no capabilities
 * (AppArmor's unprivileged_userns profile) fails here. */
static int
probe_userns_map (void)
{
  return launch_self_userns (0) < 0 ? errno : 0;
}

static int
probe_proc (void)
{
  pid_t p;
  int st;
  if (launch_self_userns (CLONE_NEWNS | CLONE_NEWPID) < 0)
    return 200;
  p = fork (); /* the first child is pid 1 of the new pid namespace */
  if (p == 0)
    {
      if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        _exit (201);
      _exit (mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ? errno : 0);
    }
  if (p < 0)
    return 202;
  waitpid (p, &st, 0);
  return WIFEXITED (st) ? WEXITSTATUS (st) : 203;
}

static void
report_verdict (struct report *r, const char *name, struct launch_doctor_verdict *v)
{
  item (r, name, v->status, v->detail, v->fix);
  launch_doctor_verdict_release (v);
}

static void
check_userns (struct report *r, bool *userns_ok, const char *status)
{
  struct launch_doctor_verdict v;
  struct launch_userns_facts f = {
    .unprivileged_userns_clone = read_long ("/proc/sys/kernel/unprivileged_userns_clone"),
    .max_user_namespaces = read_long ("/proc/sys/user/max_user_namespaces"),
    .apparmor_restrict = read_long ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
    .proc_status = status,
  };

  f.unshare_errno = in_child (probe_userns);
  if (f.unshare_errno == 0)
    f.map_errno = in_child (probe_userns_map);
  launch_doctor_userns (&f, &v);
  *userns_ok = v.status == LAUNCH_DOCTOR_OK;
  report_verdict (r, "userns", &v);
}

static void
check_subids (struct report *r, struct launch_ids *ids, bool *ok)
{
  struct passwd *pw = getpwuid (getuid ());
  const char *user = pw ? pw->pw_name : "?";
  const char *files[2] = { "/etc/subuid", "/etc/subgid" };
  uint64_t *st[2] = { &ids->uid_start, &ids->gid_start };
  uint64_t *ct[2] = { &ids->uid_count, &ids->gid_count };

  *ok = true;
  if (getuid () == 0)
    {
      item (r, "subids", LAUNCH_DOCTOR_WARN, "running as root: launch runs as sidecar.user",
            "run `rdind doctor` as the unprivileged user");
      *ok = false;
      return;
    }
  for (int i = 0; i < 2; i++)
    {
      cleanup_free char *d = NULL, *fix = NULL;
      int found = launch_subid_lookup (files[i], user, getuid (), st[i], ct[i], NULL);
      const char *name = i ? "subgid" : "subuid";
      if (found <= 0 || *ct[i] < 65536)
        {
          *ok = false;
          if (found <= 0)
            xasprintf (&d, "no %s range for user %s in %s", name, user, files[i]);
          else
            xasprintf (&d, "%s range for %s has %llu ids, 65536 needed", name, user,
                       (unsigned long long) *ct[i]);
          {
            cleanup_free char *cmd = launch_subid_advice (user, name);
            xasprintf (&fix, "%s (as root; a range no other account uses)", cmd);
          }
          item (r, name, LAUNCH_DOCTOR_FAIL, d, fix);
        }
      else
        {
          xasprintf (&d, "%s: %llu ids from %llu", user, (unsigned long long) *ct[i],
                     (unsigned long long) *st[i]);
          item (r, name, LAUNCH_DOCTOR_OK, d, NULL);
        }
    }
}

/* The real thing: TOOL maps the subordinate range onto a throw-away user
 * namespace.  NULL when it worked, else what went wrong. */
static char *
try_idmap (const char *tool, bool gid, const struct launch_ids *ids)
{
  rdind_error_t err = NULL;
  char *m = NULL;
  int sync[2], res;
  pid_t p;

  if (pipe2 (sync, O_CLOEXEC) < 0)
    return fmt ("pipe: %s", strerror (errno));
  p = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
  if (p == 0)
    {
      char c;
      close (sync[1]);
      _exit (read (sync[0], &c, 1) == 1 ? 0 : 1);
    }
  close (sync[0]);
  if (p < 0)
    {
      m = fmt ("clone(CLONE_NEWUSER): %s", strerror (errno));
      close (sync[1]);
      return m;
    }
  res = launch_map_ids (p, tool, gid ? getgid () : getuid (), gid ? ids->gid_start : ids->uid_start,
                        gid ? ids->gid_count : ids->uid_count, &err);
  close (sync[1]);
  waitpid (p, NULL, 0);
  if (res < 0)
    {
      m = rdind_error_string (err);
      rdind_error_release (&err);
    }
  return m;
}

static void
check_idmap (struct report *r, const struct launch_ids *ids, bool subids_ok, bool userns_ok,
             const char *status)
{
  const char *tools[2] = { "newuidmap", "newgidmap" };
  for (int i = 0; i < 2; i++)
    {
      cleanup_free char *exe = launch_find_exe (tools[i]);
      cleanup_free char *map_error = NULL;
      struct launch_doctor_verdict v;
      struct launch_idmap_facts f = { .tool = tools[i],
                                      .exe = exe,
                                      .userns_ok = userns_ok,
                                      .subids_ok = subids_ok,
                                      .proc_status = status };
      struct stat sb;

      if (exe)
        {
          f.fcaps = getxattr (exe, "security.capability", NULL, 0) > 0;
          f.setuid = stat (exe, &sb) == 0 && (sb.st_mode & S_ISUID);
        }
      if (launch_doctor_idmap_tryable (&f))
        f.map_error = map_error = try_idmap (tools[i], i == 1, ids);
      launch_doctor_idmap (&f, &v);
      report_verdict (r, tools[i], &v);
    }
}

static void
check_tun (struct report *r)
{
  int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  cleanup_free char *d = NULL;
  if (fd >= 0)
    {
      close (fd);
      return item (r, "tun", LAUNCH_DOCTOR_OK, "/dev/net/tun opens read-write", NULL);
    }
  xasprintf (&d, "/dev/net/tun: %s", strerror (errno));
  item (r, "tun", LAUNCH_DOCTOR_FAIL, d,
        errno == ENOENT ? "pass the device (`--device /dev/net/tun`) or start rdind sidecar as "
                          "root so it creates it"
                        : "chmod 0666 /dev/net/tun (or start rdind sidecar as root, which does it)");
}

static void
check_version (struct report *r, const char *name, const char *bin, const char *fix)
{
  cleanup_free char *exe = launch_find_exe (bin);
  cleanup_free char *d = NULL;
  char line[256] = "";
  FILE *f;
  int st = -1;

  if (exe == NULL)
    {
      xasprintf (&d, "%s not found", bin);
      return item (r, name, LAUNCH_DOCTOR_FAIL, d, fix);
    }
  {
    cleanup_free char *cmd = NULL;
    xasprintf (&cmd, "'%s' --version 2>&1", exe);
    f = popen (cmd, "r");
    if (f)
      {
        if (fgets (line, sizeof line, f) == NULL)
          line[0] = '\0';
        /* The rest, so that it does not die of SIGPIPE. */
        char rest[256];
        while (fgets (rest, sizeof rest, f))
          ;
        st = pclose (f);
      }
    line[strcspn (line, "\n")] = '\0';
  }
  /* A binary that cannot even print its version (a missing library, a
   * libc too old for it, a seccomp kill) will not start for real either. */
  if (st != 0)
    {
      if (st != -1 && WIFSIGNALED (st))
        xasprintf (&d, "%s --version was killed by signal %d (%s): %s", exe, WTERMSIG (st),
                   strsignal (WTERMSIG (st)), line);
      else
        xasprintf (&d, "%s --version exited with status %d: %s", exe,
                   st != -1 && WIFEXITED (st) ? WEXITSTATUS (st) : st, line);
      return item (r, name, LAUNCH_DOCTOR_FAIL, d, fix);
    }
  xasprintf (&d, "%s: %s", exe, line);
  item (r, name, LAUNCH_DOCTOR_OK, d, NULL);
}

static void
check_proc (struct report *r, bool userns_ok)
{
  cleanup_free char *mountinfo = NULL;
  struct launch_doctor_verdict v;
  struct launch_proc_facts f = {
    .userns_ok = userns_ok,
    .apparmor_restrict = read_long ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
  };

  if (userns_ok)
    {
      f.probe = in_child (probe_proc);
      read_file ("/proc/self/mountinfo", &mountinfo, NULL, NULL);
      f.mountinfo = mountinfo;
    }
  launch_doctor_proc (&f, &v);
  report_verdict (r, "proc", &v);
}

static void
check_storage (struct report *r, const struct rdind_conf *conf, bool userns_ok)
{
  cleanup_free char *why = NULL, *d = NULL, *fuse = launch_find_exe ("fuse-overlayfs");
  int e = userns_ok ? launch_probe_overlay (conf->data_root, &why) : EPERM;
  bool fuse_ok = fuse && access ("/dev/fuse", R_OK | W_OK) == 0;

  xasprintf (&d, "overlay2 %s; fuse-overlayfs %s; vfs always (slow)",
             e == 0 ? "works" : why ? why : "untested",
             fuse_ok ? "usable" : fuse ? "installed but /dev/fuse unusable" : "not installed");
  item (r, "storage", e == 0 || fuse_ok ? LAUNCH_DOCTOR_OK : LAUNCH_DOCTOR_WARN, d,
        "use a kernel >= 5.11 for rootless overlay2, or install fuse-overlayfs and pass /dev/fuse");
}

#define CGROUP2_MAGIC 0x63677270UL /* CGROUP2_SUPER_MAGIC */
#define CGROUP1_MAGIC 0x27e0ebUL    /* CGROUP_SUPER_MAGIC */

char **
launch_cgroup_v1_mounts (const char *mountinfo)
{
  char **v = NULL;
  for (const char *p = mountinfo; p && *p; p = strchr (p, '\n'), p = p ? p + 1 : NULL)
    {
      char target[512], fstype[64];
      const char *sep = strstr (p, " - ");
      const char *eol = strchr (p, '\n');
      /* id parent major:minor root mount-point options [optional...] - fstype source super-options */
      if (sep == NULL || (eol && sep > eol) || sscanf (p, "%*s %*s %*s %*s %511s", target) != 1
          || sscanf (sep + 3, "%63s", fstype) != 1 || strcmp (fstype, "cgroup") != 0)
        continue;
      strv_append (&v, target);
    }
  return v;
}

bool
launch_cgroup_usable (const struct launch_cgroup_facts *f)
{
  return f->statfs_errno == 0 && (f->fs_type == CGROUP2_MAGIC || f->v1_reachable > 0);
}

void
launch_cgroup_probe_mounts (struct launch_cgroup_facts *f)
{
  cleanup_free char *mountinfo = NULL;
  cleanup_strv char **v1 = NULL;
  struct statfs sf;

  f->statfs_errno = statfs ("/sys/fs/cgroup", &sf) < 0 ? errno : 0;
  f->fs_type = f->statfs_errno ? 0 : (unsigned long) sf.f_type;
  f->v1_reachable = 0;
  read_file ("/proc/self/mountinfo", &mountinfo, NULL, NULL);
  v1 = launch_cgroup_v1_mounts (mountinfo);
  for (char **m = v1; m && *m; m++)
    if (statfs (*m, &sf) == 0 && (unsigned long) sf.f_type == CGROUP1_MAGIC)
      f->v1_reachable++;
}

void
launch_doctor_cgroup (const struct launch_cgroup_facts *f, struct launch_doctor_verdict *v)
{
  if (f->statfs_errno == 0 && f->fs_type == CGROUP2_MAGIC)
    {
      cleanup_free char *pick = launch_cgroup_pick (f->controllers ? f->controllers : "");
      if (f->own_writable && *pick)
        {
          /* One of the three limits' controllers missing: dockerd refuses
           * that flag (or ignores it: --pids-limit), the others hold. */
          char missing[32] = "", flags[64] = "";
          static const char *const want[] = { "memory", "pids", "cpu" };
          static const char *const flag[] = { "--memory", "--pids-limit", "--cpus" };
          for (size_t i = 0; i < 3; i++)
            if (!launch_cgroup_has (pick, want[i]))
              {
                snprintf (missing + strlen (missing), sizeof missing - strlen (missing), "%s%s",
                          *missing ? " " : "", want[i]);
                snprintf (flags + strlen (flags), sizeof flags - strlen (flags), "%s%s", *flags ? ", " : "",
                          flag[i]);
              }
          if (*missing)
            return verdict (v, LAUNCH_DOCTOR_WARN,
                            fmt ("cgroup v2, delegated%s: the sidecar hands %s to the daemon, but not %s "
                                 "(docker run %s: NOT enforced); controllers: %s",
                                 f->read_only ? " (read-only mount: through a user namespace)" : "", pick,
                                 missing, flags, f->controllers ? f->controllers : "?"),
                            xstrdup ("have the parent cgroup offer it: under systemd, beside Delegate=yes, "
                                     "CPUAccounting=yes (cpu), MemoryAccounting=yes (memory) or "
                                     "TasksAccounting=yes (pids) in the unit, as contrib/rdind.service does"));
          return verdict (v, LAUNCH_DOCTOR_OK,
                        fmt ("cgroup v2, delegated%s: the sidecar hands %s to the daemon (docker run "
                             "--memory, --pids-limit, --cpus are enforced); controllers: %s",
                             f->read_only ? " (read-only mount: through a user namespace)" : "", pick,
                             f->controllers ? f->controllers : "?"),
                        NULL);
        }
      return verdict (v, LAUNCH_DOCTOR_WARN,
                      fmt ("cgroup v2, not delegated (%s), controllers: %s: docker run --memory, "
                           "--pids-limit and --cpus are accepted and NOT enforced",
                           f->own_writable ? "none of memory, pids, cpu, io offered"
                                           : f->why_not ? f->why_not : "?",
                           f->controllers ? f->controllers : "?"),
                      xstrdup ("delegate the cgroup: run the sidecar in a container as root, or under "
                               "systemd with Delegate=yes (contrib/rdind.service for a user)"));
    }
  if (f->v1_reachable > 0)
    return verdict (v, LAUNCH_DOCTOR_WARN,
                    xstrdup ("cgroup v1: rootless dockerd cannot apply resource limits (docker run "
                             "--memory, --pids-limit and --cpus are accepted and NOT enforced)"),
                    xstrdup ("use a cgroup v2 host for `docker run --memory/--cpus`"));
  /* Neither: runc takes /sys/fs/cgroup for v1 and finds no v1 mount, so
   * dockerd starts but every container fails. */
  verdict (v, LAUNCH_DOCTOR_FAIL,
           fmt ("no cgroup file system is mounted (/sys/fs/cgroup: %s; no reachable v1 hierarchy in "
                "/proc/self/mountinfo): every `docker run` would fail with `no cgroup mount "
                "found in mountinfo`",
                f->statfs_errno ? strerror (f->statfs_errno) : "not cgroup2"),
           xstrdup (LAUNCH_CGROUP_MOUNT_FIX));
}

static void
check_cgroup (struct report *r)
{
  cleanup_free char *cg = NULL, *path = NULL, *ctl = NULL, *ctrls = NULL;
  struct launch_cgroup_facts f = { 0 };
  struct launch_doctor_verdict v;

  launch_cgroup_probe_mounts (&f);
  if (f.statfs_errno == 0 && f.fs_type == CGROUP2_MAGIC)
    {
      read_file ("/proc/self/cgroup", &cg, NULL, NULL);
      char *p = cg ? strstr (cg, "0::") : NULL;
      if (p)
        {
          p += 3;
          p[strcspn (p, "\n")] = '\0';
          xasprintf (&path, "/sys/fs/cgroup%s", p);
        }
      f.own_path = path;
      if (path)
        {
          char x[8];
          struct stat st;
          struct statvfs sv;
          bool attr = getxattr (path, "trusted.delegate", x, sizeof x) > 0
                      || getxattr (path, "user.delegate", x, sizeof x) > 0;
          f.read_only = statvfs (path, &sv) == 0 && (sv.f_flag & ST_RDONLY);
          f.own_writable = launch_cgroup_ours (geteuid () == 0, p, attr,
                                               stat (path, &st) == 0 && st.st_uid == geteuid (), f.read_only,
                                               &f.why_not);
        }
      xasprintf (&ctl, "%s/cgroup.controllers", path ? path : "/sys/fs/cgroup");
      read_file (ctl, &ctrls, NULL, NULL);
      if (ctrls)
        ctrls[strcspn (ctrls, "\n")] = '\0';
      f.controllers = ctrls;
    }
  launch_doctor_cgroup (&f, &v);
  report_verdict (r, "cgroup", &v);
}

static void
check_state (struct report *r, const struct rdind_conf *conf)
{
  cleanup_free char *d = NULL, *probe = NULL;
  rdind_error_t err = NULL;
  if (mkdir_p (conf->state_dir, 0700, &err) < 0 || access (conf->state_dir, W_OK) < 0)
    {
      cleanup_free char *m = err ? rdind_error_string (err) : xstrdup (strerror (errno));
      rdind_error_release (&err);
      xasprintf (&d, "%s: %s", conf->state_dir, m);
      return item (r, "state_dir", LAUNCH_DOCTOR_FAIL, d,
                   "set launcher.state_dir (or XDG_RUNTIME_DIR) to a writable directory");
    }
  xasprintf (&d, "%s writable", conf->state_dir);
  item (r, "state_dir", LAUNCH_DOCTOR_OK, d, NULL);
}

int
launch_doctor_run (struct rdind_conf *conf, bool json, bool prepared_userns, FILE *out)
{
  struct report r = { out, json, 0, 0 };
  struct launch_ids ids = { 0 };
  bool userns_ok, subids_ok;
  cleanup_free char *status = NULL;

  conf_resolve_paths (conf);
  read_file ("/proc/self/status", &status, NULL, NULL);
  check_userns (&r, &userns_ok, status);
  if (prepared_userns)
    item (&r, "idmap", LAUNCH_DOCTOR_OK,
          "rdind sidecar mapped the user namespace as root: /etc/subuid, /etc/subgid and "
          "newuidmap/newgidmap are not used",
          NULL);
  else
    {
      check_subids (&r, &ids, &subids_ok);
      check_idmap (&r, &ids, subids_ok, userns_ok, status);
    }
  check_proc (&r, userns_ok);
  check_tun (&r);
  if (strcmp (conf->net, "pasta") == 0)
    {
      struct launch_doctor_verdict v;
      check_version (&r, "pasta", conf->pasta, "apt-get install passt (or set launcher.pasta)");
      launch_doctor_pasta_wmem (tcp_wmem_max (), &v);
      report_verdict (&r, "tcp_wmem", &v);
    }
  else
    check_version (&r, "slirp4netns", conf->slirp4netns, "apt-get install slirp4netns");
  check_version (&r, "dockerd", conf->dockerd, "apt-get install docker.io (or set launcher.dockerd)");
  check_storage (&r, conf, userns_ok);
  check_cgroup (&r);
  check_state (&r, conf);
  if (json)
    fprintf (out, "\n]\n");
  else
    fprintf (out, "%d check(s), %d FAIL\n", r.n, r.fails);
  fflush (out);
  return r.fails;
}

int
rdind_cmd_doctor (struct rdind_conf *conf, int argc, char **argv)
{
  bool json = false;
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--json") == 0)
        json = true;
      else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          printf ("usage: rdind doctor [--json]\n  Checks what rdind launch needs; exit 0 when "
                  "nothing FAILs.\n");
          return 0;
        }
      else
        {
          fprintf (stderr, "rdind doctor: unknown argument `%s` (usage: rdind doctor [--json])\n", argv[i]);
          return 2;
        }
    }
  return launch_doctor_run (conf, json, false, stdout) ? 1 : 0;
}
