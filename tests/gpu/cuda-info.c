/* Says whether this build of t2i can use a GPU: "device NAME" (exit 0),
 * or "none REASON" (exit 3) when it was built without CUDA or the machine
 * has no device or driver.  tests/gpu/run asks it first.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/t2i.h>
#include <stdio.h>

int
main (void)
{
  if (!t2i_cuda_is_available ()) {
    printf ("none %s\n", t2i_cuda_unavailable_reason ());
    return 3;
  }
  printf ("device %s\n", t2i_cuda_device_name ());
  return 0;
}
