/* rdind - `rdind doctor`: every requirement of `rdind launch`, probed for real
 * in throw-away children (the errors a container runtime gives are cryptic;
 * each FAIL here carries its one-line fix). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmds.h"
#include "conf.h"
#include "launch-int.h"
#include "launch.h"
#include "util.h"

enum st
{
  ST_OK,
  ST_WARN,
  ST_FAIL
};

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
item (struct report *r, const char *name, enum st st, const char *detail, const char *fix)
{
  static const char *names[] = { "OK", "WARN", "FAIL" };
  if (st == ST_FAIL)
    r->fails++;
  if (r->json)
    {
      fprintf (r->out, "%s\n  {\"check\": ", r->n ? "," : "[");
      json_str (r->out, name);
      fprintf (r->out, ", \"status\": \"%s\", \"detail\": ", names[st]);
      json_str (r->out, detail);
      fprintf (r->out, ", \"fix\": ");
      json_str (r->out, st == ST_OK ? "" : fix);
      fputc ('}', r->out);
    }
  else
    {
      fprintf (r->out, "%-4s %-16s %s", names[st], name, detail);
      if (st != ST_OK && fix && *fix)
        fprintf (r->out, "\n     fix: %s", fix);
      fputc ('\n', r->out);
    }
  r->n++;
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
check_userns (struct report *r, bool *userns_ok)
{
  long clone_ok = read_long ("/proc/sys/kernel/unprivileged_userns_clone");
  long maxns = read_long ("/proc/sys/user/max_user_namespaces");
  long apparmor = read_long ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  cleanup_free char *status = NULL, *d = NULL;
  int e = in_child (probe_userns);

  *userns_ok = e == 0;
  if (e == 0)
    {
      xasprintf (&d, "unshare(CLONE_NEWUSER) works (max_user_namespaces=%ld)", maxns);
      return item (r, "userns", ST_OK, d, NULL);
    }
  read_file ("/proc/self/status", &status, NULL, NULL);
  if (clone_ok == 0)
    return item (r, "userns", ST_FAIL, "kernel.unprivileged_userns_clone=0",
                 "sysctl -w kernel.unprivileged_userns_clone=1 (on the host)");
  if (maxns == 0 || e == ENOSPC)
    return item (r, "userns", ST_FAIL, "user.max_user_namespaces=0 (or exhausted)",
                 "sysctl -w user.max_user_namespaces=15000 (on the host)");
  if (apparmor == 1)
    return item (r, "userns", ST_FAIL, "kernel.apparmor_restrict_unprivileged_userns=1",
                 "run the container with `--security-opt apparmor=unconfined`, or sysctl -w "
                 "kernel.apparmor_restrict_unprivileged_userns=0 on the host");
  if (status && strstr (status, "Seccomp:\t2"))
    return item (r, "userns", ST_FAIL,
                 "a seccomp filter blocks unshare(CLONE_NEWUSER) (EPERM)",
                 "run with rdind's seccomp profile (contrib/seccomp.json) or "
                 "`--security-opt seccomp=unconfined`");
  xasprintf (&d, "unshare(CLONE_NEWUSER): %s", strerror (e));
  item (r, "userns", ST_FAIL, d,
        "allow unprivileged user namespaces (sysctls, AppArmor, seccomp of the container)");
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
      item (r, "subids", ST_WARN, "running as root: launch runs as sidecar.user",
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
          xasprintf (&fix, "usermod --add-%ss 100000-165535 %s (as root)", name, user);
          item (r, name, ST_FAIL, d, fix);
        }
      else
        {
          xasprintf (&d, "%s: %llu ids from %llu", user, (unsigned long long) *ct[i],
                     (unsigned long long) *st[i]);
          item (r, name, ST_OK, d, NULL);
        }
    }
}

static void
check_idmap (struct report *r, const struct launch_ids *ids, bool subids_ok, bool userns_ok)
{
  const char *tools[2] = { "newuidmap", "newgidmap" };
  for (int i = 0; i < 2; i++)
    {
      cleanup_free char *exe = launch_find_exe (tools[i]);
      cleanup_free char *d = NULL, *fix = NULL;
      struct stat sb;
      bool fcap;

      if (exe == NULL)
        {
          item (r, tools[i], ST_FAIL, "not found", "apt-get install uidmap");
          continue;
        }
      fcap = getxattr (exe, "security.capability", NULL, 0) > 0;
      if (stat (exe, &sb) == 0 && !(sb.st_mode & S_ISUID) && !fcap)
        {
          xasprintf (&d, "%s has neither the setuid bit nor file capabilities", exe);
          xasprintf (&fix, "setcap %s+ep %s", i ? "cap_setgid" : "cap_setuid", exe);
          item (r, tools[i], ST_FAIL, d, fix);
          continue;
        }
      if (!subids_ok || !userns_ok)
        {
          xasprintf (&d, "%s present (%s); not tried: %s", exe, fcap ? "file caps" : "setuid",
                     !userns_ok ? "no user namespaces" : "no subordinate ids");
          item (r, tools[i], ST_WARN, d, "fix the checks above first");
          continue;
        }
      /* The real thing: map the range onto a throw-away namespace. */
      {
        rdind_error_t err = NULL;
        int sync[2];
        pid_t p;
        if (pipe2 (sync, O_CLOEXEC) < 0)
          continue;
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
            close (sync[1]);
            continue;
          }
        int res = launch_map_ids (p, tools[i], i ? getgid () : getuid (), i ? ids->gid_start : ids->uid_start,
                                  i ? ids->gid_count : ids->uid_count, &err);
        close (sync[1]);
        waitpid (p, NULL, 0);
        if (res < 0)
          {
            cleanup_free char *m = rdind_error_string (err);
            rdind_error_release (&err);
            xasprintf (&fix, "setcap %s+ep %s", i ? "cap_setgid" : "cap_setuid", exe);
            item (r, tools[i], ST_FAIL, m, fix);
          }
        else
          {
            xasprintf (&d, "%s maps the subordinate range (%s)", exe, fcap ? "file caps" : "setuid");
            item (r, tools[i], ST_OK, d, NULL);
          }
      }
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
      return item (r, "tun", ST_OK, "/dev/net/tun opens read-write", NULL);
    }
  xasprintf (&d, "/dev/net/tun: %s", strerror (errno));
  item (r, "tun", ST_FAIL, d,
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

  if (exe == NULL)
    {
      xasprintf (&d, "%s not found", bin);
      return item (r, name, ST_FAIL, d, fix);
    }
  {
    cleanup_free char *cmd = NULL;
    xasprintf (&cmd, "'%s' --version 2>&1", exe);
    f = popen (cmd, "r");
    if (f)
      {
        if (fgets (line, sizeof line, f) == NULL)
          line[0] = '\0';
        pclose (f);
      }
    line[strcspn (line, "\n")] = '\0';
  }
  xasprintf (&d, "%s: %s", exe, line);
  item (r, name, ST_OK, d, NULL);
}

