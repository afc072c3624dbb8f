/* Unit tests for doctor's verdicts: for each cause a probe can meet, the
 * right FAIL (or WARN) and the right one-line fix, including the knobs this
 * machine's kernel lacks (AppArmor's restriction, Debian's
 * unprivileged_userns_clone). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "launch-int.h"
#include "tap.h"
#include "util.h"

static const char *status_plain = "Name:\trdind\nUid:\t1000\t1000\t1000\t1000\n"
                                  "CapBnd:\t00000000a80425fb\nSeccomp:\t0\nSeccomp_filters:\t0\n";
/* Under a seccomp filter (Docker's default profile, or contrib/seccomp.json). */
static const char *status_filter = "Name:\trdind\nCapBnd:\t00000000a80425fb\n"
                                   "Seccomp:\t2\nSeccomp_filters:\t1\n";
/* --cap-drop SETUID (bit 7) */
static const char *status_no_setuid = "CapBnd:\t00000000a804257b\nSeccomp:\t2\n";
/* --cap-drop SETGID (bit 6) */
static const char *status_no_setgid = "CapBnd:\t00000000a80425bb\nSeccomp:\t2\n";

/* A container without systempaths=unconfined (docker 20.10). */
static const char *mountinfo_masked
    = "513 480 0:55 / / rw,relatime - overlay overlay rw\n"
      "514 513 0:56 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
      "489 514 0:56 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw\n"
      "490 514 0:56 /fs /proc/fs ro,nosuid,nodev,noexec,relatime - proc proc rw\n"
      "491 514 0:56 /irq /proc/irq ro,nosuid,nodev,noexec,relatime - proc proc rw\n"
      "492 514 0:56 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw\n"
      "493 514 0:82 / /proc/acpi ro,relatime - tmpfs tmpfs ro\n"
      "494 514 0:57 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"
      "495 514 0:57 /null /proc/timer_list rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n";
/* A host: binfmt_misc on its permanently empty directory does not mask. */
static const char *mountinfo_host
    = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "40 22 0:35 / /proc/sys/fs/binfmt_misc rw,relatime - autofs systemd-1 rw\n"
      "27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n";

static bool
has (const char *s, const char *sub)
{
  return s && strstr (s, sub) != NULL;
}

static struct launch_doctor_verdict
userns (int unshare_errno, int map_errno, long clone, long maxns, long apparmor, const char *status)
{
  struct launch_doctor_verdict v;
  struct launch_userns_facts f = { unshare_errno, map_errno, clone, maxns, apparmor, status };
  launch_doctor_userns (&f, &v);
  return v;
}

