#include "config.h"
#include <stdio.h>
int
main (void)
{
  fprintf (stderr, "rotkit: not built yet\n");
  return 1;
}
