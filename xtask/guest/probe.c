/*
 * kdump-rs fixture probe: runs inside the fixture guests (built static on
 * the host for each guest architecture by `cargo xtask fixtures`).
 *
 *   probe MARKER FILE ANON_MIB FREED_MIB
 *
 * 1. Maps FILE (on the guest's ext2 data disk) shared, reads every page so
 *    it sits in the page cache, finds every copy of "MARKER-page-cache" in
 *    it and prints the physical address of each copy.
 * 2. Maps ANON_MIB of anonymous memory and fills it with mixed content
 *    (zero pages, pseudo-random pages, text pages, counter pages), writes
 *    "MARKER-anon" into every 256th page and prints the physical address of
 *    each copy.
 * 3. Maps FREED_MIB more, fills it with a stale-data pattern and unmaps it
 *    again, so free pages hold stale bytes at dump time.
 * 4. Prints "done", then waits forever so its memory stays put.
 *
 * Physical addresses come from /proc/self/pagemap (Documentation/admin-guide/
 * mm/pagemap.rst: one u64 per virtual page, bit 63 present, bits 0-54 PFN).
 * Output lines: "page-cache 0x<paddr>", "anon 0x<paddr>", "done".
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static long page;
static int pagemap;

static uint64_t paddr_of(const void *p)
{
	uint64_t entry = 0;
	uintptr_t v = (uintptr_t)p;
	off_t off = (off_t)(v / (uintptr_t)page) * 8;
	if (pread(pagemap, &entry, 8, off) != 8) {
		perror("pagemap");
		exit(1);
	}
	if (!(entry >> 63)) {
		fprintf(stderr, "page at %p not present\n", p);
		exit(1);
	}
	uint64_t pfn = entry & ((1ULL << 55) - 1);
	if (pfn == 0) {
		fprintf(stderr, "pagemap hides PFNs (not root?)\n");
		exit(1);
	}
	return pfn * (uint64_t)page + (v % (uintptr_t)page);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: probe MARKER FILE ANON_MIB FREED_MIB\n");
		return 2;
	}
	page = sysconf(_SC_PAGESIZE);
	pagemap = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap < 0) {
		perror("/proc/self/pagemap");
		return 1;
	}
	char cache_text[256], anon_text[256];
	snprintf(cache_text, sizeof cache_text, "%s-page-cache", argv[1]);
	snprintf(anon_text, sizeof anon_text, "%s-anon", argv[1]);

	/* 1. page cache */
	int fd = open(argv[2], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(argv[2]);
		return 1;
	}
	size_t flen = (size_t)st.st_size;
	unsigned char *f = mmap(NULL, flen, PROT_READ, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED) {
		perror("mmap file");
		return 1;
	}
	volatile unsigned sum = 0;
	for (size_t i = 0; i < flen; i += (size_t)page)
		sum += f[i];
	size_t clen = strlen(cache_text);
	int found = 0;
	for (size_t i = 0; i + clen <= flen; i++) {
		if (f[i] == (unsigned char)cache_text[0] && memcmp(f + i, cache_text, clen) == 0) {
			if (i / (size_t)page != (i + clen - 1) / (size_t)page)
				continue; /* keep each copy inside one page */
			printf("page-cache 0x%llx\n", (unsigned long long)paddr_of(f + i));
			found++;
		}
	}
	if (!found) {
		fprintf(stderr, "no %s in %s\n", cache_text, argv[2]);
		return 1;
	}

	/* 2. anonymous memory of mixed content */
	size_t alen = (size_t)atol(argv[3]) << 20;
	unsigned char *a = mmap(NULL, alen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) {
		perror("mmap anon");
		return 1;
	}
	size_t alen_text = strlen(anon_text);
	for (size_t p = 0; p < alen / (size_t)page; p++) {
		unsigned char *pg = a + p * (size_t)page;
		switch (p % 4) {
		case 0: /* a zero page that is nonetheless allocated */
			memset(pg, 0, (size_t)page);
			break;
		case 1:
			for (long i = 0; i + 8 <= page; i += 8) {
				uint64_t r = next();
				memcpy(pg + i, &r, 8);
			}
			break;
		case 2:
			for (long i = 0; i < page; i++)
				pg[i] = "kdump-rs anonymous text page. "[i % 30];
			break;
		default:
			for (long i = 0; i + 8 <= page; i += 8) {
				uint64_t c = (uint64_t)p * 4096 + (uint64_t)i;
				memcpy(pg + i, &c, 8);
			}
		}
		if (p % 256 == 255) {
			unsigned char *at = pg + (p * 37) % ((size_t)page - alen_text);
			memcpy(at, anon_text, alen_text);
			printf("anon 0x%llx\n", (unsigned long long)paddr_of(at));
		}
	}

	/* 3. stale data in pages that are free again at dump time */
	size_t slen = (size_t)atol(argv[4]) << 20;
	unsigned char *s = mmap(NULL, slen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED) {
		perror("mmap stale");
		return 1;
	}
	for (size_t i = 0; i < slen; i++)
		s[i] = "kdump-rs stale freed data. "[i % 27];
	munmap(s, slen);

	printf("done\n");
	fflush(stdout);
	fclose(stdout);
	for (;;)
		pause();
}
