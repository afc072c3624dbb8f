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
#include "sidecar-int.h"
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

  /* dockerd's decoding, not the clients' habits (issue 17). */
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"Privileged\":true}", &rule) == POLICY_DENY
          && strcmp (rule, "allow_privileged") == 0,
      "the create wrapper's deprecated top-level Privileged is checked");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"HostConfig\":null,\"Binds\":[\"/:/host\"]}", NULL) == POLICY_DENY,
      "top-level Binds with HostConfig null are checked");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"networkmode\":\"host\"}", NULL) == POLICY_DENY,
      "top-level NetworkMode (any case) is checked");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"HostConfig\":{\"FutureField\":1}}", NULL) == POLICY_BAD,
      "a HostConfig member rdind does not model is refused (400)");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"Surprise\":1}", NULL) == POLICY_BAD,
      "a top-level member rdind does not model is refused (400)");
  ok (check (p, "POST", CREATE,
             "{\"Image\":\"bb\",\"Cmd\":[\"true\"],\"Env\":[],\"Labels\":{},\"NetworkingConfig\":{},\"HostConfig\":"
             "{\"Binds\":null,\"LogConfig\":{},\"RestartPolicy\":{},\"Memory\":0,\"PidsLimit\":null,\"Init\":null}}",
             NULL)
          == POLICY_ALLOW,
      "the members the CLI sends pass");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"HostConfig\":{\"MaskedPaths\":[],\"ReadonlyPaths\":[]}}", &rule)
          == POLICY_DENY
          && strcmp (rule, "allow_privileged") == 0,
      "systempaths=unconfined (empty MaskedPaths/ReadonlyPaths) is denied");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"HostConfig\":{\"SecurityOpt\":[\"seccomp={\\\"defaultAction\\\":\\\"SCMP_ACT_ALLOW\\\"}\"]}}",
             NULL)
          == POLICY_DENY,
      "a seccomp profile given as JSON is denied");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"HostConfig\":{\"SecurityOpt\":[\"disable\"]}}", NULL) == POLICY_DENY,
      "a bare 'disable' (label=disable) is denied");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"HostConfig\":{\"SecurityOpt\":[\"apparmor:unconfined\"]}}", NULL)
          == POLICY_DENY,
      "the old KEY:VALUE form is read too");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"NetworkingConfig\":{\"EndpointsConfig\":{\"host\":{}}}}", &rule)
          == POLICY_DENY,
      "a single endpoint named host (dockerd 25+ takes it as the network mode) is denied");
  ok (check (p, "POST", CREATE, "{\"Image\":\"bb\",\"HostConfig\":{\"Annotations\":{\"org.systemd.property.x\":\"1\"}}}",
             NULL)
          == POLICY_DENY,
      "HostConfig.Annotations (read by the OCI runtime) are denied");
  ok (check (p, "POST", "/containers/lnk/al/exec", "{\"Cmd\":[\"sh\"],\"Privileged\":true}", NULL) == POLICY_DENY,
      "exec create on a link alias name (/containers/{name:.*}/exec) is checked");
  ok (check (p, "POST", "/containers/lnk%2Fal/exec", "{\"Cmd\":[\"sh\"],\"privileged\":true}", NULL) == POLICY_DENY,
      "and with the slash escaped");
  ok (check (p, "POST", "/v./containers/x/exec", "{\"Privileged\":true}", NULL) == POLICY_DENY,
      "a /v./ prefix routes as dockerd routes it ([0-9.]+)");
  ok (check (p, "POST", "/containers/a/b/update", "{\"Devices\":[{\"PathOnHost\":\"/dev/sda\"}]}", NULL)
          == POLICY_DENY,
      "update on a name with a slash is checked");
  ok (check (p, "POST", "/containers/x/exec", "{\"Cmd\":[\"sh\"],\"Detach\":false,\"ConsoleSize\":[1,2]}", NULL)
          == POLICY_ALLOW,
      "an ordinary exec passes");
  ok (check (p, "POST", "/v1.23/containers/x/start", "{\"Privileged\":true,\"Binds\":[\"/:/h\"]}", NULL) == POLICY_BAD,
      "a start with a HostConfig body (API < 1.24) is refused");
  ok (check (p, "POST", "/v1.23/containers/x/start", "{}", NULL) == POLICY_ALLOW, "a start with {} passes");
  ok (check (p, "POST", "/build?t=x&networkmode=host", NULL, &rule) == POLICY_DENY
          && strcmp (rule, "allow_host_namespaces") == 0,
      "docker build --network host is denied");
  ok (check (p, "POST", "/build?t=x&networkmode=container%3Aabc", NULL, NULL) == POLICY_DENY,
      "docker build --network container:x is denied");
  ok (check (p, "POST", "/build?t=x&networkmode=default&buildargs=%7B%7D&version=2&session=s", NULL, NULL)
          == POLICY_ALLOW,
      "an ordinary build passes");
  ok (check (p, "POST", "/build?t=x&frobnicate=1", NULL, NULL) == POLICY_BAD, "an unknown /build parameter is refused");
  {
    char b[600], prot[300];
    char *pp[] = { prot, NULL };
    snprintf (prot, sizeof prot, "%s/ok/state", tmp);
    policy_set_protected (pp);
    snprintf (b, sizeof b, "{\"Image\":\"bb\",\"HostConfig\":{\"Binds\":[\"%s/ok:/x\"]}}", tmp);
    ok (check (p, "POST", CREATE, b, &rule) == POLICY_DENY, "a bind of a parent of a protected path is denied");
    snprintf (b, sizeof b, "{\"Image\":\"bb\",\"HostConfig\":{\"Binds\":[\"%s/ok/state/docker.sock:/s\"]}}", tmp);
    ok (check (p, "POST", CREATE, b, &rule) == POLICY_DENY, "so is a path below it");
    snprintf (b, sizeof b, "{\"Image\":\"bb\",\"HostConfig\":{\"Binds\":[\"%s/ok/other:/x\"]}}", tmp);
    ok (check (p, "POST", CREATE, b, NULL) == POLICY_ALLOW, "a sibling of it passes");
    policy_set_protected (NULL);
  }

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

  /* An upgrade (docker attach): the bytes after it wait for dockerd's
   * answer, and pass raw once it switched. */
  g = gate_new (p, "ci");
  feed (g, "POST /v1.41/containers/x/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
  ok (out.up_len > 0, "gate: an attach request passes");
  gate_out_reset (&out);
  ok (!gate_wants_client (g), "gate: then the client is not read until dockerd answers");
  feed (g, "POST /containers/create HTTP/1.1\r\n\r\n{\"HostConfig\":{\"Privileged\":true}}");
  ok (out.up_len == 0 && out.down_len == 0, "gate: bytes sent before the answer are held");
  gate_from_dockerd (g, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw", strlen ("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw"), &out);
  ok (gate_tunnel (g) && has (out.up, out.up_len, "Privileged") && has (out.down, out.down_len, "raw"),
      "gate: after the 101 they pass raw, and so do dockerd's");
  gate_out_reset (&out);
  gate_free (g);

  /* Upgrade headers dockerd does not act on: no tunnel (issue 17, 1). */
  {
    static const char *const preludes[] = {
      "GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
      "CONNECT / HTTP/1.1\r\nHost: d\r\n\r\n",
      "POST /session HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n",
      "GET /containers/x/attach/ws HTTP/1.1\r\nHost: d\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof preludes / sizeof *preludes; i++)
      {
        g = gate_new (p, "ci");
        feed (g, preludes[i]);
        snprintf (req, sizeof req, "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: %zu\r\n\r\n%s",
                  strlen (priv), priv);
        feed (g, req);
        ok (!has (out.up, out.up_len, "Privileged"), "gate: prelude %zu: the create waits", i);
        gate_out_reset (&out);
        gate_from_dockerd (g, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}", strlen ("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"), &out);
        ok (!gate_tunnel (g) && !has (out.up, out.up_len, "Privileged") && has (out.down, out.down_len, "403 Forbidden"),
            "gate: prelude %zu answered without a switch: the create after it is parsed and refused", i);
        gate_out_reset (&out);
        gate_free (g);
      }
  }

  /* exec start: dockerd's record of the exec and its container first. */
  g = gate_new (p, "ci");
  feed (g, "POST /exec/abc/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"Detach\":false}");
  ok (out.up_len == 0 && out.lookup[GATE_CHECK_PRE] && strcmp (out.lookup[GATE_CHECK_PRE], "/exec/abc/json") == 0,
      "gate: exec start is held while the exec is inspected");
  gate_out_reset (&out);
  {
    const char *x = "{\"ID\":\"abc\",\"ProcessConfig\":{\"privileged\":false},\"ContainerID\":\"c1\"}";
    gate_lookup_done (g, GATE_CHECK_PRE, 200, x, strlen (x), &out);
  }
  ok (out.lookup[GATE_CHECK_PRE] && strcmp (out.lookup[GATE_CHECK_PRE], "/containers/c1/json") == 0,
      "gate: then its container");
  gate_out_reset (&out);
  {
    const char *c = "{\"Id\":\"c1\",\"HostConfig\":{\"Privileged\":false,\"MaskedPaths\":null},\"Mounts\":[]}";
    gate_lookup_done (g, GATE_CHECK_PRE, 200, c, strlen (c), &out);
  }
  ok (has (out.up, out.up_len, "{\"Detach\":false}"), "gate: exec start with its body passes once both pass");
  gate_out_reset (&out);
  feed (g, "echo x\n");
  ok (out.up_len == 0, "gate: stdin waits for the switch");
  gate_from_dockerd (g, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nout", strlen ("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nout"), &out);
  ok (gate_tunnel (g) && out.up_len == 7, "gate: a hijacked 200 stream is a switch: stdin passes raw");
  gate_out_reset (&out);
  gate_free (g);

  /* A privileged exec made through a hole is not started. */
  g = gate_new (p, "ci");
  feed (g, "POST /exec/abc/start HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\n{}");
  gate_out_reset (&out);
  {
    const char *x = "{\"ID\":\"abc\",\"ProcessConfig\":{\"privileged\":true},\"ContainerID\":\"c1\"}";
    gate_lookup_done (g, GATE_CHECK_PRE, 200, x, strlen (x), &out);
  }
  ok (out.up_len == 0 && has (out.down, out.down_len, "403") && has (out.down, out.down_len, "allow_privileged"),
      "gate: a privileged exec (as dockerd recorded it) is refused at start");
  gate_out_reset (&out);
  gate_free (g);

  /* A start goes to the full id that was checked; an unknown name gets
   * dockerd's own 404. */
  g = gate_new (p, "ci");
  feed (g, "POST /v1.41/containers/lnk/al/start?x=1 HTTP/1.1\r\nHost: d\r\n\r\n");
  ok (out.lookup[GATE_CHECK_PRE] && strcmp (out.lookup[GATE_CHECK_PRE], "/containers/lnk/al/json") == 0,
      "gate: start inspects the container by the name given");
  gate_out_reset (&out);
  {
    const char *c = "{\"Id\":\"0123abcd\",\"HostConfig\":{\"Privileged\":false},\"Mounts\":[{\"Type\":\"volume\",\"Name\":\"v1\",\"Driver\":\"local\"}]}";
    gate_lookup_done (g, GATE_CHECK_PRE, 200, c, strlen (c), &out);
  }
  ok (out.lookup[GATE_CHECK_PRE] && strcmp (out.lookup[GATE_CHECK_PRE], "/volumes/v1") == 0,
      "gate: a volume it mounts is inspected");
  gate_out_reset (&out);
  gate_lookup_done (g, GATE_CHECK_PRE, 200, "{\"Options\":null}", 16, &out);
  ok (has (out.up, out.up_len, "POST /v1.41/containers/0123abcd/start?x=1 HTTP/1.1\r\n"),
      "gate: the start is sent to the full id");
  gate_out_reset (&out);
  feed (g, "POST /containers/nope/start HTTP/1.1\r\nHost: d\r\n\r\n");
  gate_out_reset (&out);
  gate_from_dockerd (g, "HTTP/1.1 204 No Content\r\n\r\n", strlen ("HTTP/1.1 204 No Content\r\n\r\n"), &out);
  gate_out_reset (&out);
  gate_lookup_done (g, GATE_CHECK_PRE, 404, "{\"message\":\"No such container: nope\"}", 37, &out);
  ok (has (out.down, out.down_len, "404 Not Found") && has (out.down, out.down_len, "No such container: nope"),
      "gate: an unknown name gets dockerd's own 404");
  gate_out_reset (&out);
  gate_free (g);

  /* create: the 201 is held until dockerd's record passes; a container
   * that fails is removed and the client gets the 403. */
  g = gate_new (p, "ci");
  feed (g, "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 14\r\n\r\n{\"Image\":\"bb\"}");
  ok (has (out.up, out.up_len, "create"), "gate: an allowed create is forwarded");
  gate_out_reset (&out);
  gate_from_dockerd (g, "HTTP/1.1 201 Created\r\nContent-Length: 15\r\n\r\n{\"Id\":\"0abc1\"}\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                     strlen ("HTTP/1.1 201 Created\r\nContent-Length: 15\r\n\r\n{\"Id\":\"0abc1\"}\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), &out);
  ok (out.down_len == 0 && out.lookup[GATE_CHECK_POST] && strcmp (out.lookup[GATE_CHECK_POST], "/containers/0abc1/json") == 0
          && !gate_wants_dockerd (g),
      "gate: the 201 is held while the container is inspected");
  gate_out_reset (&out);
  {
    const char *c = "{\"Id\":\"0abc1\",\"HostConfig\":{\"Privileged\":true},\"Mounts\":[]}";
    gate_lookup_done (g, GATE_CHECK_POST, 200, c, strlen (c), &out);
  }
  ok (out.lookup[GATE_CHECK_POST] && strcmp (out.lookup[GATE_CHECK_POST], "/containers/0abc1?force=1&v=1") == 0
          && strcmp (out.lookup_method[GATE_CHECK_POST], "DELETE") == 0,
      "gate: a container that fails as recorded is removed");
  gate_out_reset (&out);
  gate_lookup_done (g, GATE_CHECK_POST, 204, "", 0, &out);
  ok (has (out.down, out.down_len, "403 Forbidden") && !has (out.down, out.down_len, "201 Created")
          && has (out.down, out.down_len, "200 OK") && gate_wants_dockerd (g),
      "gate: then the 403 takes the 201's place, and the answers behind it follow");
  gate_out_reset (&out);
  gate_free (g);

  /* Connection: close on a refused request closes (issue 17, 8). */
  g = gate_new (p, "ci");
  snprintf (req, sizeof req, "POST /containers/create HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
            strlen (priv), priv);
  feed (g, req);
  ok (has (out.down, out.down_len, "403") && has (out.down, out.down_len, "Connection: close") && out.close,
      "gate: a refusal honours the request's Connection: close");
  gate_out_reset (&out);
  gate_free (g);

  ok (gate_held_bytes () == 0, "gate: every held byte is given back");

  /* The whole-answer reader of the effect checks' lookups. */
  {
    char *b = NULL;
    size_t bl = 0;
    const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
    ok (sidecar_http_answer (chunked, strlen (chunked), true, &b, &bl) == 200 && bl == 7 && strcmp (b, "{\"a\":1}") == 0,
        "answer reader: a chunked body is joined");
    free (b);
    const char *toeof = "HTTP/1.1 404 Not Found\r\n\r\n{\"message\":\"x\"}";
    ok (sidecar_http_answer (toeof, strlen (toeof), true, &b, &bl) == 404 && b && strstr (b, "message"),
        "answer reader: a body read to the end of the connection");
    free (b);
    ok (sidecar_http_answer ("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", 40, false, &b, &bl) == 0 && b == NULL,
        "answer reader: a short answer is no answer");
  }

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
