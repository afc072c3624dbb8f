/* Unit tests for conf/: every error path, precedence, defaults. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "tap.h"
#include "util.h"

extern char **environ;

static char tmpl[] = "/tmp/rdind-test-conf.XXXXXX";
static char *dir;

static char *
write_ini (const char *content)
{
  static int n;
  char *path;
  rdind_error_t err = NULL;
  xasprintf (&path, "%s/c%d.ini", dir, n++);
  if (write_file_atomic (path, content, strlen (content), 0644, &err) < 0)
    abort ();
  return path;
}

/* Loads CONTENT; returns the error message (caller frees) or NULL on success. */
static char *
load_err (const char *content, char **env)
{
  cleanup_free char *path = write_ini (content);
  struct rdind_conf *c = NULL;
  rdind_error_t err = NULL;
  char *msg = NULL;
  if (conf_load_file (path, &c, &err) < 0 || conf_apply_env (c, env, &err) < 0)
    {
      msg = xstrdup (err->msg);
      rdind_error_release (&err);
    }
  conf_free (c);
  return msg;
}

static void
expect_err (const char *content, char **env, const char *needle, const char *what)
{
  cleanup_free char *m = load_err (content, env);
  ok (m != NULL && strstr (m, needle) != NULL, "%s -> error mentioning '%s'", what, needle);
  if (m && !strstr (m, needle))
    diag ("got: %s", m);
  if (m == NULL)
    diag ("got: success");
}

static void
expect_ok (const char *content, char **env, const char *what)
{
  cleanup_free char *m = load_err (content, env);
  ok (m == NULL, "%s -> accepted", what);
  if (m)
    diag ("got: %s", m);
}

/* conf_print's output as a string (free it). */
static char *
printed (const struct rdind_conf *c)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&buf, &len);
  conf_print (c, f);
  fclose (f);
  return buf;
}

