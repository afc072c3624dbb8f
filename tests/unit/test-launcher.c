/* Unit tests for the launcher's pure helpers. */
#include "config.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

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
  rdind_error_release (&err);

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
  return done_testing ();
}
