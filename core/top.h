/* top.h — `iridium top` (top.c). */
#ifndef IRIDIUM_CORE_TOP_H
#define IRIDIUM_CORE_TOP_H

/* argv[0] is "top". Returns the exit status. */
int irh_top_main(int argc, char **argv);

#endif /* IRIDIUM_CORE_TOP_H */
