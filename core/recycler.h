/* recycler.h — per-thread reuse of freed memory, by size class.
 *
 * A request on HTTP/2 allocates and frees the same handful of sizes every
 * time: nghttp2's stream, outbound item and header copies, and the first
 * block of a body or output queue. malloc's per-thread cache holds only a
 * few chunks per size and nothing above 1 KiB, so under load most of these
 * went through malloc's slower paths. The recycler keeps freed pieces on a
 * per-thread list per size class (16 bytes apart up to 256, then four
 * classes per power of two up to 64 KiB) and hands them out again; larger
 * pieces go straight to malloc.
 *
 * Bounds: each thread keeps at most IRH_RECYCLER_MAX_BYTES of freed memory;
 * past that, free() gets it. A piece may be freed on another thread than
 * the one that allocated it (it joins that thread's lists). A thread that
 * allocated through the recycler calls irh_recycler_release() before it
 * ends. Under AddressSanitizer every call goes straight to malloc/free, so
 * use-after-free is still caught.
 */
#ifndef IRIDIUM_CORE_RECYCLER_H
#define IRIDIUM_CORE_RECYCLER_H

#include <stddef.h>

#define IRH_RECYCLER_MAX_BYTES (4u << 20)
/* Bytes in front of each piece: a caller that wants to fill a class
 * exactly asks for (class size - IRH_RECYCLER_HEAD). */
#define IRH_RECYCLER_HEAD 16

/* 16-byte aligned memory of at least size bytes, or NULL. */
void *irh_recycler_alloc(size_t size);
/* Zeroed memory for n * size bytes, or NULL (also on overflow). */
void *irh_recycler_calloc(size_t n, size_t size);
/* realloc's contract, for memory from this allocator. */
void *irh_recycler_realloc(void *p, size_t size);
/* Gives p back (NULL is fine). */
void irh_recycler_free(void *p);
/* Bytes of freed memory this thread keeps. */
size_t irh_recycler_kept(void);
/* Frees every piece this thread keeps. */
void irh_recycler_release(void);

#endif /* IRIDIUM_CORE_RECYCLER_H */
