/* libFuzzer: the API policy.  The input's first byte picks a split point;
 * the rest is fed to a gate as a client stream in two pieces, with a
 * canned dockerd answer after each, and also checked directly as the body
 * of a container create, an exec and a volume create. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "policy.h"

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
  gate_from_client (g, s, cut, &out);
  gate_from_dockerd (g, answer, sizeof answer - 1, &out);
  gate_out_reset (&out);
  gate_from_client (g, s + cut, n - cut, &out);
  gate_from_dockerd (g, answer, sizeof answer - 1, &out);
  gate_from_dockerd (g, NULL, 0, &out);
  gate_free (g);
  gate_out_free (&out);

  policy_check (&conf->policy, "POST", "/v1.41/containers/create", s, n, &d);
  policy_check (&conf->policy, "POST", "/containers/x/exec", s, n, &d);
  policy_check (&conf->policy, "POST", "/volumes/create", s, n, &d);
  char *target = strndup (s, n > 200 ? 200 : n);
  if (target && target[0] == '/')
    {
      bool hijack;
      policy_classify ("POST", target, &hijack);
      policy_check (&conf->policy, "POST", target, NULL, 0, &d);
    }
  free (target);
  return 0;
}
