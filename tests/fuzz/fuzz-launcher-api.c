/* libFuzzer: the launcher's rootlesskit-API request handler (what dockerd's
 * port helper sends to $ROOTLESSKIT_STATE_DIR/api.sock) and the JSON field
 * reader it and the slirp4netns API replies go through.  The request is
 * answered on a socketpair; the slirp4netns socket does not exist, so a
 * port request fails there after its parsing, as when slirp4netns is gone. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "launch-int.h"
#include "launch.h"
#include "log.h"
#include "util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const keys[] = { "return", "id", "desc", "error", "proto", "parentIP", "parentPort",
                                      "childIP", "childPort", "message" };
  struct launch_api api = { .fd = -1, .path = "/nonexistent/api.sock", .slirp_sock = "/nonexistent/slirp.sock",
                            .guest_ip = "10.0.2.100", .next_id = 1 };
  int sv[2];
  char *req = xstrndup ((const char *) data, size);
  char drain[4096];

  log_set_level ((enum log_level) (LOG_ERROR_ + 1));
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    {
      char *v = launch_json_get (req, keys[i]);
      free (v);
    }
  /* Only parse-and-refuse paths: a valid POST would bind host ports. */
  if (strstr (req, "POST") == NULL && socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
    {
      launch_api_handle (&api, sv[0], req);
      close (sv[0]);
      while (read (sv[1], drain, sizeof drain) > 0)
        ;
      close (sv[1]);
    }
  free (api.ports);
  free (req);
  return 0;
}
