/* libFuzzer: the API policy.  The input's first byte picks a split point;
 * the rest is fed to a gate as a client stream in two pieces, with a
 * canned dockerd answer after each (a 201 that a create's effect check
 * holds, a plain 200), any effect check answered with the input itself as
 * dockerd's record; the input is also checked directly as the body of a
 * container create, an exec and a volume create, and as dockerd's record
 * of a container and of an exec (policy_effect). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "policy.h"

/* Every lookup answers with the input: a record of any shape. */
static const char *
fuzz_fetch (void *ctx, const char *path, int *status, size_t *len)
{
  const struct { const char *s; size_t n; } *fc = ctx;
  (void) path;
  *status = 200;
  *len = fc->n;
  return fc->s;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static struct rdind_conf *conf;
  static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
  rdind_error_t err = NULL;
  struct gate_out out = { 0 };
  struct policy_decision d;

  if (conf == NULL)
    {
      log_set_level ((enum log_level) (LOG_ERROR_ + 1));
      if (conf_load_file (NULL, &conf, &err) < 0)
        abort ();
      free (conf->policy.enabled);
      conf->policy.enabled = strdup ("yes");
      conf->policy.max_body = 4096;
    }
  if (size == 0)
    return 0;
  size_t cut = size > 1 ? data[0] % size : 0;
  const char *s = (const char *) data + 1;
  size_t n = size - 1;
  if (cut > n)
    cut = n;

  struct gate *g = gate_new (&conf->policy, "fuzz");
  static const char created[] = "HTTP/1.1 201 Created\r\nContent-Length: 13\r\n\r\n{\"Id\":\"0abc\"}";
  for (int round = 0; round < 2; round++)
    {
      if (round == 0)
        gate_from_client (g, s, cut, &out);
      else
        gate_from_client (g, s + cut, n - cut, &out);
      gate_from_dockerd (g, created, sizeof created - 1, &out);
      gate_from_dockerd (g, answer, sizeof answer - 1, &out);
      /* Effect checks: dockerd's record is the input (a few rounds). */
      for (int k = 0; k < 4; k++)
        for (int slot = 0; slot < 2; slot++)
          if (out.lookup[slot])
            {
              free (out.lookup[slot]);
              out.lookup[slot] = NULL;
              gate_lookup_done (g, slot, k == 3 ? 404 : 200, s, n, &out);
            }
      gate_out_reset (&out);
    }
  gate_from_dockerd (g, NULL, 0, &out);
  gate_free (g);
  gate_out_free (&out);

  {
    char *need = NULL;
    struct fetch_ctx { const char *s; size_t n; } fc = { s, n };
    policy_effect (&conf->policy, POLICY_EFFECT_START, "/containers/x/json", fuzz_fetch, &fc, &need, &d);
    free (need);
    need = NULL;
    policy_effect (&conf->policy, POLICY_EFFECT_EXEC_START, "/exec/x/json", fuzz_fetch, &fc, &need, &d);
    free (need);
  }
  policy_check (&conf->policy, "POST", "/v1.41/containers/create", s, n, &d);
  policy_check (&conf->policy, "POST", "/containers/x/exec", s, n, &d);
  policy_check (&conf->policy, "POST", "/volumes/create", s, n, &d);
  char *target = strndup (s, n > 200 ? 200 : n);
  if (target && target[0] == '/')
    {
      struct policy_class cls;
      policy_classify ("POST", target, &cls);
      policy_check (&conf->policy, "POST", target, NULL, 0, &d);
    }
  free (target);
  return 0;
}