static void
check_proc (struct report *r, bool userns_ok)
{
  cleanup_free char *d = NULL;
  int e;
  if (!userns_ok)
    return item (r, "proc", ST_WARN, "not tried: no user namespaces", "fix userns first");
  e = in_child (probe_proc);
  if (e == 0)
    return item (r, "proc", ST_OK, "a new /proc mounts in a new pid namespace", NULL);
  xasprintf (&d, "mount proc in a new pid namespace: %s",
             e < 200 ? strerror (e) : "namespace setup failed");
  item (r, "proc", ST_FAIL, d,
        "run the container with `--security-opt systempaths=unconfined` (Kubernetes: "
        "securityContext.procMount: Unmasked)");
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
  item (r, "storage", e == 0 || fuse_ok ? ST_OK : ST_WARN, d,
        "use a kernel >= 5.11 for rootless overlay2, or install fuse-overlayfs and pass /dev/fuse");
}

static void
check_cgroup (struct report *r)
{
  struct statfs sf;
  cleanup_free char *d = NULL;
  if (statfs ("/sys/fs/cgroup", &sf) < 0)
    return item (r, "cgroup", ST_WARN, "/sys/fs/cgroup missing", "mount cgroup2 on /sys/fs/cgroup");
  if (sf.f_type == 0x63677270 /* CGROUP2_SUPER_MAGIC */)
    {
      cleanup_free char *cg = NULL, *path = NULL, *ctl = NULL;
      read_file ("/proc/self/cgroup", &cg, NULL, NULL);
      char *p = cg ? strstr (cg, "0::") : NULL;
      if (p)
        {
          p += 3;
          p[strcspn (p, "\n")] = '\0';
          xasprintf (&path, "/sys/fs/cgroup%s", p);
        }
      bool writable = path && access (path, W_OK) == 0;
      xasprintf (&ctl, "%s/cgroup.controllers", path ? path : "/sys/fs/cgroup");
      cleanup_free char *ctrls = NULL;
      read_file (ctl, &ctrls, NULL, NULL);
      if (ctrls)
        ctrls[strcspn (ctrls, "\n")] = '\0';
      xasprintf (&d, "cgroup v2, %s, controllers: %s", writable ? "delegated (writable)" : "not delegated",
                 ctrls ? ctrls : "?");
      return item (r, "cgroup", writable ? ST_OK : ST_WARN, d,
                   "containers run without resource limits: delegate the cgroup (systemd "
                   "Delegate=yes, or a writable cgroup namespace)");
    }
  item (r, "cgroup", ST_WARN, "cgroup v1: rootless dockerd cannot apply resource limits",
        "use a cgroup v2 host for `docker run --memory/--cpus`");
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
      return item (r, "state_dir", ST_FAIL, d,
                   "set launcher.state_dir (or XDG_RUNTIME_DIR) to a writable directory");
    }
  xasprintf (&d, "%s writable", conf->state_dir);
  item (r, "state_dir", ST_OK, d, NULL);
}

int
launch_doctor_run (struct rdind_conf *conf, bool json, FILE *out)
{
  struct report r = { out, json, 0, 0 };
  struct launch_ids ids = { 0 };
  bool userns_ok, subids_ok;

  conf_resolve_paths (conf);
  check_userns (&r, &userns_ok);
  check_subids (&r, &ids, &subids_ok);
  check_idmap (&r, &ids, subids_ok, userns_ok);
  check_proc (&r, userns_ok);
  check_tun (&r);
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
  return launch_doctor_run (conf, json, stdout) ? 1 : 0;
}