static void
test_userns (void)
{
  struct launch_doctor_verdict v;

  v = userns (0, 0, -1, 96365, -1, status_filter);
  ok (v.status == LAUNCH_DOCTOR_OK && has (v.detail, "max_user_namespaces=96365") && v.fix == NULL,
      "userns: OK when unshare and the self map work");
  launch_doctor_verdict_release (&v);

  /* (a) Docker's default profile: EPERM under a filter. */
  v = userns (EPERM, 0, -1, 96365, -1, status_filter);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "seccomp filter blocks")
          && has (v.fix, "contrib/seccomp.json") && has (v.fix, "seccomp=unconfined"),
      "userns: seccomp filter -> rdind's profile or seccomp=unconfined (%s)", v.fix);
  launch_doctor_verdict_release (&v);
  v = userns (ENOSYS, 0, -1, 96365, -1, status_filter);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "ENOSYS") && has (v.fix, "seccomp"),
      "userns: a filter answering ENOSYS is seccomp too");
  launch_doctor_verdict_release (&v);
  v = userns (EPERM, 0, -1, 96365, -1, status_plain);
  ok (v.status == LAUNCH_DOCTOR_FAIL && !has (v.fix, "seccomp.json")
          && has (v.detail, "Operation not permitted"),
      "userns: EPERM without a filter is not blamed on seccomp (%s)", v.detail);
  launch_doctor_verdict_release (&v);
  v = userns (EINVAL, 0, -1, 96365, -1, status_filter);
  ok (v.status == LAUNCH_DOCTOR_FAIL && !has (v.fix, "seccomp.json"),
      "userns: EINVAL under a filter is not seccomp's");
  launch_doctor_verdict_release (&v);
  v = userns (EPERM, 0, -1, -1, -1, NULL);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.fix, "allow unprivileged user namespaces"),
      "userns: nothing known -> the generic fix");
  launch_doctor_verdict_release (&v);

  /* (d) Debian's and older Ubuntu's switch; it wins over the filter. */
  v = userns (EPERM, 0, 0, 96365, -1, status_filter);
  ok (v.status == LAUNCH_DOCTOR_FAIL && strcmp (v.detail, "kernel.unprivileged_userns_clone=0") == 0
          && has (v.fix, "sysctl -w kernel.unprivileged_userns_clone=1"),
      "userns: unprivileged_userns_clone=0 -> sysctl fix");
  launch_doctor_verdict_release (&v);
  v = userns (0, 0, 1, 96365, -1, status_plain);
  ok (v.status == LAUNCH_DOCTOR_OK, "userns: unprivileged_userns_clone=1 is fine");
  launch_doctor_verdict_release (&v);

  /* (d) user.max_user_namespaces. */
  v = userns (ENOSPC, 0, -1, 0, -1, status_filter);
  ok (v.status == LAUNCH_DOCTOR_FAIL && strcmp (v.detail, "user.max_user_namespaces=0") == 0
          && has (v.fix, "sysctl -w user.max_user_namespaces=15000"),
      "userns: max_user_namespaces=0 -> sysctl fix");
  launch_doctor_verdict_release (&v);
  v = userns (ENOSPC, 0, -1, 10, -1, status_plain);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "(10) is used up")
          && has (v.fix, "user.max_user_namespaces"),
      "userns: ENOSPC with a limit left -> used up or nested too deep");
  launch_doctor_verdict_release (&v);

  /* (d) AppArmor (Ubuntu >= 23.10): the creation is refused (EACCES)... */
  v = userns (EACCES, 0, -1, 96365, 1, status_filter);
  ok (v.status == LAUNCH_DOCTOR_FAIL
          && strcmp (v.detail, "kernel.apparmor_restrict_unprivileged_userns=1") == 0
          && has (v.fix, "apparmor_restrict_unprivileged_userns=0") && has (v.fix, "userns,"),
      "userns: AppArmor refuses the namespace -> its sysctl or a profile with userns (%s)", v.fix);
  launch_doctor_verdict_release (&v);
  v = userns (EPERM, 0, -1, 96365, 1, status_filter);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "apparmor") && !has (v.fix, "seccomp.json"),
      "userns: with the AppArmor restriction on, EPERM is AppArmor's before seccomp's");
  launch_doctor_verdict_release (&v);
  /* ... or allowed without capabilities (the unprivileged_userns profile). */
  v = userns (0, EPERM, -1, 96365, 1, status_plain);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "apparmor_restrict_unprivileged_userns=1")
          && has (v.detail, "no capabilities") && has (v.fix, "userns,"),
      "userns: namespace without capabilities under AppArmor -> AppArmor fix");
  launch_doctor_verdict_release (&v);
  v = userns (0, 0, -1, 96365, 0, status_plain);
  ok (v.status == LAUNCH_DOCTOR_OK, "userns: apparmor_restrict_unprivileged_userns=0 is fine");
  launch_doctor_verdict_release (&v);
  v = userns (0, EACCES, -1, 96365, -1, status_plain);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "uid_map") && !has (v.fix, "sysctl"),
      "userns: self map refused without AppArmor's knob -> security module fix");
  launch_doctor_verdict_release (&v);
}

static struct launch_doctor_verdict
idmap (const char *tool, const char *exe, bool setuid, bool fcaps, const char *status,
       const char *map_error, bool *tryable)
{
  struct launch_doctor_verdict v;
  struct launch_idmap_facts f = { tool, exe, setuid, fcaps, true, true, status, map_error };
  *tryable = launch_doctor_idmap_tryable (&f);
  launch_doctor_idmap (&f, &v);
  return v;
}

