/* check.h — the one assertion the C unit tests use: on failure it prints
 * file:line and the expression, and exits 1 so ctest sees the failure. */
#ifndef IRIDIUM_TESTS_CHECK_H
#define IRIDIUM_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(expr)                                                                                \
  do {                                                                                             \
    if (!(expr)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr);                     \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

#endif /* IRIDIUM_TESTS_CHECK_H */
