/* A UDP echo server for the port tests (busybox's nc has no UDP here):
 * `udp-echo PORT` answers every datagram with the same bytes.  Built
 * statically by the tests and run in a container. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int
main (int argc, char **argv)
{
  struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
  char buf[65536];
  int s = socket (AF_INET6, SOCK_DGRAM, 0), zero = 0;

  if (argc != 2 || s < 0)
    return 2;
  a.sin6_port = htons ((unsigned short) atoi (argv[1]));
  setsockopt (s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind (s, (struct sockaddr *) &a, sizeof a) < 0)
    {
      perror ("udp-echo: bind");
      return 1;
    }
  for (;;)
    {
      struct sockaddr_storage from;
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom (s, buf, sizeof buf, 0, (struct sockaddr *) &from, &fl);
      if (n >= 0)
        sendto (s, buf, (size_t) n, 0, (struct sockaddr *) &from, fl);
    }
}
