/* libFuzzer: the pull proxy's request-head parser (launcher/pullproxy.c),
 * which reads whatever reaches dockerd's loopback, a --network host
 * container's bytes included, before any credential is checked; and the
 * upstream proxy URL parser. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "launch-int.h"
#include "util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct launch_pull_req r;
  struct launch_pull_upstream up;
  char *s = xstrndup ((const char *) data, size);

  if (launch_pull_parse ((const char *) data, size, &r) == 0)
    {
      /* What goes upstream: one head, ending at its first empty line, with
       * no credential of ours and a sane port. */
      if (r.port < 1 || r.port > 65535 || r.host[0] == '\0' || strlen (r.host) >= sizeof r.host)
        abort ();
      if (!r.connect)
        {
          char *end = strstr (r.head, "\r\n\r\n");
          if (r.path == NULL || r.path[0] != '/' || strlen (r.head) != r.head_len || end == NULL
              || (size_t) (end + 4 - r.head) != r.head_len || strcasestr (r.head, "\nproxy-authorization:"))
            abort ();
        }
      launch_pull_req_release (&r);
    }
  if (launch_pull_upstream_parse (s, &up) == 0)
    {
      if (up.host[0] && (up.port < 1 || up.port > 65535))
        abort ();
      free (up.auth);
    }
  free (s);
  return 0;
}
