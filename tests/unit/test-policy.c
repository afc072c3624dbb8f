/* Unit tests for the API policy: the rule matcher (policy.c) and the gate
 * that frames requests and answers (gate.c). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "policy.h"
#include "tap.h"
#include "util.h"

static struct rdind_conf *conf;
static char tmp[] = "/tmp/rdind-test-policy.XXXXXX";

static const struct conf_policy *
load (const char *ini)
{
  char path[256];
  rdind_error_t err = NULL;
  FILE *f;

  snprintf (path, sizeof path, "%s/p.ini", tmp);
  f = fopen (path, "w");
  fputs (ini, f);
  fclose (f);
  conf_free (conf);
  conf = NULL;
  if (conf_load_file (path, &conf, &err) < 0)
    {
      diag ("load: %s", err->msg);
      exit (1);
    }
  return &conf->policy;
}

static enum policy_verdict
check (const struct conf_policy *p, const char *method, const char *target, const char *body,
       const char **rule)
{
  static struct policy_decision d;
  policy_check (p, method, target, body, body ? strlen (body) : 0, &d);
  if (rule)
    *rule = d.rule ? d.rule : "-";
  if (d.verdict != POLICY_ALLOW)
    diag ("%s %s: %s", method, target, d.msg);
  return d.verdict;
}

#define CREATE "/v1.41/containers/create"

static void
rules (void)
{
  char ini[1024];
  const char *rule;
  const struct conf_policy *p;

  snprintf (ini, sizeof ini,
            "[sidecar]\npeers = ci, deploy\n[policy]\nenabled = yes\nallow_binds = %s/ok\n"
            "[policy.deploy]\nallow_binds =\nallow_images = registry.local/app/*\n",
            tmp);
  p = load (ini);
  ok (conf_yes (p->enabled) && p->max_body == 1048576, "[policy] loads with its defaults");

  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\"}", NULL) == POLICY_ALLOW, "plain create passes");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"HostConfig\":{\"Privileged\":true}}", &rule) == POLICY_DENY
          && strcmp (rule, "allow_privileged") == 0,
      "Privileged is denied (allow_privileged)");
  ok (check (p, "POST", CREATE, "{\"image\":\"bb\",\"hostconfig\":{\"privileged\":true}}", NULL) == POLICY_DENY,
      "member names are matched without case, as Go does");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"Ho\xc5\xbftConfig\":{\"Privileged\":true}}", NULL)
          == POLICY_DENY,
      "U+017F folds to 's' (HostConfig spelled with a long s)");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"Privileged\":false,\"privileged\":true}}", NULL) == POLICY_BAD,
      "two members that fold to one field are refused as ambiguous");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"Privileged\":1}}", NULL) == POLICY_DENY,
      "a non-boolean Privileged counts as set");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"SecurityOpt\":[\"seccomp=unconfined\"]}}", NULL) == POLICY_DENY,
      "seccomp=unconfined is denied");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"SecurityOpt\":[\"no-new-privileges\"]}}", NULL) == POLICY_ALLOW,
      "no-new-privileges passes");

  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"Binds\":[\"/:/host\"]}}", &rule) == POLICY_DENY
          && strcmp (rule, "allow_binds") == 0,
      "bind of / is denied (allow_binds)");
  {
    char b[512];
    snprintf (b, sizeof b, "{\"HostConfig\":{\"Binds\":[\"%s/ok/sub:/x:ro\", \"named:/v\"]}}", tmp);
    ok (check (p, "POST", CREATE, b, NULL) == POLICY_ALLOW, "bind below an allowed path and a named volume pass");
    snprintf (b, sizeof b, "{\"HostConfig\":{\"Binds\":[\"%s/ok/../../etc:/x\"]}}", tmp);
    ok (check (p, "POST", CREATE, b, NULL) == POLICY_DENY, "'..' is cleaned as dockerd cleans it");
    snprintf (b, sizeof b, "{\"HostConfig\":{\"Binds\":[\"%s/okay:/x\"]}}", tmp);
    ok (check (p, "POST", CREATE, b, NULL) == POLICY_DENY, "a sibling sharing the prefix is not below it");
    snprintf (b, sizeof b, "%s/ok/escape", tmp);
    ok (symlink ("/", b) == 0, "a symlink to / inside the allowed path");
    snprintf (b, sizeof b, "{\"HostConfig\":{\"Binds\":[\"%s/ok/escape/etc:/x\"]}}", tmp);
    ok (check (p, "POST", CREATE, b, NULL) == POLICY_DENY, "a bind through that symlink is denied");
    snprintf (b, sizeof b, "{\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etc\",\"Target\":\"/x\"}]}}");
    ok (check (p, "POST", CREATE, b, NULL) == POLICY_DENY, "Mounts type=bind is checked too");
    snprintf (b, sizeof b,
              "{\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/x\",\"VolumeOptions\":"
              "{\"DriverConfig\":{\"Options\":{\"type\":\"none\",\"o\":\"bind\",\"device\":\"/\"}}}}]}}");
    ok (check (p, "POST", CREATE, b, NULL) == POLICY_DENY, "a volume mount whose device is a host path is checked");
    ok (check (p, "POST", "/volumes/create", "{\"Name\":\"v\",\"DriverOpts\":{\"o\":\"bind\",\"device\":\"/\"}}", NULL)
            == POLICY_DENY,
        "volume create with a bind device is checked");
    ok (check (p, "POST", "/volumes/create", "{\"Name\":\"v\",\"DriverOpts\":{\"type\":\"tmpfs\",\"device\":\"tmpfs\"}}",
               NULL)
            == POLICY_ALLOW,
        "a tmpfs volume passes");
    ok (check (p, "POST", "/volumes/create", "{\"Name\":\"v\",\"Driver\":\"sshfs\"}", NULL) == POLICY_DENY,
        "another volume driver is denied");
  }

  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"NetworkMode\":\"host\"}}", &rule) == POLICY_DENY
          && strcmp (rule, "allow_host_namespaces") == 0,
      "--network host is denied");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"PidMode\":\"host\"}}", NULL) == POLICY_DENY, "--pid host is denied");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"NetworkMode\":\"bridge\",\"IpcMode\":\"private\"}}", NULL)
          == POLICY_ALLOW,
      "bridge network and private ipc pass");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"CapAdd\":[\"cap_sys_admin\"]}}", &rule) == POLICY_DENY
          && strcmp (rule, "deny_caps") == 0,
      "CapAdd SYS_ADMIN (any spelling) is denied");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"CapAdd\":[\"NET_RAW\"]}}", NULL) == POLICY_ALLOW,
      "CapAdd NET_RAW passes");
  ok (check (p, "POST", CREATE, "{\"HostConfig\":{\"Devices\":[{\"PathOnHost\":\"/dev/fuse\"}]}}", &rule) == POLICY_DENY
          && strcmp (rule, "allow_devices") == 0,
      "Devices are denied");
  ok (check (p, "POST", "/containers/abc/update", "{\"DeviceCgroupRules\":[\"c 1:3 rwm\"]}", NULL) == POLICY_DENY,
      "update adding device rules is denied");
  ok (check (p, "POST", "/containers/abc/exec", "{\"Cmd\":[\"sh\"],\"Privileged\":true}", NULL) == POLICY_DENY,
      "a privileged exec is denied");
  ok (check (p, "POST", "/exec/abc/start", "{\"Detach\":false}", NULL) == POLICY_ALLOW, "exec start passes");

  ok (check (p, "POST", CREATE, "{\"Image\":", NULL) == POLICY_BAD, "malformed JSON is a 400");
  ok (check (p, "POST", CREATE, "[1]", NULL) == POLICY_BAD, "a body that is not an object is a 400");
  ok (check (p, "POST", CREATE, "{\"a\":1,\"a\":2}", NULL) == POLICY_BAD, "duplicate members are a 400");
  ok (check (p, "POST", "/v1.41/containers/%63reate", "{\"HostConfig\":{\"Privileged\":true}}", NULL) == POLICY_DENY,
      "a percent-encoded path routes as dockerd routes it");
  ok (check (p, "POST", "/v1.41//containers/create", "{}", NULL) == POLICY_BAD, "'//' in the path is refused");
  ok (check (p, "POST", "/containers/x/../create", "{}", NULL) == POLICY_BAD, "'..' in the path is refused");
  ok (check (p, "POST", "/plugins/pull?remote=x", NULL, &rule) == POLICY_DENY, "plugins are refused");
  ok (check (p, "POST", "/services/create", "{}", NULL) == POLICY_DENY, "swarm services are refused");
  ok (check (p, "GET", "/containers/json", NULL, NULL) == POLICY_ALLOW, "reads pass");

  /* [policy.deploy]: no binds, images from one registry only. */
  p = conf_policy_for (conf, "deploy");
  ok (p != &conf->policy, "deploy has a policy of its own");
  {
    char b[512];
    snprintf (b, sizeof b, "{\"Image\":\"registry.local/app/web:1\",\"HostConfig\":{\"Binds\":[\"%s/ok:/x\"]}}", tmp);
    ok (check (p, "POST", CREATE, b, &rule) == POLICY_DENY && strcmp (rule, "allow_binds") == 0,
        "per-peer: deploy may not bind what ci may");
  }
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\"}", &rule) == POLICY_DENY && strcmp (rule, "allow_images") == 0,
      "per-peer: an image outside deploy's allow_images is denied");
  ok (check (p, "POST", CREATE, "{\"Image\":\"registry.local/app/web:1\"}", NULL) == POLICY_ALLOW,
      "per-peer: an allowed image passes");
  ok (check (p, "POST", "/images/create?fromImage=busybox&tag=latest", NULL, NULL) == POLICY_DENY,
      "per-peer: a pull outside allow_images is denied");
  ok (check (p, "POST", "/images/create?fromImage=registry.local%2Fapp%2Fweb&tag=2", NULL, NULL) == POLICY_ALLOW,
      "per-peer: an allowed pull passes (query decoded)");
  ok (check (p, "POST", CREATE, "{\"Image\":\"registry.local/app/web\",\"HostConfig\":{\"Privileged\":true}}", NULL)
          == POLICY_DENY,
      "per-peer: [policy] rules still apply");
  ok (conf_policy_for (conf, "ci") == &conf->policy, "ci takes [policy]");
}

