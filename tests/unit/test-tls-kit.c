/* Unit tests for rotkit's library: X.509 profile, parsing, time parsing,
 * layout creation, reuse, renewal, rollover and refusal of bad input. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "kit-internal.h"
#include "log.h"
#include "tap.h"
#include "util.h"

static char tmpl[] = "/tmp/test-tls-kit.XXXXXX";

static char *
p2 (const char *a, const char *b)
{
  char *s;
  xasprintf (&s, "%s/%s", a, b);
  return s;
}

static X509 *
load (const char *dir, const char *rel)
{
  cleanup_free char *p = p2 (dir, rel);
  cleanup_free char *pem = NULL;
  size_t len;
  rdind_error_t e = NULL;
  X509 *x;
  if (read_file (p, &pem, &len, &e) < 0)
    {
      rdind_error_release (&e);
      return NULL;
    }
  x = kit_parse_cert (pem, len, p, &e);
  rdind_error_release (&e);
  return x;
}

static char *
fp (const char *dir, const char *rel)
{
  cleanup_x509 X509 *x = load (dir, rel);
  return x ? kit_cert_fingerprint (x) : xstrdup ("none");
}

static int
mode_of (const char *dir, const char *rel)
{
  cleanup_free char *p = p2 (dir, rel);
  struct stat st;
  return stat (p, &st) < 0 ? -1 : (int)(st.st_mode & 07777);
}

static int
count_certs (const char *dir, const char *rel)
{
  cleanup_free char *p = p2 (dir, rel);
  cleanup_free char *pem = NULL;
  size_t len;
  rdind_error_t e = NULL;
  STACK_OF (X509) * sk;
  int n;
  if (read_file (p, &pem, &len, &e) < 0)
    {
      rdind_error_release (&e);
      return -1;
    }
  sk = kit_parse_bundle (pem, len, p, &e);
  rdind_error_release (&e);
  n = sk ? sk_X509_num (sk) : 0;
  sk_X509_pop_free (sk, X509_free);
  return n;
}

static void
test_profile (void)
{
  rdind_error_t err = NULL;
  time_t now = 1790000000;
  struct kit_profile cap
      = { .role = KIT_ROLE_CA, .cn = "test CA", .now = now, .lifetime = 30 * 86400 };
  char *dns[] = { "docker", "localhost", NULL };
  char *ips[] = { "127.0.0.1", "::1", NULL };
  struct kit_profile sp = { .role = KIT_ROLE_SERVER,
                            .cn = "srv",
                            .dns = dns,
                            .ips = ips,
                            .now = now,
                            .lifetime = 86400,
                            .max_not_after = now + 3600 };
  cleanup_pkey EVP_PKEY *cak = kit_key_new (CONF_KEY_ECDSA_P256, &err);
  cleanup_pkey EVP_PKEY *sk = kit_key_new (CONF_KEY_ECDSA_P256, &err);
  cleanup_pkey EVP_PKEY *rk = kit_key_new (CONF_KEY_RSA2048, &err);
  cleanup_x509 X509 *ca = NULL, *srv = NULL, *rsa = NULL;
  char *want_dns[] = { "localhost", "docker", NULL };
  char *want_ips[] = { "::1", "127.0.0.1", NULL };
  char *short_ips[] = { "127.0.0.1", NULL };

  ok (cak && sk && rk, "keys generated");
  ok (kit_key_is_type (cak, CONF_KEY_ECDSA_P256) && !kit_key_is_type (cak, CONF_KEY_RSA2048),
      "ecdsa key type");
  ok (kit_key_is_type (rk, CONF_KEY_RSA2048), "rsa2048 key type: %s", kit_key_describe (rk));
  ca = kit_cert_issue (&cap, cak, NULL, NULL, &err);
  ok (ca != NULL, "CA issued");
  ok (kit_cert_has_role (ca, KIT_ROLE_CA) && !kit_cert_has_role (ca, KIT_ROLE_SERVER), "CA role");
  {
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i (ca, NID_basic_constraints, NULL, NULL);
    int crit = X509_EXTENSION_get_critical (
        X509_get_ext (ca, X509_get_ext_by_NID (ca, NID_basic_constraints, -1)));
    ok (bc && bc->ca && bc->pathlen && ASN1_INTEGER_get (bc->pathlen) == 0 && crit,
        "CA:TRUE pathlen:0 critical");
    BASIC_CONSTRAINTS_free (bc);
  }
  ok (X509_get0_subject_key_id (ca) != NULL, "CA has SKI");
  ok (kit_cert_not_before (ca) == now - KIT_BACKDATE, "notBefore backdated");
  ok (kit_cert_due (ca) == now + 20 * 86400, "CA due at two thirds");
  {
    const ASN1_INTEGER *sn = X509_get0_serialNumber (ca);
    ok (sn->length == 16 && !(sn->data[0] & 0x80), "serial is 128-bit positive (%d bytes)",
        sn->length);
  }
  srv = kit_cert_issue (&sp, sk, ca, cak, &err);
  ok (srv != NULL, "server issued");
  ok (kit_cert_signed_by (srv, ca), "server signed by CA");
  ok (!kit_cert_signed_by (ca, srv), "CA not signed by server");
  ok (kit_cert_has_role (srv, KIT_ROLE_SERVER) && !kit_cert_has_role (srv, KIT_ROLE_CLIENT),
      "server EKU");
  ok (kit_cert_not_after (srv) == now + 3600, "leaf capped at max_not_after");
  ok (kit_cert_names_equal (srv, want_dns, want_ips), "SAN set equal in any order");
  ok (!kit_cert_names_equal (srv, dns, short_ips), "SAN set differs when one is missing");
  ok (X509_check_ip_asc (srv, "::1", 0) == 1 && X509_check_host (srv, "docker", 0, 0, NULL) == 1,
      "openssl name checks pass");
  ok (X509_get_key_usage (srv) == KU_DIGITAL_SIGNATURE, "ECDSA leaf: digitalSignature only");
  ok (X509_get0_authority_key_id (srv) != NULL, "leaf has AKI");
  ok (kit_cert_matches_key (srv, sk) && !kit_cert_matches_key (srv, cak), "key match");
  {
    struct kit_profile cp = { .role = KIT_ROLE_CLIENT,
                              .cn = "bob",
                              .dns = (char *[]){ "bob", NULL },
                              .now = now,
                              .lifetime = 86400 };
    rsa = kit_cert_issue (&cp, rk, ca, cak, &err);
    ok (rsa && (X509_get_key_usage (rsa) & KU_KEY_ENCIPHERMENT), "RSA leaf: keyEncipherment");
    ok (rsa && kit_cert_has_role (rsa, KIT_ROLE_CLIENT), "client EKU");
  }
  {
    size_t len;
    cleanup_free char *pem = kit_pem_cert (srv, &len);
    cleanup_free char *kpem = kit_pem_key (sk, &len);
    cleanup_x509 X509 *back = kit_parse_cert (pem, strlen (pem), "x", &err);
    cleanup_pkey EVP_PKEY *kback = kit_parse_key (kpem, strlen (kpem), "k", &err);
    ok (back && kit_cert_same (back, srv), "PEM round trip");
    ok (kback && kit_cert_matches_key (srv, kback), "key PEM round trip");
    ok (kit_parse_cert ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 60,
                        "bad.pem", &err)
                == NULL
            && err && strstr (err->msg, "bad.pem"),
        "corrupt PEM refused, names the file");
    rdind_error_release (&err);
    pem[strlen (pem) / 2] = '\0';
    ok (kit_parse_cert (pem, strlen (pem), "t.pem", &err) == NULL, "truncated PEM refused");
    rdind_error_release (&err);
  }
  rdind_error_release (&err);
}

static void
test_time (void)
{
  rdind_error_t err = NULL;
  time_t t = 0, before = time (NULL);
  ok (kit_parse_time ("1767225600", &t, &err) == 0 && t == 1767225600, "unix seconds");
  ok (kit_parse_time ("@1767225600", &t, &err) == 0 && t == 1767225600, "@unix seconds");
  ok (kit_parse_time ("2026-01-01T00:00:00Z", &t, &err) == 0 && t == 1767225600, "ISO-8601 Z");
  ok (kit_parse_time ("2026-01-01", &t, &err) == 0 && t == 1767225600, "date only");
  ok (kit_parse_time ("+3d", &t, &err) == 0 && t >= before + 3 * 86400
          && t <= time (NULL) + 3 * 86400,
      "+3d relative");
  ok (kit_parse_time ("tomorrow", &t, &err) < 0 && err && strstr (err->msg, "tomorrow"),
      "garbage refused");
  rdind_error_release (&err);
  ok (kit_parse_time ("2026-13-45T00:00:00Z", &t, &err) < 0, "bad date refused");
  rdind_error_release (&err);
  ok (kit_parse_time ("2026-01-01T00:00:00Zjunk", &t, &err) < 0, "trailing junk refused");
  rdind_error_release (&err);
}

static void
test_layout (const char *base)
{
  cleanup_free char *dir = p2 (base, "certs");
  char *peers[] = { "alice", "bob", NULL };
  char *names[] = { "dind.example", "10.1.2.3", NULL };
  time_t t0 = 1790000000, due = 0;
  struct kit_opts o = { .certdir = dir,
                        .peers = peers,
                        .server_names = names,
                        .lifetime = 86400,
                        .ca_lifetime = 30 * 86400,
                        .key_type = CONF_KEY_ECDSA_P256,
                        .now = t0 };
  rdind_error_t err = NULL;
  cleanup_free char *f_srv = NULL, *f_cli = NULL, *f_ca = NULL;
  FILE *null = fopen ("/dev/null", "w");

  ok (kit_ensure (&o, &due, &err) == 0, "kit_ensure creates the layout%s%s", err ? ": " : "",
      err ? err->msg : "");
  rdind_error_release (&err);
  ok (due == t0 + 86400 * 2 / 3 - KIT_BACKDATE * 2 / 3 || (due > t0 && due <= t0 + 86400 * 2 / 3),
      "next due is the leaves' two thirds");
  ok (mode_of (dir, "ca") == 0700, "ca/ is 0700");
  ok (mode_of (dir, "ca/key.pem") == 0600, "CA key 0600");
  ok (mode_of (dir, "server/key.pem") == 0600 && mode_of (dir, "client/key.pem") == 0600
          && mode_of (dir, "clients/bob/key.pem") == 0600,
      "leaf keys 0600");
  ok (mode_of (dir, "server/cert.pem") == 0644 && mode_of (dir, "client/ca.pem") == 0644,
      "certs 0644");
  {
    cleanup_x509 X509 *c = load (dir, "clients/bob/cert.pem");
    cleanup_free char *cn = c ? kit_cert_cn (c) : NULL;
    char *bob[] = { "bob", NULL };
    ok (c && strcmp (cn, "bob") == 0 && kit_cert_names_equal (c, bob, NULL),
        "second peer in clients/bob");
  }
  {
    cleanup_x509 X509 *s = load (dir, "server/cert.pem");
    ok (s && X509_check_host (s, "dind.example", 0, 0, NULL) == 1
            && X509_check_ip_asc (s, "10.1.2.3", 0) == 1,
        "server_names in the SAN");
  }
  ok (kit_verify (&o, null, &err) == 0, "kit_verify finds no problem");
  rdind_error_release (&err);

  f_srv = fp (dir, "server/cert.pem");
  f_cli = fp (dir, "client/cert.pem");
  f_ca = fp (dir, "ca/cert.pem");
  o.now = t0 + 3600;
  ok (kit_ensure (&o, &due, &err) == 0, "second run");
  {
    cleanup_free char *a = fp (dir, "server/cert.pem"), *b = fp (dir, "client/cert.pem");
    ok (strcmp (a, f_srv) == 0 && strcmp (b, f_cli) == 0, "valid material reused on restart");
  }
  o.now = t0 + 17 * 3600;
  ok (kit_ensure (&o, &due, &err) == 0, "run after two thirds");
  {
    cleanup_free char *a = fp (dir, "server/cert.pem"), *c = fp (dir, "ca/cert.pem");
    ok (strcmp (a, f_srv) != 0 && strcmp (c, f_ca) == 0, "leaves renewed, CA kept");
  }
  /* Rollover: introduce at 20d, promote at 25d, retire at 30d. */
  o.now = t0 + 20 * 86400 + 600;
  ok (kit_ensure (&o, &due, &err) == 0, "run at 20d");
  ok (count_certs (dir, "client/ca.pem") == 2 && mode_of (dir, "ca/next-cert.pem") == 0644,
      "next CA introduced, bundled");
  {
    cleanup_free char *c = fp (dir, "ca/cert.pem");
    cleanup_x509 X509 *cur = load (dir, "ca/cert.pem"), *leaf = load (dir, "client/cert.pem");
    ok (strcmp (c, f_ca) == 0 && kit_cert_signed_by (leaf, cur), "still signing with the old CA");
  }
  o.now = t0 + 25 * 86400 + 3600;
  ok (kit_ensure (&o, &due, &err) == 0, "run at 25d");
  {
    cleanup_free char *c = fp (dir, "ca/cert.pem"), *pv = fp (dir, "ca/prev-cert.pem");
    cleanup_x509 X509 *cur = load (dir, "ca/cert.pem"), *leaf = load (dir, "clients/bob/cert.pem");
    ok (strcmp (c, f_ca) != 0 && strcmp (pv, f_ca) == 0, "next CA promoted, old kept as prev");
    ok (kit_cert_signed_by (leaf, cur), "leaves reissued by the new CA");
    ok (count_certs (dir, "server/ca.pem") == 2, "bundle holds new and previous CA");
  }
  ok (kit_verify (&o, null, &err) == 0, "verify after rollover");
  o.now = t0 + 30 * 86400 + 3600;
  ok (kit_ensure (&o, &due, &err) == 0, "run at 30d");
  ok (count_certs (dir, "server/ca.pem") == 1 && mode_of (dir, "ca/prev-cert.pem") == -1,
      "expired CA retired");
  rdind_error_release (&err);

  /* Bad input: nothing overwritten. */
  {
    cleanup_free char *kp = p2 (dir, "client/key.pem");
    cleanup_free char *before = NULL, *after = NULL;
    cleanup_free char *other = p2 (dir, "server/key.pem");
    cleanup_free char *okey = NULL;
    size_t l1, l2;
    ok (read_file (other, &okey, &l1, &err) == 0, "read server key");
    ok (write_file_atomic (kp, okey, l1, 0600, &err) == 0, "put a mismatched key in client/");
    ok (kit_ensure (&o, NULL, &err) < 0
            && strstr (err->msg, "client/cert.pem does not match client/key.pem"),
        "mismatch refused: %s", err ? err->msg : "");
    rdind_error_release (&err);
    ok (read_file (kp, &before, &l1, &err) == 0 && l1 > 0, "key still there");
    ok (write_file_atomic (kp, "garbage\n", 8, 0600, &err) == 0, "corrupt client key");
    ok (kit_ensure (&o, NULL, &err) < 0 && strstr (err->msg, "client/key.pem")
            && strstr (err->msg, "delete"),
        "corrupt key refused with a fix: %s", err ? err->msg : "");
    rdind_error_release (&err);
    ok (read_file (kp, &after, &l2, &err) == 0 && l2 == 8, "corrupt file not overwritten");
    unlink (kp);
    ok (kit_ensure (&o, NULL, &err) == 0, "deleting the bad key lets a new pair be issued");
    rdind_error_release (&err);
  }
  /* A run killed between the key and the cert rename leaves the new key in
   * place and cert.pem.next staged: the next run finishes the switch instead
   * of calling the pair mismatched. */
  {
    cleanup_free char *c = p2 (dir, "client/cert.pem"), *cn = p2 (dir, "client/cert.pem.next");
    cleanup_free char *sc = p2 (dir, "server/cert.pem"), *kn = p2 (dir, "clients/bob/key.pem.next");
    cleanup_free char *good = NULL, *other = NULL;
    size_t l1, l2;
    cleanup_free char *f_before = fp (dir, "client/cert.pem");
    ok (read_file (c, &good, &l1, &err) == 0 && read_file (sc, &other, &l2, &err) == 0,
        "read certs");
    ok (write_file_atomic (cn, good, l1, 0644, &err) == 0
            && write_file_atomic (c, other, l2, 0644, &err) == 0,
        "simulate a switch killed between the renames");
    ok (write_file_atomic (kn, "half", 4, 0600, &err) == 0,
        "simulate a staged key without its cert");
    ok (kit_ensure (&o, NULL, &err) == 0, "interrupted switch is finished%s%s", err ? ": " : "",
        err ? err->msg : "");
    rdind_error_release (&err);
    {
      cleanup_free char *f_after = fp (dir, "client/cert.pem");
      ok (strcmp (f_before, f_after) == 0 && access (cn, F_OK) < 0, "staged cert rolled forward");
    }
    ok (access (kn, F_OK) < 0, "lone staged key dropped");
  }
  /* A peer issued by hand keeps a current bundle across a rollover. */
  {
    char *alice_only[] = { "alice", NULL };
    struct kit_opts a = o;
    a.peers = alice_only;
    a.now = o.now + 10 * 86400; /* the current CA was made at 20d: due at 40d */
    ok (kit_ensure (&a, NULL, &err) == 0
            && count_certs (dir, "clients/bob/ca.pem") == count_certs (dir, "client/ca.pem")
            && count_certs (dir, "client/ca.pem") == 2,
        "unconfigured peer's ca.pem refreshed at rollover (%d/%d)",
        count_certs (dir, "clients/bob/ca.pem"), count_certs (dir, "client/ca.pem"));
    rdind_error_release (&err);
    o.now = a.now;
  }
  /* The clock moved back (a test ran with --now in the future): material
   * "not yet valid" is replaced so it verifies now. */
  {
    struct kit_opts b = o;
    cleanup_x509 X509 *ca = NULL, *leaf = NULL;
    b.now = t0;
    ok (kit_ensure (&b, NULL, &err) == 0, "run with the clock moved back");
    rdind_error_release (&err);
    ca = load (dir, "ca/cert.pem");
    leaf = load (dir, "server/cert.pem");
    ok (ca && leaf && kit_cert_not_before (ca) <= t0 && kit_cert_not_before (leaf) <= t0
            && kit_cert_signed_by (leaf, ca),
        "CA and leaves valid at the earlier time");
  }
  {
    char *badpeers[] = { "ok", "bad/name", NULL };
    struct kit_opts b = o;
    b.peers = badpeers;
    ok (kit_ensure (&b, NULL, &err) < 0 && strstr (err->msg, "bad/name"),
        "illegal peer name refused");
    rdind_error_release (&err);
  }
  chmod (dir, 0777);
  ok (kit_ensure (&o, NULL, &err) < 0 && strstr (err->msg, "world-writable"),
      "world-writable certdir refused");
  rdind_error_release (&err);
  chmod (dir, 0755);
  fclose (null);
}

int
main (void)
{
  char *base = mkdtemp (tmpl);
  log_set_level (LOG_WARN_);
  if (base == NULL)
    return 1;
  test_profile ();
  test_time ();
  test_layout (base);
  {
    cleanup_free char *cmd = NULL;
    xasprintf (&cmd, "rm -rf '%s'", base);
    if (system (cmd) != 0)
      diag ("could not remove %s", base);
  }
  return done_testing ();
}
