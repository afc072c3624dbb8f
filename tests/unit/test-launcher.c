/* Unit tests for the launcher's pure helpers. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "launch.h"
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
  return done_testing ();
}