static void
test_idmap (void)
{
  struct launch_doctor_verdict v;
  bool t;
  struct launch_idmap_facts pre
      = { "newuidmap", "/usr/bin/newuidmap", false, true, false, true, status_filter, NULL };

  v = idmap ("newuidmap", NULL, false, false, status_filter, NULL, &t);
  ok (!t && v.status == LAUNCH_DOCTOR_FAIL && has (v.fix, "apt-get install uidmap"),
      "idmap: not found -> install uidmap");
  launch_doctor_verdict_release (&v);
  v = idmap ("newgidmap", "/usr/bin/newgidmap", false, false, status_filter, NULL, &t);
  ok (!t && v.status == LAUNCH_DOCTOR_FAIL
          && strcmp (v.fix, "setcap cap_setgid+ep /usr/bin/newgidmap") == 0,
      "idmap: neither setuid nor file caps -> setcap cap_setgid");
  launch_doctor_verdict_release (&v);

  v = idmap ("newuidmap", "/usr/bin/newuidmap", false, true, status_filter, NULL, &t);
  ok (t && v.status == LAUNCH_DOCTOR_OK && has (v.detail, "(file caps)"),
      "idmap: file caps, mapped -> OK");
  launch_doctor_verdict_release (&v);

  /* (c) setuid-only in a container without CAP_SYS_ADMIN. */
  v = idmap ("newuidmap", "/usr/bin/newuidmap", true, false, status_filter,
             "/usr/bin/newuidmap: newuidmap: write to uid_map failed: Operation not permitted", &t);
  ok (t && v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "write to uid_map failed")
          && strcmp (v.fix,
                     "chmod u-s /usr/bin/newuidmap && setcap cap_setuid+ep /usr/bin/newuidmap")
                 == 0,
      "idmap: setuid-only, write to uid_map failed -> setcap cap_setuid+ep (%s)", v.fix);
  launch_doctor_verdict_release (&v);
  v = idmap ("newgidmap", "/usr/bin/newgidmap", true, false, status_filter,
             "/usr/bin/newgidmap: newgidmap: write to gid_map failed: Operation not permitted", &t);
  ok (t && v.status == LAUNCH_DOCTOR_FAIL
          && strcmp (v.fix,
                     "chmod u-s /usr/bin/newgidmap && setcap cap_setgid+ep /usr/bin/newgidmap")
                 == 0,
      "idmap: setuid-only newgidmap -> setcap cap_setgid+ep");
  launch_doctor_verdict_release (&v);
  /* setcap without chmod u-s: setuid root with only the file capability. */
  v = idmap ("newuidmap", "/usr/bin/newuidmap", true, true, status_filter,
             "/usr/bin/newuidmap failed (status 1): newuidmap: open of uid_map failed: Permission "
             "denied",
             &t);
  ok (t && v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "both the setuid bit and a file")
          && strcmp (v.fix, "chmod u-s /usr/bin/newuidmap (keep its file capability)") == 0,
      "idmap: setuid bit and file caps -> chmod u-s");
  launch_doctor_verdict_release (&v);
  v = idmap ("newuidmap", "/usr/bin/newuidmap", false, true, status_filter,
             "/usr/bin/newuidmap failed (status 1): newuidmap: uid range [1-65537) -> "
             "[100000-165536) not allowed",
             &t);
  ok (t && v.status == LAUNCH_DOCTOR_FAIL && has (v.fix, "/etc/subuid"),
      "idmap: file caps, other failure -> check the subuid range");
  launch_doctor_verdict_release (&v);

  /* The capability bounding set (--cap-drop, Kubernetes drop: [ALL]). */
  v = idmap ("newuidmap", "/usr/bin/newuidmap", false, true, status_no_setuid, NULL, &t);
  ok (!t && v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "lacks CAP_SETUID")
          && has (v.fix, "--cap-drop SETUID"),
      "idmap: CAP_SETUID outside the bounding set -> keep it, not tried");
  launch_doctor_verdict_release (&v);
  v = idmap ("newuidmap", "/usr/bin/newuidmap", true, false, status_no_setuid, NULL, &t);
  ok (!t && v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "lacks CAP_SETUID"),
      "idmap: setuid root cannot get CAP_SETUID either");
  launch_doctor_verdict_release (&v);
  v = idmap ("newuidmap", "/usr/bin/newuidmap", false, true, status_no_setgid, NULL, &t);
  ok (t && v.status == LAUNCH_DOCTOR_OK, "idmap: newuidmap does not need CAP_SETGID");
  launch_doctor_verdict_release (&v);
  v = idmap ("newgidmap", "/usr/bin/newgidmap", false, true, status_no_setgid, NULL, &t);
  ok (!t && v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "lacks CAP_SETGID")
          && has (v.fix, "capabilities.add: [\"SETGID\"]"),
      "idmap: newgidmap needs CAP_SETGID");
  launch_doctor_verdict_release (&v);
  v = idmap ("newgidmap", "/usr/bin/newgidmap", false, true, NULL, NULL, &t);
  ok (t, "idmap: unknown bounding set -> the try tells");
  launch_doctor_verdict_release (&v);

  ok (!launch_doctor_idmap_tryable (&pre), "idmap: not tried without user namespaces");
  launch_doctor_idmap (&pre, &v);
  ok (v.status == LAUNCH_DOCTOR_WARN && has (v.detail, "not tried: no user namespaces"),
      "idmap: WARN when user namespaces fail");
  launch_doctor_verdict_release (&v);
  pre.userns_ok = true;
  pre.subids_ok = false;
  launch_doctor_idmap (&pre, &v);
  ok (!launch_doctor_idmap_tryable (&pre) && v.status == LAUNCH_DOCTOR_WARN
          && has (v.detail, "no subordinate ids"),
      "idmap: WARN without subordinate ids");
  launch_doctor_verdict_release (&v);
}

