/* Unit tests for the launcher's pure helpers. */
#include "config.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch-int.h"
#include "launch.h"
#include "log.h"
#include "tap.h"
#include "util.h"

int
main (void)
{
  uint64_t s = 0, c = 0;
  char *g = NULL, *d = NULL, *v;
  rdind_error_t err = NULL;
  {
    const char *u = "alice:100000:65536\nbob:165536:65536\n";
    const char *g = "alice:100000:65536\ncarol:231072:1000\n";
    ok (launch_subid_free (NULL, NULL, 65536) == 100000, "free subids: empty files give 100000");
    ok (launch_subid_free (u, g, 65536) == 232072, "free subids: past every range of both files (%llu)",
        (unsigned long long) launch_subid_free (u, g, 65536));
    ok (launch_subid_free ("x:300000:65536\n", NULL, 65536) == 100000, "free subids: a gap below a range is used");
    ok (launch_subid_free ("x:150000:10\n", NULL, 65536) == 150010, "free subids: a gap too small is skipped");
    ok (launch_subid_free ("x:100000:4294860000\n", NULL, 65536) == 0, "free subids: none left");
  }
  const char *subuid = "# comment\nalice:100000:65536\n1001:200000:1000\nbob:300000:65536\n";

  ok (launch_subid_parse (subuid, "alice", 1000, &s, &c) == 1 && s == 100000 && c == 65536,
      "subid by name");
  ok (launch_subid_parse (subuid, "carol", 1001, &s, &c) == 1 && s == 200000 && c == 1000,
      "subid by uid");
  ok (launch_subid_parse (subuid, "dave", 4242, &s, &c) == 0, "absent user");
  ok (launch_subid_parse ("bad:line\nx:1:\n", "x", 9, &s, &c) == 0, "malformed lines ignored");

  ok (launch_cidr_hosts ("10.0.2.0/24", &g, &d, &err) == 0 && strcmp (g, "10.0.2.100") == 0
          && strcmp (d, "10.0.2.3") == 0,
      "slirp default hosts");
  free (g);
  free (d);
  ok (launch_cidr_hosts ("192.168.50.7/24", &g, &d, &err) == 0 && strcmp (g, "192.168.50.100") == 0,
      "host bits masked");
  free (g);
  free (d);
  ok (launch_cidr_hosts ("nonsense", &g, &d, &err) < 0, "bad cidr refused");
  {
    cleanup_free char *gw = launch_cidr_nth ("192.168.50.7/24", 2);
    ok (gw && strcmp (gw, "192.168.50.2") == 0, "cidr: gateway is host 2 (%s)", gw ? gw : "NULL");
    ok (launch_cidr_nth ("10.0.2.0/33", 2) == NULL, "cidr: bad prefix gives no host");
  }
  rdind_error_release (&err);

  /* A network helper that dies at once: its status and what it said, not a timeout. */
  {
    cleanup_free char *a = launch_exit_describe ("slirp4netns", "/x/slirp", 1 << 8,
                                                 "line one\nline two\nline three\nfatal: boom\n\n",
                                                 "/s/slirp4netns.log");
    ok (a && strstr (a, "slirp4netns (/x/slirp) exited with status 1 during setup")
            && strstr (a, "`line two line three fatal: boom`") && !strstr (a, "line one")
            && strstr (a, "(see /s/slirp4netns.log)") && !strstr (a, "ready"),
        "exit described: status, last 3 lines, log (%s)", a);
    cleanup_free char *b = launch_exit_describe ("pasta", "/p", 9, "", "/s/pasta.log");
    ok (b && strstr (b, "was killed by signal 9") && !strstr (b, "`"),
        "exit described: signal, no empty tail (%s)", b);
    char big[2000];
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cleanup_free char *c = launch_exit_describe ("s", "/s", 2 << 8, big, "/l");
    ok (c && strlen (c) < 500, "exit described: a long tail is cut (%zu)", c ? strlen (c) : 0);
  }

  v = launch_json_get ("{\"return\": {\"id\": 7}}", "id");
  ok (v && strcmp (v, "7") == 0, "json number");
  free (v);
  v = launch_json_get ("{\"proto\":\"tcp\",\"parentIP\":\"127.0.0.1\"}", "parentIP");
  ok (v && strcmp (v, "127.0.0.1") == 0, "json string");
  free (v);
  v = launch_json_get ("{\"error\":{\"desc\":\"bad \\\"x\\\"\"}}", "desc");
  ok (v && strstr (v, "bad") != NULL, "json escaped string");
  free (v);
  ok (launch_json_get ("{\"a\":1}", "b") == NULL, "json absent key");
  v = launch_find_exe ("sh");
  ok (v != NULL && v[0] == '/', "find_exe sh");
  free (v);
  ok (launch_find_exe ("no-such-binary-rdind") == NULL, "find_exe absent");

  {
    char *pid_only[] = { "pid", NULL }, *all[] = { "pid", "uts", "ipc", "cgroup", NULL };
    ok (launch_ns_flags (pid_only) == CLONE_NEWPID, "namespaces: pid only");
    ok (launch_ns_flags (all) == (CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP),
        "namespaces: pid, uts, ipc, cgroup");
    ok (launch_ns_flags (NULL) == CLONE_NEWPID, "namespaces: pid even when none are listed");
  }

  /* rdind launch hands rdind-launch its settings on the command line: what
   * the front builds, the helper must read back unchanged. */
  {
    char *ns[] = { "pid", "uts", NULL }, *sargs[] = { "--enable-sandbox", NULL };
    char *dargv[] = { "/usr/sbin/dockerd", "--data-root=/d r", "--", NULL };
    struct launch_run in = { .state_dir = "/run/s", .rootlesskit_dir = "/run/s/rootlesskit",
                             .docker_sock = "/run/s/docker.sock", .slirp4netns = "/usr/bin/slirp4netns",
                             .slirp_args = sargs, .cidr = "10.0.2.0/24", .mtu = 65520,
                             .stop_timeout = 15, .namespaces = ns, .userns_fd = -1, .cgroup_fd = -1,
                             .ids = { 100000, 65536, 200000, 65537 }, .log_level = "debug",
                             .dockerd_argv = dargv };
    struct launch_run out;
    char **argv = launch_run_to_argv (&in, "/x/rdind-launch");
    int argc = (int) strv_len (argv);

    ok (launch_run_parse (&out, argc, argv, &err) == 0, "rdind-launch argv parses");
    ok (out.state_dir && strcmp (out.state_dir, "/run/s") == 0
            && strcmp (out.rootlesskit_dir, "/run/s/rootlesskit") == 0
            && strcmp (out.docker_sock, "/run/s/docker.sock") == 0
            && strcmp (out.slirp4netns, "/usr/bin/slirp4netns") == 0
            && strcmp (out.cidr, "10.0.2.0/24") == 0 && strcmp (out.log_level, "debug") == 0,
        "paths, cidr and log level round-trip");
    ok (out.mtu == 65520 && out.stop_timeout == 15 && out.userns_fd == -1
            && out.ids.uid_start == 100000 && out.ids.uid_count == 65536
            && out.ids.gid_start == 200000 && out.ids.gid_count == 65537,
        "numbers and subordinate ranges round-trip");
    ok (strv_len (out.namespaces) == 2 && strcmp (out.namespaces[1], "uts") == 0
            && strv_len (out.slirp_args) == 1 && strcmp (out.slirp_args[0], "--enable-sandbox") == 0,
        "namespaces and slirp4netns flags round-trip");
    ok (strv_len (out.dockerd_argv) == 3 && strcmp (out.dockerd_argv[1], "--data-root=/d r") == 0
            && strcmp (out.dockerd_argv[2], "--") == 0,
        "dockerd argv after the first -- is kept verbatim");
    launch_run_release (&out);
    strv_free (argv);

    in.userns_fd = 3;
    argv = launch_run_to_argv (&in, "rdind-launch");
    argc = (int) strv_len (argv);
    ok (launch_run_parse (&out, argc, argv, &err) == 0 && out.userns_fd == 3
            && !strv_contains (argv, "--subuid=100000:65536"),
        "with the sidecar's user namespace: --userns-fd, no subordinate ranges");
    launch_run_release (&out);
    strv_free (argv);
    ok (out.cgroup_fd == -1, "no delegated cgroup: cgroup_fd stays -1");
    in.cgroup_fd = 4;
    argv = launch_run_to_argv (&in, "rdind-launch");
    argc = (int) strv_len (argv);
    ok (launch_run_parse (&out, argc, argv, &err) == 0 && out.cgroup_fd == 4, "a delegated cgroup: --cgroup-fd round-trips");
    launch_run_release (&out);
    strv_free (argv);
    char *cg_stdio[] = { "rdind-launch", "--cgroup-fd=2", "--", "dockerd", NULL };
    ok (launch_run_parse (&out, 4, cg_stdio, &err) < 0, "cgroup fd among stdio refused");
    rdind_error_release (&err);
    in.cgroup_fd = -1;

    char *no_dockerd[] = { "rdind-launch", "--state-dir=/s", "--", NULL };
    ok (launch_run_parse (&out, 3, no_dockerd, &err) < 0 && err && strstr (err->msg, "rdind launch"),
        "no dockerd: refused, pointing at rdind launch");
    rdind_error_release (&err);
    char *unknown[] = { "rdind-launch", "--bogus=1", "--", "dockerd", NULL };
    ok (launch_run_parse (&out, 4, unknown, &err) < 0, "unknown option refused");
    rdind_error_release (&err);
    char *missing[] = { "rdind-launch", "--state-dir=/s", "--", "dockerd", NULL };
    ok (launch_run_parse (&out, 4, missing, &err) < 0, "missing settings refused");
    rdind_error_release (&err);
    char *badfd[] = { "rdind-launch", "--userns-fd=1", "--", "dockerd", NULL };
    ok (launch_run_parse (&out, 4, badfd, &err) < 0, "userns fd among stdio refused");
    rdind_error_release (&err);
  }

  /* dockerd's (logrus) and containerd's lines keep their level and fields */
  {
    char out[256];
    enum log_level l;
    l = log_foreign_fields ("time=\"2026-11-23T02:49:02.123456Z\" level=warning msg=\"no blkio\" k=v", out,
                            sizeof out);
    ok (l == LOG_WARN_ && strcmp (out, "msg=\"no blkio\" k=v") == 0, "logrus warning line");
    l = log_foreign_fields ("time=2026-11-23T02:49:02Z level=error msg=boom", out, sizeof out);
    ok (l == LOG_ERROR_ && strcmp (out, "msg=boom") == 0, "unquoted time, error level");
    l = log_foreign_fields ("time=\"x\" level=debug msg=\"d\"", out, sizeof out);
    ok (l == LOG_DEBUG_, "debug level kept (filtered by log_level later)");
    l = log_foreign_fields ("panic: runtime error: index out of range", out, sizeof out);
    ok (l == LOG_INFO_ && strcmp (out, "msg=\"panic: runtime error: index out of range\"") == 0,
        "plain line quoted whole");
    l = log_foreign_fields ("level=error msg=spoof", out, sizeof out);
    ok (l == LOG_INFO_ && strcmp (out, "msg=\"level=error msg=spoof\"") == 0,
        "a line without time= is not parsed as fields");
    l = log_foreign_fields ("time=\"x\" level=info something else", out, sizeof out);
    ok (l == LOG_INFO_ && strncmp (out, "msg=\"time=", 9) == 0, "no msg= after level: quoted whole");
  }
  /* certdir stays out of the daemon's root; it must not nest with the
   * daemon's own directories, either way round. */
  {
    char **h = NULL;
    ok (launch_hide_paths ("/certs", "/run/rdind", "/var/lib/rdind", &h, &err) == 0 && h && strcmp (h[0], "/certs") == 0
            && h[1] == NULL,
        "hide: certdir beside state_dir and data_root");
    strv_free (h);
    ok (launch_hide_paths ("/srv", "/srv/state", "/var/lib/rdind", &h, &err) < 0 && strstr (err->msg, "launcher.state_dir")
            && strstr (err->msg, "fix:"),
        "hide: state_dir under certdir is refused with a fix");
    rdind_error_release (&err);
    ok (launch_hide_paths ("/data/certs", "/run/rdind", "/data", &h, &err) < 0 && strstr (err->msg, "launcher.data_root"),
        "hide: certdir under data_root is refused");
    rdind_error_release (&err);
    ok (launch_hide_paths ("/certsx", "/run/rdind", "/certs", &h, &err) == 0, "hide: a shared prefix is not nesting");
    strv_free (h);
    ok (launch_hide_paths ("/", "/run/rdind", "/var", &h, &err) < 0, "hide: certdir / is refused");
    rdind_error_release (&err);
  }

  /* launcher/cgroup.c's pure helpers. */
  {
    char *p;
    p = launch_cgroup_own_path ("0::/\n");
    ok (p && strcmp (p, "/") == 0, "cgroup path: a namespace root is /");
    free (p);
    p = launch_cgroup_own_path ("12:memory:/x\n1:name=systemd:/y\n0::/system.slice/rdind.service\n");
    ok (p && strcmp (p, "/system.slice/rdind.service") == 0, "cgroup path: the v2 line among v1 ones");
    free (p);
    ok (launch_cgroup_own_path ("12:memory:/x\n1:name=systemd:/y\n") == NULL, "cgroup path: v1 only gives none");
    ok (launch_cgroup_own_path ("0::/gone (deleted)\n") == NULL, "cgroup path: a deleted cgroup gives none");
    p = launch_cgroup_pick ("cpuset cpu io memory hugetlb pids rdma misc\n");
    ok (strcmp (p, "memory pids cpu io") == 0, "controllers: ours, in our order (%s)", p);
    free (p);
    p = launch_cgroup_pick ("cpuset cpu pids\n");
    ok (strcmp (p, "pids cpu") == 0, "controllers: only those offered (%s)", p);
    free (p);
    p = launch_cgroup_pick ("cpuset iomem memoryx\n");
    ok (strcmp (p, "") == 0, "controllers: whole words only");
    free (p);
    p = launch_cgroup_identity_map ("         0          0 4294967295\n");
    ok (strcmp (p, "0 0 4294967295\n") == 0, "id map: the initial namespace maps to itself (%s)", p);
    free (p);
    p = launch_cgroup_identity_map ("0 100000 65536\n65536 1000 1\n");
    ok (strcmp (p, "0 0 65536\n65536 65536 1\n") == 0, "id map: a container's ranges map to themselves");
    free (p);
  }
  {
    /* The cgroup driver: ours unless the user chose one (dockerd refuses
     * a directive given both as a flag and in its daemon.json). */
    char dir[] = "/tmp/test-launcher.XXXXXX", *f = NULL, *home = NULL;
    char *argv1[] = { "--exec-opt", "native.cgroupdriver=systemd", NULL };
    char *argv2[] = { "--exec-opt=native.cgroupdriver=cgroupfs", NULL };
    char *argv3[] = { "--debug", NULL };
    ok (mkdtemp (dir) != NULL, "driver: a temp dir");
    xasprintf (&f, "%s/daemon.json", dir);
    ok (launch_cgroup_driver_chosen (argv1, NULL), "driver: --exec-opt native.cgroupdriver=... in two args");
    ok (launch_cgroup_driver_chosen (argv2, NULL), "driver: --exec-opt=native.cgroupdriver=... in one");
    ok (!launch_cgroup_driver_chosen (argv3, f), "driver: no config file, no flag: ours");
    ok (write_file_atomic (f, "{\"debug\": true}\n", 16, 0600, &err) == 0, "driver: a config without exec-opts");
    ok (!launch_cgroup_driver_chosen (NULL, f), "driver: ... leaves it ours");
    ok (write_file_atomic (f, "{\"exec-opts\": [\"native.cgroupdriver=systemd\"]}\n", 47, 0600, &err) == 0,
        "driver: a config with exec-opts");
    ok (launch_cgroup_driver_chosen (NULL, f), "driver: exec-opts in the config file: the user's");
    /* Rootless dockerd's default file: $XDG_CONFIG_HOME/docker/daemon.json. */
    xasprintf (&home, "%s", dir);
    setenv ("XDG_CONFIG_HOME", home, 1);
    ok (!launch_cgroup_driver_chosen (NULL, NULL), "driver: no default file: ours");
    free (f);
    xasprintf (&f, "%s/docker", dir);
    mkdir (f, 0700);
    free (f);
    xasprintf (&f, "%s/docker/daemon.json", dir);
    ok (write_file_atomic (f, "{\"exec-opts\": []}\n", 18, 0600, &err) == 0, "driver: a default file with exec-opts");
    ok (launch_cgroup_driver_chosen (NULL, NULL), "driver: the default file's exec-opts count");
    unlink (f);
    free (f);
    xasprintf (&f, "%s/docker", dir);
    rmdir (f);
    free (f);
    xasprintf (&f, "%s/daemon.json", dir);
    unlink (f);
    rmdir (dir);
    unsetenv ("XDG_CONFIG_HOME");
    free (f);
    free (home);
  }

  return done_testing ();
}