/* --- gate ---------------------------------------------------------------- */

static struct gate_out out;

static void
feed (struct gate *g, const char *s)
{
  gate_from_client (g, s, strlen (s), &out);
}

static bool
has (const char *buf, size_t len, const char *needle)
{
  return buf && memmem (buf, len, needle, strlen (needle)) != NULL;
}

static void
gate (void)
{
  const struct conf_policy *p = load ("[sidecar]\npeers = ci\n[policy]\nenabled = yes\nmax_body = 4096\n");
  struct gate *g;
  const char *priv = "{\"HostConfig\":{\"Privileged\":true}}";
  char req[1024];

  /* An allowed request goes through byte for byte. */
  g = gate_new (p, "ci");
  feed (g, "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
  ok (out.up_len == strlen ("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n") && out.down_len == 0,
      "gate: a GET passes unchanged");
  gate_out_reset (&out);

  /* Pipelined: a create that is denied while the ping's answer is owed
   * waits for it, then comes in its place; the next request waits too. */
  snprintf (req, sizeof req, "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: %zu\r\n\r\n%sGET /version HTTP/1.1\r\nHost: d\r\n\r\n",
            strlen (priv), priv);
  feed (g, req);
  ok (out.up_len == 0 && out.down_len == 0, "gate: a refusal waits for the answer still owed");
  gate_from_dockerd (g, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", strlen ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"), &out);
  ok (has (out.down, out.down_len, "HTTP/1.1 403 Forbidden") && has (out.down, out.down_len, "allow_privileged")
          && !out.close,
      "gate: then the 403 names the rule, and the connection stays");
  ok (has (out.up, out.up_len, "GET /version"), "gate: the request behind the refusal is forwarded after it");
  gate_out_reset (&out);
  gate_free (g);

  /* A chunked body split into single bytes. */
  g = gate_new (p, "ci");
  snprintf (req, sizeof req, "POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
            strlen (priv), priv);
  for (const char *c = req; *c; c++)
    gate_from_client (g, c, 1, &out);
  ok (out.up_len == 0 && has (out.down, out.down_len, "403"), "gate: a chunked body fed byte by byte is checked");
  gate_out_reset (&out);
  snprintf (req, sizeof req, "POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"Im\r\n9\r\nage\":\"b\"}\r\n0\r\n\r\n");
  feed (g, req);
  ok (out.up_len == strlen (req) && memcmp (out.up, req, out.up_len) == 0, "gate: an allowed chunked create is forwarded as sent");
  gate_out_reset (&out);
  gate_free (g);

  /* Over max_body: 400 and the end. */
  g = gate_new (p, "ci");
  feed (g, "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 100000\r\n\r\n{");
  ok (out.up_len == 0 && has (out.down, out.down_len, "400 Bad Request") && has (out.down, out.down_len, "max_body")
          && out.close,
      "gate: a body over max_body is a 400 that closes");
  gate_out_reset (&out);
  gate_free (g);
  g = gate_new (p, "ci");
  {
    char big[6000];
    memset (big, ' ', sizeof big);
    big[sizeof big - 1] = '\0';
    feed (g, "POST /containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n1770\r\n");
    feed (g, big);
  }
  ok (out.up_len == 0 && has (out.down, out.down_len, "max_body") && out.close, "gate: so is a chunked one");
  gate_out_reset (&out);
  gate_free (g);

  /* Not HTTP. */
  g = gate_new (p, "ci");
  feed (g, "\x16\x03\x01 garbage\r\n\r\n");
  ok (out.up_len == 0 && has (out.down, out.down_len, "malformed HTTP") && out.close, "gate: bytes that are not HTTP are a 400 that closes");
  gate_out_reset (&out);
  gate_free (g);

  /* Malformed JSON: 400, the connection stays. */
  g = gate_new (p, "ci");
  feed (g, "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\n{\"a\":");
  ok (out.up_len == 0 && has (out.down, out.down_len, "not valid JSON") && !out.close, "gate: malformed JSON is a 400");
  gate_out_reset (&out);
  gate_free (g);

  /* An upgrade (docker attach): after it, raw bytes both ways. */
  g = gate_new (p, "ci");
  feed (g, "POST /v1.41/containers/x/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
  ok (out.up_len > 0, "gate: an attach request passes");
  gate_out_reset (&out);
  feed (g, "POST /containers/create HTTP/1.1\r\n\r\n{\"HostConfig\":{\"Privileged\":true}}");
  ok (has (out.up, out.up_len, "Privileged") && out.down_len == 0, "gate: after the upgrade, stdin is not HTTP and passes raw");
  gate_out_reset (&out);
  gate_from_dockerd (g, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw", strlen ("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw"), &out);
  ok (gate_tunnel (g), "gate: after the 101 the connection is a tunnel");
  gate_out_reset (&out);
  gate_free (g);

  /* exec start with a body, then the hijacked stream. */
  g = gate_new (p, "ci");
  feed (g, "POST /exec/abc/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"Detach\":false}");
  ok (has (out.up, out.up_len, "{\"Detach\":false}"), "gate: exec start with its body passes");
  gate_out_reset (&out);
  feed (g, "echo x\n");
  ok (out.up_len == 7, "gate: then stdin passes raw");
  gate_out_reset (&out);
  gate_free (g);

  /* HEAD answers have no body: counting must not wait for one. */
  g = gate_new (p, "ci");
  feed (g, "HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  snprintf (req, sizeof req, "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: %zu\r\n\r\n%s", strlen (priv), priv);
  feed (g, req);
  gate_out_reset (&out);
  gate_from_dockerd (g, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", strlen ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"), &out);
  ok (has (out.down, out.down_len, "403"), "gate: a HEAD answer (no body) completes");
  gate_out_reset (&out);
  gate_free (g);
}

int
main (void)
{
  char d[300];
  if (mkdtemp (tmp) == NULL)
    return 1;
  snprintf (d, sizeof d, "%s/ok", tmp);
  mkdir (d, 0755);
  rules ();
  gate ();
  gate_out_free (&out);
  conf_free (conf);
  snprintf (d, sizeof d, "rm -rf '%s'", tmp);
  if (system (d) != 0)
    diag ("could not remove %s", tmp);
  return done_testing ();
}