static struct launch_doctor_verdict
proc (bool userns_ok, int probe, const char *mountinfo, long apparmor)
{
  struct launch_doctor_verdict v;
  struct launch_proc_facts f = { userns_ok, probe, mountinfo, apparmor };
  launch_doctor_proc (&f, &v);
  return v;
}

static void
test_proc (void)
{
  struct launch_doctor_verdict v;
  char many[4096] = "";

  v = proc (false, 0, NULL, -1);
  ok (v.status == LAUNCH_DOCTOR_WARN && has (v.fix, "fix userns first"),
      "proc: WARN without userns");
  launch_doctor_verdict_release (&v);
  v = proc (true, 0, mountinfo_masked, -1);
  ok (v.status == LAUNCH_DOCTOR_OK && v.fix == NULL, "proc: OK when it mounts");
  launch_doctor_verdict_release (&v);

  /* (b) masked /proc. */
  v = proc (true, EPERM, mountinfo_masked, -1);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "Operation not permitted")
          && has (v.detail, "/proc is masked: /proc/bus, /proc/fs, /proc/irq, /proc/sys and 3 more")
          && has (v.fix, "systempaths=unconfined") && has (v.fix, "procMount: Unmasked"),
      "proc: masked /proc -> systempaths=unconfined / procMount: Unmasked (%s)", v.detail);
  launch_doctor_verdict_release (&v);
  v = proc (true, EPERM, mountinfo_host, -1);
  ok (v.status == LAUNCH_DOCTOR_FAIL && !has (v.detail, "masked") && has (v.fix, "systempaths"),
      "proc: binfmt_misc is no mask; the fix stays systempaths");
  launch_doctor_verdict_release (&v);
  v = proc (true, EPERM,
            "1 0 0:1 / /proc rw - proc proc rw\n2 1 0:2 / /proc/kcore rw - tmpfs t rw\n", -1);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "(/proc is masked: /proc/kcore)"),
      "proc: one mask listed alone");
  launch_doctor_verdict_release (&v);
  for (int i = 0; i < 20; i++)
    snprintf (many + strlen (many), sizeof many - strlen (many),
              "%d 1 0:2 / /proc/m%d rw - tmpfs t rw\n", i + 2, i);
  v = proc (true, EPERM, many, -1);
  ok (has (v.detail, "/proc/m3 and 16 more"), "proc: a long list is cut");
  launch_doctor_verdict_release (&v);

  /* (d) AppArmor's capability-less namespace: the setup fails, not the mount. */
  v = proc (true, 200, mountinfo_masked, 1);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "namespace setup failed")
          && has (v.detail, "apparmor") && has (v.fix, "userns,"),
      "proc: setup fails under AppArmor's restriction -> AppArmor fix");
  launch_doctor_verdict_release (&v);
  v = proc (true, 200, mountinfo_host, -1);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "namespace setup failed")
          && !has (v.detail, "masked"),
      "proc: setup failure is not blamed on masks");
  launch_doctor_verdict_release (&v);
}

