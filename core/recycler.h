/* recycler.h — per-thread reuse of freed memory, by size class.
 *
 * A request on HTTP/2 allocates and frees the same handful of sizes every
 * time: nghttp2's stream, outbound item and header copies, and the first
 * block of a body or output queue. malloc's per-thread cache holds only a
 * few chunks per size and nothing above 1 KiB, so under load most of these
 * went through malloc's slower paths. The recycler keeps freed pieces on a
 * per-thread list per size class (16 bytes apart up to 256, then four
 * classes per power of two up to 64 KiB, counted in usable bytes) and hands
 * them out again; larger pieces go straight to malloc.
 *
 * Page blocks are for big buffers a connection holds but mostly leaves
 * unused (nghttp2's frame buffer and stream map): pages of their own with
 * no head, which cost memory only once written, given back to the kernel
 * when freed, and whose pages that went back to zeros can be given back
 * before that (irh_recycler_pages_trim).
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
/* Bytes in front of each piece: malloc gets a class's usable size plus
 * these. */
#define IRH_RECYCLER_HEAD 16

/* 16-byte aligned memory of at least size bytes, or NULL. */
void *irh_recycler_alloc(size_t size);
/* Zeroed memory for n * size bytes, or NULL (also on overflow). */
void *irh_recycler_calloc(size_t n, size_t size);
/* realloc's contract, for memory from this allocator. */
void *irh_recycler_realloc(void *p, size_t size);
/* Zeroed, page-aligned memory of at least size bytes on pages of its own
 * and with no head, so that nothing is written to it here: untouched, it
 * costs no RSS at all. The caller keeps size for irh_recycler_pages_free.
 * NULL on failure. (Under ASan: calloc and free.) */
void *irh_recycler_pages(size_t size);
void irh_recycler_pages_free(void *p, size_t size);
/* Gives the kernel back the pages of an irh_recycler_pages block that hold
 * only zeros: reading them again gives the same zeros, and they cost no
 * RSS until written. Reads every page: for a connection that went idle,
 * not per request. */
void irh_recycler_pages_trim(void *p, size_t size);
/* Bytes usable at p (at least what was asked for). */
size_t irh_recycler_usable(const void *p);
/* Gives back p from irh_recycler_alloc, _calloc or _realloc (NULL is fine). */
void irh_recycler_free(void *p);
/* Bytes of freed memory this thread keeps. */
size_t irh_recycler_kept(void);
/* Frees every piece this thread keeps. */
void irh_recycler_release(void);

#endif /* IRIDIUM_CORE_RECYCLER_H */