int
main (void)
{
  struct rdind_conf *c = NULL;
  rdind_error_t err = NULL;
  uint64_t d;
  char *noenv[] = { NULL };

  dir = mkdtemp (tmpl);

  /* defaults */
  ok (conf_load_file (NULL, &c, &err) == 0, "defaults load with no file");
  ok (strcmp (c->listen, conf_default_listen (conf_in_container ())) == 0,
      "default listen follows where we run");
  ok (strcmp (conf_default_listen (false), "127.0.0.1:2376") == 0,
      "outside a container the default listen is loopback only");
  ok (strcmp (conf_default_listen (true), "0.0.0.0:2376") == 0,
      "in a container the default listen is every interface");
  ok (strv_len (c->peers) == 1 && strcmp (c->peers[0], "client") == 0, "default peer 'client'");
  ok (strcmp (c->user, "rootless") == 0, "default user rootless");
  ok (c->stop_timeout == 15, "default stop_timeout 15s");
  ok (c->lifetime == 86400 && c->ca_lifetime == 30 * 86400, "default lifetimes 24h / 30d");
  ok (c->key_type == CONF_KEY_ECDSA_P256, "default key type ecdsa-p256");
  ok (c->mtu == 65520 && strcmp (c->net, "slirp4netns") == 0, "default net slirp4netns mtu 65520");
  ok (c->restart == CONF_RESTART_ON_FAILURE, "default restart on-failure");
  ok (conf_source_file (c) == NULL, "no source file for defaults");
  conf_free (c);
  c = NULL;

  /* durations */
  ok (conf_parse_duration ("24h", &d, NULL) == 0 && d == 86400, "24h");
  ok (conf_parse_duration ("90m", &d, NULL) == 0 && d == 5400, "90m");
  ok (conf_parse_duration ("7d", &d, NULL) == 0 && d == 604800, "7d");
  ok (conf_parse_duration ("1h30m", &d, NULL) == 0 && d == 5400, "1h30m");
  ok (conf_parse_duration ("12", &d, NULL) < 0, "a bare number is rejected (unit needed)");
  ok (conf_parse_duration ("3x", &d, NULL) < 0, "3x rejected");
  ok (conf_parse_duration ("-1h", &d, NULL) < 0, "-1h rejected");
  ok (conf_parse_duration ("", &d, NULL) < 0, "empty rejected");
  ok (conf_parse_duration ("99999999999999999999d", &d, NULL) < 0, "overflow rejected");

  /* names */
  ok (conf_valid_name ("ci-job_1.x"), "valid peer name");
  ok (!conf_valid_name ("a b") && !conf_valid_name ("a/b") && !conf_valid_name ("") && !conf_valid_name (".."),
      "invalid peer names");

  /* file errors */
  expect_err ("[tls]\nfoo = 1\n", noenv, ":2: unknown key 'foo' in [tls] (known keys: certdir,", "unknown key");
  expect_err ("[nope]\nx = 1\n", noenv, ":2: unknown section [nope]", "unknown section");
  /* [cache] */
  expect_ok ("[cache]\ndir = /var/cache/rdind\nslots = 8\nmax_size = 20G\ndrop_tags = yes\n"
             "registry_mirror = http://198.18.0.2:5000\ninsecure_registries = 198.18.0.2:5000, 10.0.0.0/8\n",
             noenv, "a full [cache] section");
  {
    cleanup_free char *path = write_ini ("[cache]\nmax_size = 20G\n[policy]\nmax_body = 64K\n");
    struct rdind_conf *cc = NULL;
    ok (conf_load_file (path, &cc, &err) == 0 && cc->cache_max_size == 20ull << 30 && cc->policy.max_body == 65536,
        "sizes take K/M/G/T (20G, 64K)");
    conf_free (cc);
  }
  expect_err ("[cache]\nmax_size = 20X\n", noenv, "a size may end in K, M, G or T", "max_size with a bad suffix");
  expect_err ("[cache]\nslots = 0\n", noenv, "out of range", "slots = 0");
  expect_err ("[cache]\nregistry_mirror = ftp://x\n", noenv, "not an http:// or https:// URL", "a mirror that is no URL");
  expect_err ("[cache]\ninsecure_registries = http://x:5000\n", noenv, "no scheme", "an insecure registry with a scheme");
  expect_err ("[cache]\ndir = /c\n[launcher]\ndata_root = /d\n", noenv, "remove data_root",
              "data_root with a cache dir");
  expect_ok ("[cache]\ndir = /c\n[launcher]\ndata_root = /c/slot-3\n", noenv,
             "data_root that is a slot of the cache (the launcher's copy)");

  expect_err ("[launcher]\nnet = pasta\nport_driver = slirp4netns\n", noenv,
              ":3: [launcher] port_driver = slirp4netns needs net = slirp4netns", "pasta with the slirp4netns port driver");
  expect_err ("[launcher]\nnet = pasta\n", (char *[]){ "RDIND_LAUNCHER_PORT_DRIVER=slirp4netns", NULL },
              "env RDIND_LAUNCHER_PORT_DRIVER: [launcher] port_driver", "pasta, and the slirp4netns driver from the environment");
  expect_ok ("[launcher]\nnet = pasta\n", noenv, "net = pasta with the native driver");
  expect_err ("[launcher]\nnet = vde\n", noenv, "is not one of: slirp4netns,pasta", "an unknown net lists the choices");
  expect_err ("[tls]\nlifetime = 1h\nlifetime = 2h\n", noenv, ":3: duplicate key 'lifetime' in [tls] (first set on line 2)", "duplicate key");
  expect_err ("[sidecar]\nlisten = 0.0.0.0:99999\n", noenv, ":2: bad value for [sidecar] listen", "bad port");
  expect_err ("[sidecar]\nlisten = 0.0.0.0:0\n", noenv, "bad port", "port 0");
  expect_err ("[sidecar]\nlisten = docker:2376\n", noenv, "is not an IPv4 address", "listen not an address");
  expect_err ("[sidecar]\nlisten = 2376\n", noenv, "is not an address", "listen without host");
  expect_err ("[sidecar]\nlisten = [::1:2376\n", noenv, "is not an address", "broken IPv6 listen");
  expect_ok ("[sidecar]\nlisten = [::]:2376\n", noenv, "IPv6 listen");
  expect_err ("[tls]\nlifetime = 24\n", noenv, "is not a duration", "bad duration");
  expect_err ("[tls]\nlifetime = 1m\n", noenv, "out of range", "lifetime too short");
  expect_err ("[sidecar]\nallow_from = 10.0.0.0/33\n", noenv, "prefix length", "bad CIDR prefix");
  expect_err ("[sidecar]\nallow_from = 10.0.0.300/8\n", noenv, "not an IP address", "bad CIDR address");
  expect_err ("[sidecar]\nallow_from = 10.1.2.999\n", noenv, "not an IP address", "bad address");
  expect_ok ("[sidecar]\nallow_from = 10.0.0.0/8, ::1, runner.example\n", noenv, "CIDR, address, host name");
  expect_err ("[sidecar]\npeers = good, bad/name\n", noenv, "bad peer name 'bad/name'", "peer with slash");
  expect_err ("[sidecar]\npeers =\n", noenv, "at least one peer", "no peers");
  expect_err ("[sidecar]\npeers = a, a\n", noenv, "listed twice", "duplicate peer");
  expect_err ("[sidecar]\nrestart = sometimes\n", noenv, "not one of: on-failure,never,always", "bad enum");
  expect_err ("[tls]\nkey_type = dsa\n", noenv, "not one of", "bad key type");
  expect_err ("[tls]\ncertdir = certs\n", noenv, "not an absolute path", "relative certdir");
  expect_err ("[launcher]\nmtu = 100\n", noenv, "out of range", "mtu too small");
  expect_err ("[launcher]\ncidr = 10.0.2.0/30\n", noenv, "from /8 to /26", "cidr too small");
  expect_err ("[launcher]\ndockerd_args = --debug -H tcp://0.0.0.0:2375\n", noenv, "'-H' is not allowed", "dockerd -H refused");
  expect_err ("[launcher]\ndockerd_args = --tlsverify=false\n", noenv, "is not allowed", "dockerd --tls refused");
  expect_err ("[tls]\nlifetime = 20d\n", noenv, "at least twice", "leaf outliving the CA");
  expect_err ("listen = 1.2.3.4:5\n", noenv, "outside any section", "key outside section");
  expect_err ("[sidecar\n", noenv, ":1: syntax error", "syntax error");
  expect_err ("[sidecar]\nthis line has no equals sign\n", noenv, ":2: syntax error", "line without =");
  {
    char big[400];
    memset (big, 'a', sizeof (big));
    memcpy (big, "[sidecar]\nuser = ", 17);
    big[sizeof (big) - 2] = '\n';
    big[sizeof (big) - 1] = '\0';
    expect_err (big, noenv, "line too long", "overlong line");
  }
  {
    struct rdind_conf *c2 = NULL;
    ok (conf_load_file ("/nonexistent/rdind.ini", &c2, &err) < 0 && strstr (err->msg, "/nonexistent/rdind.ini"),
        "missing explicit file names the file");
    rdind_error_release (&err);
  }

  /* environment */
  {
    char *env1[] = { "RDIND_TLS_FOO=1", NULL };
    expect_err ("", env1, "environment variable RDIND_TLS_FOO: unknown setting in [tls]", "unknown env key");
    char *env2[] = { "RDIND_SIDECAR_LISTEN=nope", NULL };
    expect_err ("", env2, "environment variable RDIND_SIDECAR_LISTEN:", "bad env value names the variable");
    char *env3[] = { "DOCKER_TLS_CERTDIR=", NULL };
    expect_err ("", env3, "DOCKER_TLS_CERTDIR is empty", "empty DOCKER_TLS_CERTDIR refused");
    char *env4[] = { "RDIND_CONFIG=/x", "RDIND=/bin/rdind", "RDIND_DOCKER_PROXY=/x", "DOCKER_HOST=tcp://x:1", NULL };
    expect_ok ("", env4, "non-setting RDIND_* and DOCKER_HOST are ignored");
    char *env5[] = { "RDIND_SIDCAR_LISTEN=127.0.0.1:1", NULL };
    expect_err ("", env5, "environment variable RDIND_SIDCAR_LISTEN: no such section (sections: sidecar,",
                "a typo in the section names the variable");
    char *env6[] = { "RDIND_USERNS_FD=3", "RDIND_REAL_DOCKER_PROXY=/x", "RDIND_E2E_USER=u",
                     "RDIND_TEST_ENV=A=1", "RDIND_NO_ASAN=1", "RDIND_SKIP_DEPS=1", NULL };
    expect_ok ("", env6, "the RDIND_* variables of rdind's plumbing, tests and scripts are ignored");
  }

  /* precedence: env > DOCKER_TLS_CERTDIR > file > default */
  {
    cleanup_free char *path = write_ini ("[tls]\ncertdir = /from/file\nlifetime = 12h\n[sidecar]\npeers = a, b\n");
    char *env[] = { "DOCKER_TLS_CERTDIR=/from/docker", "RDIND_TLS_LIFETIME=2h", NULL };
    char *env_both[] = { "DOCKER_TLS_CERTDIR=/from/docker", "RDIND_TLS_CERTDIR=/from/rdind", NULL };
    c = NULL;
    ok (conf_load_file (path, &c, &err) == 0, "file loads");
    ok (strcmp (c->certdir, "/from/file") == 0 && c->lifetime == 43200, "file beats default");
    ok (strv_len (c->peers) == 2 && strcmp (c->peers[1], "b") == 0, "peer list parsed");
    ok (conf_apply_env (c, env, &err) == 0, "env applies");
    ok (strcmp (c->certdir, "/from/docker") == 0, "DOCKER_TLS_CERTDIR beats the file");
    ok (c->lifetime == 7200, "RDIND_TLS_LIFETIME beats the file");
    ok (conf_apply_env (c, env_both, &err) == 0 && strcmp (c->certdir, "/from/rdind") == 0,
        "RDIND_TLS_CERTDIR beats DOCKER_TLS_CERTDIR");
    {
      char *buf = printed (c);
      ok (strstr (buf, "certdir = /from/rdind") && strstr (buf, "; env RDIND_TLS_CERTDIR"),
          "config print shows the env origin");
      ok (strstr (buf, "peers = a, b") && strstr (buf, ".ini:5"), "config print shows FILE:LINE");
      ok (strstr (buf, "listen = ") && strstr (buf, conf_default_listen (conf_in_container ()))
              && strstr (buf, "; default"),
          "config print shows defaults");
      /* The printed configuration reads back. */
      {
        cleanup_free char *p2 = write_ini (buf);
        struct rdind_conf *c3 = NULL;
        ok (conf_load_file (p2, &c3, &err) == 0 && strcmp (c3->certdir, "/from/rdind") == 0,
            "printed configuration parses back");
        if (err)
          diag ("%s", err->msg), rdind_error_release (&err);
        conf_free (c3);
      }
      free (buf);
    }
    conf_free (c);
  }

  /* launcher.namespaces */
  expect_ok ("[launcher]\nnamespaces = pid, uts, ipc, cgroup\n", noenv, "all optional namespaces");
  expect_ok ("[launcher]\nnamespaces = pid\n", noenv, "pid alone");
  expect_err ("[launcher]\nnamespaces = uts,ipc\n", noenv, "'pid' is required", "namespaces without pid");
  expect_err ("[launcher]\nnamespaces = pid,net\n", noenv, "'net' is not one of: pid, uts, ipc, cgroup",
              "unknown namespace");
  expect_err ("[launcher]\nnamespaces = pid,uts,uts\n", noenv, "listed twice", "namespace twice");
  {
    c = NULL;
    conf_load_file (NULL, &c, &err);
    ok (c && strv_len (c->namespaces) == 3 && strv_contains (c->namespaces, "pid")
            && strv_contains (c->namespaces, "uts") && strv_contains (c->namespaces, "ipc"),
        "namespaces default to pid, uts, ipc");
    conf_free (c);
  }

  /* auto paths */
  {
    c = NULL;
    conf_load_file (NULL, &c, &err);
    setenv ("XDG_DATA_HOME", "/xdg/data", 1);
    setenv ("XDG_RUNTIME_DIR", "/run/user/1234", 1);
    conf_resolve_paths (c);
    ok (strcmp (c->data_root, "/xdg/data/rdind/docker") == 0, "data_root from XDG_DATA_HOME");
    ok (strcmp (c->state_dir, "/run/user/1234/rdind") == 0, "state_dir from XDG_RUNTIME_DIR");
    ok (c->certdir[0] == '/', "certdir resolved to an absolute path");
    conf_free (c);
  }

  /* diff and copy (what a SIGHUP reload compares and keeps) */
  {
    struct rdind_conf *a = NULL, *b = NULL;
    cleanup_free char *pa = write_ini ("[sidecar]\npeers = a, b\nmax_connections = 10\nhandshake_timeout = 1m\n"
                                       "restart = never\n[tls]\nkey_type = rsa2048\n");
    cleanup_free char *pb = write_ini ("[sidecar]\npeers=a,b\nmax_connections = 10\nhandshake_timeout = 60s\n"
                                       "restart = never\n[tls]\nkey_type = rsa2048\n");
    conf_load_file (pa, &a, &err);
    conf_load_file (pb, &b, &err);
    {
      cleanup_strv char **d = conf_diff (a, b);
      ok (d != NULL && strv_len (d) == 0, "diff: same values written differently are equal");
    }
    conf_free (b);
    b = NULL;
    cleanup_free char *pc = write_ini ("[sidecar]\npeers = b, a\nlisten = 127.0.0.1:1\nmax_connections = 11\n"
                                       "restart = always\nlog_level = debug\n[tls]\nkey_type = rsa3072\n"
                                       "server_names = x.example\n[launcher]\nmtu = 1500\n");
    conf_load_file (pc, &b, &err);
    {
      cleanup_strv char **d = conf_diff (a, b);
      cleanup_free char *j = strv_join (d, ",");
      ok (strcmp (j, "sidecar.listen,sidecar.peers,sidecar.restart,sidecar.handshake_timeout,"
                     "sidecar.max_connections,sidecar.log_level,tls.key_type,tls.server_names,launcher.mtu")
              == 0,
          "diff: lists, numbers, durations, enums and strings, in table order");
      if (strcmp (j, "sidecar.listen,sidecar.peers,sidecar.restart,sidecar.handshake_timeout,"
                     "sidecar.max_connections,sidecar.log_level,tls.key_type,tls.server_names,launcher.mtu"))
        diag ("got: %s", j);
    }
    ok (conf_copy_key (b, a, "sidecar.listen") == 0 && conf_copy_key (b, a, "sidecar.peers") == 0
            && conf_copy_key (b, a, "tls.key_type") == 0 && conf_copy_key (b, a, "sidecar.max_connections") == 0,
        "copy_key: known keys");
    ok (strcmp (b->listen, a->listen) == 0 && strv_len (b->peers) == 2 && strcmp (b->peers[0], "a") == 0
            && b->key_type == CONF_KEY_RSA2048 && b->max_connections == 10,
        "copy_key: values copied");
    ok (conf_copy_key (b, a, "sidecar.nope") < 0 && conf_copy_key (b, a, "listen") < 0,
        "copy_key: unknown key refused");
    {
      char *buf = printed (b);
      ok (strstr (buf, "peers = a, b") != NULL, "copy_key: the printed configuration shows the kept value");
      free (buf);
    }
    {
      cleanup_strv char **d = conf_diff (a, b);
      cleanup_free char *j = strv_join (d, ",");
      ok (strstr (j, "listen") == NULL && strstr (j, "peers") == NULL && strstr (j, "key_type") == NULL
              && strstr (j, "launcher.mtu") != NULL,
          "diff after copy_key: only the keys not copied remain");
    }
    conf_free (a);
    conf_free (b);
  }

  /* reload: same file, environment on top, auto paths kept */
  {
    struct rdind_conf *cur = NULL, *n = NULL;
    cleanup_free char *p = write_ini ("[sidecar]\npeers = one\nmax_connections = 5\n");
    unsetenv ("RDIND_SIDECAR_MAX_CONNECTIONS");
    setenv ("XDG_DATA_HOME", "/before/data", 1);
    ok (conf_load_file (p, &cur, &err) == 0 && conf_apply_env (cur, environ, &err) == 0, "reload: first load");
    conf_resolve_paths (cur);
    setenv ("XDG_DATA_HOME", "/after/data", 1);
    setenv ("RDIND_SIDECAR_MAX_CONNECTIONS", "7", 1);
    {
      const char *edited = "[sidecar]\npeers = one, two\nmax_connections = 9\n[launcher]\nstate_dir = /st\n";
      if (write_file_atomic (p, edited, strlen (edited), 0644, &err) < 0)
        abort ();
    }
    ok (conf_reload (cur, &n, &err) == 0, "reload: the edited file loads");
    if (err)
      diag ("%s", err->msg), rdind_error_release (&err);
    if (n)
      {
        ok (strcmp (conf_source_file (n), p) == 0, "reload: same source file");
        ok (strv_len (n->peers) == 2 && strcmp (n->peers[1], "two") == 0, "reload: file change seen");
        ok (n->max_connections == 7, "reload: environment still beats the file");
        ok (strcmp (n->data_root, "/before/data/rdind/docker") == 0,
            "reload: an auto path keeps the directory resolved at start");
        ok (strcmp (n->state_dir, "/st") == 0, "reload: an explicit path replaces an auto one");
        ok (strcmp (n->certdir, cur->certdir) == 0, "reload: auto certdir unchanged");
        cleanup_strv char **d = conf_diff (cur, n);
        cleanup_free char *j = strv_join (d, ",");
        ok (strcmp (j, "sidecar.peers,sidecar.max_connections,launcher.state_dir") == 0,
            "reload: diff names exactly the changed keys");
        if (strcmp (j, "sidecar.peers,sidecar.max_connections,launcher.state_dir"))
          diag ("got: %s", j);
        conf_free (n);
        n = NULL;
      }
    {
      const char *broken = "[sidecar]\npeers = one\nthis is not ini\n";
      if (write_file_atomic (p, broken, strlen (broken), 0644, &err) < 0)
        abort ();
    }
    cleanup_free char *want = NULL;
    xasprintf (&want, "%s:3: syntax error", p);
    ok (conf_reload (cur, &n, &err) < 0 && n == NULL && strstr (err->msg, want) != NULL,
        "reload: a broken file is refused with FILE:LINE");
    rdind_error_release (&err);
    unsetenv ("RDIND_SIDECAR_MAX_CONNECTIONS");
    conf_free (cur);
    cur = NULL;
    ok (conf_load_file (NULL, &cur, &err) == 0 && conf_reload (cur, &n, &err) == 0 && conf_source_file (n) == NULL
            && strcmp (n->listen, conf_default_listen (conf_in_container ())) == 0,
        "reload: no file stays no file");
    conf_free (cur);
    conf_free (n);
  }

  {
    cleanup_free char *cmd = NULL;
    xasprintf (&cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
      diag ("cleanup failed");
  }
  return done_testing ();
}