/* A cgroup v1 host (this project's CI VM): a tmpfs on /sys/fs/cgroup and a
 * v1 hierarchy per controller under it; cgroup2 on unified (hybrid). */
static const char *mountinfo_v1
    = "27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
      "23 27 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
      "28 23 0:25 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
      "29 28 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n"
      "30 28 0:27 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd\n"
      "33 28 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory\n";
/* A root whose /sys has no cgroup mounted at all (a chroot, a hand-made
 * container): sysfs only. */
static const char *mountinfo_none
    = "27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
      "23 27 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n"
      "29 23 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n";

static struct launch_doctor_verdict
cgroup (int e, unsigned long type, int v1, bool writable, const char *ctrls)
{
  struct launch_doctor_verdict v;
  struct launch_cgroup_facts f = { .statfs_errno = e, .fs_type = type, .v1_reachable = v1,
                                    .own_path = "/sys/fs/cgroup/x", .own_writable = writable,
                                    .controllers = ctrls };
  launch_doctor_cgroup (&f, &v);
  return v;
}

static void
test_cgroup (void)
{
  struct launch_doctor_verdict v;
  char **m = launch_cgroup_v1_mounts (mountinfo_v1);

  ok (strv_len (m) == 2 && strcmp (m[0], "/sys/fs/cgroup/systemd") == 0
          && strcmp (m[1], "/sys/fs/cgroup/memory") == 0,
      "cgroup: the v1 mount points of mountinfo, not tmpfs or cgroup2");
  strv_free (m);
  ok (launch_cgroup_v1_mounts (mountinfo_none) == NULL && launch_cgroup_v1_mounts (NULL) == NULL,
      "cgroup: no v1 mount in a sysfs-only mountinfo");

  v = cgroup (0, 0x63677270UL, 0, true, "cpu memory pids");
  ok (v.status == LAUNCH_DOCTOR_OK && has (v.detail, "cgroup v2, delegated") && has (v.detail, "cpu memory pids"),
      "cgroup: v2 delegated OK");
  launch_doctor_verdict_release (&v);
  v = cgroup (0, 0x63677270UL, 0, true, "memory pids\n");
  ok (v.status == LAUNCH_DOCTOR_WARN && has (v.detail, "hands memory pids") && has (v.detail, "but not cpu")
          && has (v.fix, "CPUAccounting=yes"),
      "cgroup: v2 delegated without cpu (a user unit with Delegate=yes alone) WARNs and names the fix: %s",
      v.detail);
  launch_doctor_verdict_release (&v);
  v = cgroup (0, 0x63677270UL, 0, true, "cpuset cpu io memory hugetlb pids rdma misc\n");
  ok (v.status == LAUNCH_DOCTOR_OK, "cgroup: v2 delegated with every controller OK (words, not substrings)");
  launch_doctor_verdict_release (&v);
  v = cgroup (0, 0x63677270UL, 0, true, "cpuset memory pids");
  ok (v.status == LAUNCH_DOCTOR_WARN && has (v.detail, "but not cpu"), "cgroup: cpuset is not cpu");
  launch_doctor_verdict_release (&v);
  v = cgroup (0, 0x63677270UL, 0, false, NULL);
  ok (v.status == LAUNCH_DOCTOR_WARN && has (v.detail, "not delegated") && has (v.fix, "Delegate=yes"),
      "cgroup: v2 not delegated WARN");
  launch_doctor_verdict_release (&v);
  v = cgroup (0, 0x63677270UL, 0, true, "cpuset hugetlb");
  ok (v.status == LAUNCH_DOCTOR_WARN && has (v.detail, "none of memory, pids, cpu, io"),
      "cgroup: v2 delegated without any controller of ours WARNs");
  launch_doctor_verdict_release (&v);
  v = cgroup (0, 0x01021994UL /* tmpfs */, 2, false, NULL);
  ok (v.status == LAUNCH_DOCTOR_WARN && has (v.detail, "cgroup v1") && has (v.detail, "NOT enforced"), "cgroup: v1 WARN");
  launch_doctor_verdict_release (&v);
  {
    const char *why = NULL;
    ok (launch_cgroup_ours (true, "/", false, true, true, &why), "cgroup ours: root in its own cgroup namespace, even read-only");
    ok (launch_cgroup_ours (true, "/system.slice/x.scope", true, true, false, &why), "cgroup ours: root in a Delegate=yes unit");
    ok (!launch_cgroup_ours (true, "/user.slice/user-0.slice/session-1.scope", false, true, false, &why)
            && has (why, "Delegate=yes"),
        "cgroup ours: never a login session's scope");
    ok (launch_cgroup_ours (false, "/user.slice/user-1000.slice/user@1000.service/app.slice/r.service", false, true, false, &why),
        "cgroup ours: a user's own delegated cgroup");
    ok (!launch_cgroup_ours (false, "/user.slice/user-1000.slice/session-2.scope", false, false, false, &why)
            && has (why, "contrib/rdind.service"),
        "cgroup ours: a user's session scope is not");
    ok (!launch_cgroup_ours (false, "/", false, true, true, &why) && has (why, "read-only"),
        "cgroup ours: a user cannot divide a read-only mount");
  }
  launch_doctor_verdict_release (&v);
  /* Nothing mounted: /sys/fs/cgroup is sysfs's empty directory (or a
   * shadowed v1 hierarchy nobody reaches).  The old verdict said "cgroup
   * v1" here, while every docker run failed. */
  v = cgroup (0, 0x62656572UL /* sysfs */, 0, false, NULL);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "no cgroup file system is mounted")
          && has (v.detail, "no cgroup mount found in mountinfo") && has (v.fix, "mount -t cgroup2"),
      "cgroup: nothing mounted FAILs with the mount fix (%s)", v.detail);
  launch_doctor_verdict_release (&v);
  v = cgroup (ENOENT, 0, 0, false, NULL);
  ok (v.status == LAUNCH_DOCTOR_FAIL && has (v.detail, "No such file or directory"),
      "cgroup: no /sys/fs/cgroup at all FAILs");
  launch_doctor_verdict_release (&v);
  {
    struct launch_cgroup_facts f = { .fs_type = 0x62656572UL };
    ok (!launch_cgroup_usable (&f), "cgroup: sysfs only is not usable");
    f.v1_reachable = 1;
    ok (launch_cgroup_usable (&f), "cgroup: a reachable v1 hierarchy is usable");
    f = (struct launch_cgroup_facts){ .fs_type = 0x63677270UL };
    ok (launch_cgroup_usable (&f), "cgroup: cgroup2 on /sys/fs/cgroup is usable");
  }
}

static void
test_pasta_wmem (void)
{
  struct launch_doctor_verdict v;

  launch_doctor_pasta_wmem (4194304, &v);
  ok (v.status == LAUNCH_DOCTOR_WARN && has (v.detail, "4194304") && has (v.fix, "16777216")
          && has (v.fix, "slirp4netns"),
      "tcp_wmem: WARN at Linux's default 4 MiB ceiling, naming the sysctl and slirp4netns");
  launch_doctor_verdict_release (&v);
  launch_doctor_pasta_wmem (16777216, &v);
  ok (v.status == LAUNCH_DOCTOR_OK && v.fix == NULL, "tcp_wmem: OK at 16 MiB");
  launch_doctor_verdict_release (&v);
  launch_doctor_pasta_wmem (-1, &v);
  ok (v.status == LAUNCH_DOCTOR_OK && has (v.detail, "not checked"), "tcp_wmem: unreadable is not a warning");
  launch_doctor_verdict_release (&v);
}

int
main (void)
{
  test_userns ();
  test_idmap ();
  test_proc ();
  test_cgroup ();
  test_pasta_wmem ();
  return done_testing ();
}
