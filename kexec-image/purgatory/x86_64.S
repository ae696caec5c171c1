# kdump-rs x86_64 purgatory for the classic kexec_load(2) path.
#
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# What runs it: the old kernel's relocate_kernel (arch/x86/kernel/relocate_kernel_64.S)
# copies the segments into place and jumps to the image's start address, which the
# loader sets to this image's entry. At that point the CPU is in 64-bit long mode, on
# the identity-mapped page tables machine_kexec_64.c builds for every RAM range,
# interrupts off, and nothing else is promised: not the GDT, not the segment registers,
# not a usable stack.
#
# What it does, in order:
#   1. takes a stack of its own in the memory after the file bytes (the "bss" below);
#   2. computes SHA-256 (FIPS 180-4) over the digest regions of the parameter block,
#      as one message made of the regions' bytes in order, and compares it with the
#      digest the loader patched in. On a mismatch (or a region count above 16) it
#      writes one line to the serial port COM1 (I/O port 0x3f8) and halts forever:
#      a corrupted kernel is never entered;
#   3. loads a GDT of its own with the descriptors the 64-bit boot protocol asks for
#      (Documentation/arch/x86/boot.rst, "64-bit BOOT PROTOCOL": __BOOT_CS = 0x10 a
#      flat execute/read code segment, __BOOT_DS = 0x18 a flat read/write data
#      segment; CS = __BOOT_CS, DS/ES/SS = __BOOT_DS), reloads every segment
#      register, puts the boot_params address in %rsi, clears the other
#      general-purpose registers and the flags (IF and DF included), and jumps to the
#      kernel entry.
#
# Position independent: every data reference is %rip-relative and the object file has
# no relocations (build.sh checks), so the image runs at any address it is copied to.
# The loader needs no relocation pass; it only patches the parameter block.
#
# The layout of the first 0x150 bytes is a contract with kexec-image/src/purgatory.rs
# (the offsets are asserted below with .error): all little-endian.
#
#   0x000  8   magic "KDRSPURG"
#   0x008  4   layout version (1)
#   0x00c  4   entry offset: where the code starts, from the image's first byte
#   0x010  4   memory needed from the load address: file bytes + bss + stack
#   0x014  4   maximum number of digest regions (16)
#   0x018  8   kernel entry (physical = virtual, identity mapped)        [patched]
#   0x020  8   boot_params address, handed to the kernel in %rsi         [patched]
#   0x028  8   number of digest regions in use, 0..16                    [patched]
#   0x030 32   SHA-256 digest of the regions' bytes                      [patched]
#   0x050 256  16 regions of { u64 start, u64 len }, unused ones zero    [patched]
#   0x150      code and constants
#
# Built by build.sh (GNU as + objcopy -O binary). Assembled with --defsym TEST=1 the same
# source becomes a static Linux executable for the host tests: the serial port becomes
# stdout, halting becomes exit(1), and the final privileged steps (lgdt, segment loads)
# are replaced by printing the values the kernel would get (see the TEST block at the end).

	.text
	.code64

# ---------------------------------------------------------------------------------------
# Constants.
# ---------------------------------------------------------------------------------------
	.equ	MAX_REGIONS, 16
	.equ	BOOT_CS, 0x10		# __BOOT_CS of boot.rst
	.equ	BOOT_DS, 0x18		# __BOOT_DS of boot.rst
	.equ	COM1, 0x3f8		# 16550 UART: transmit holding register at +0,
	.equ	COM1_LSR, COM1 + 5	# line status register at +5, bit 5 = THR empty
	.equ	LSR_THRE, 0x20
	.equ	SERIAL_SPIN, 0x100000	# bound on the wait for THR empty: no UART never hangs us

# The bss: memory the image uses beyond its file bytes, addressed from `bss` (the
# first 4 KiB boundary after the file bytes, see the end of the file). The loader
# reserves it through the segment's memsz (kexec_load zero-fills memsz beyond bufsz;
# the code does not rely on that).
	.equ	BSS_H, 0x000		# SHA-256 working hash H0..H7, 8 x u32
	.equ	BSS_TOTAL, 0x020	# message bytes hashed so far, u64
	.equ	BSS_BUF, 0x040		# partial 64-byte message block
	.equ	BSS_W, 0x080		# message schedule W0..W63, 64 x u32
	.equ	BSS_DIGEST, 0x180	# the computed digest, 32 bytes big-endian
	.equ	BSS_STACK_TOP, 0x1200	# 4 KiB stack below this, from BSS 0x200
	.equ	BSS_SIZE, BSS_STACK_TOP

# ---------------------------------------------------------------------------------------
# Header and parameter block (layout above; purgatory.rs patches 0x018..0x150).
# ---------------------------------------------------------------------------------------
image_start:
	.ascii	"KDRSPURG"
	.long	1				# layout version
	.long	purgatory_start - image_start	# entry offset
	.long	bss - image_start + BSS_SIZE	# memory needed from the load address
	.long	MAX_REGIONS
kernel_entry:
	.quad	0
boot_params:
	.quad	0
nr_regions:
	.quad	0
digest:
	.fill	32, 1, 0
regions:
	.fill	MAX_REGIONS * 16, 1, 0
params_end:

	.if	kernel_entry - image_start != 0x18
	.error	"kernel_entry must be at 0x18"
	.endif
	.if	boot_params - image_start != 0x20
	.error	"boot_params must be at 0x20"
	.endif
	.if	nr_regions - image_start != 0x28
	.error	"nr_regions must be at 0x28"
	.endif
	.if	digest - image_start != 0x30
	.error	"digest must be at 0x30"
	.endif
	.if	regions - image_start != 0x50
	.error	"regions must be at 0x50"
	.endif
	.if	params_end - image_start != 0x150
	.error	"the parameter block must end at 0x150"
	.endif

# ---------------------------------------------------------------------------------------
# Entry, from relocate_kernel.
# ---------------------------------------------------------------------------------------
purgatory_start:
	# Our own stack first: the one relocate_kernel ran on is in its control page,
	# which we must not assume is still ours.
	leaq	bss + BSS_STACK_TOP(%rip), %rsp
	# Known flags: IF clear (no interrupts: there is no IDT we own), DF clear (the
	# string instructions below count upwards), everything else zero.
	pushq	$0
	popfq

	call	verify_digest		# %eax = 0 match, 1 mismatch, 2 bad region count
.ifdef TEST
	pushq	%rax
	call	test_report_digest
	popq	%rax
.endif
	testl	%eax, %eax
	jnz	refuse
	jmp	boot_kernel

# ---------------------------------------------------------------------------------------
# verify_digest: SHA-256 over the regions, compared with the patched digest.
# Out: %eax = 0 when equal, 1 when not, 2 when nr_regions > MAX_REGIONS (the digest is
# then not computed: a count we cannot trust means a parameter block we cannot trust).
# Clobbers every register but %rsp.
# ---------------------------------------------------------------------------------------
verify_digest:
	movq	nr_regions(%rip), %rcx
	cmpq	$MAX_REGIONS, %rcx
	ja	1f
	call	sha256_init
	leaq	regions(%rip), %rbx
2:	# for each region in use: hash `len` bytes at `start`
	testq	%rcx, %rcx
	jz	3f
	movq	(%rbx), %rsi		# start
	movq	8(%rbx), %rdx		# len
	call	sha256_update		# preserves %rbx, %rcx
	addq	$16, %rbx
	decq	%rcx
	jmp	2b
3:	call	sha256_final		# digest to bss + BSS_DIGEST
	# Compare the 32 bytes as four quadwords, OR-ing the differences.
	movq	bss + BSS_DIGEST(%rip), %rax
	xorq	digest(%rip), %rax
	movq	bss + BSS_DIGEST + 8(%rip), %rdx
	xorq	digest + 8(%rip), %rdx
	orq	%rdx, %rax
	movq	bss + BSS_DIGEST + 16(%rip), %rdx
	xorq	digest + 16(%rip), %rdx
	orq	%rdx, %rax
	movq	bss + BSS_DIGEST + 24(%rip), %rdx
	xorq	digest + 24(%rip), %rdx
	orq	%rdx, %rax
	setnz	%al
	movzbl	%al, %eax
	ret
1:	movl	$2, %eax
	ret

# ---------------------------------------------------------------------------------------
# sha256_init: H = the FIPS 180-4 initial hash value, message length 0.
# Clobbers %rax, %rsi, %rdi.
# ---------------------------------------------------------------------------------------
sha256_init:
	leaq	sha256_iv(%rip), %rsi
	leaq	bss + BSS_H(%rip), %rdi
	movq	(%rsi), %rax
	movq	%rax, (%rdi)
	movq	8(%rsi), %rax
	movq	%rax, 8(%rdi)
	movq	16(%rsi), %rax
	movq	%rax, 16(%rdi)
	movq	24(%rsi), %rax
	movq	%rax, 24(%rdi)
	movq	$0, bss + BSS_TOTAL(%rip)
	ret

# ---------------------------------------------------------------------------------------
# sha256_update: append %rdx bytes at %rsi to the message.
# Whole blocks are compressed straight from memory when the partial block is empty;
# otherwise bytes are copied into the partial block until it is full.
# Preserves %rbx, %rcx and %rbp; clobbers %rax, %rdx, %rsi, %rdi, %r8.
# ---------------------------------------------------------------------------------------
sha256_update:
	pushq	%rcx
1:	testq	%rdx, %rdx
	jz	9f
	movq	bss + BSS_TOTAL(%rip), %rax
	movl	%eax, %ecx
	andl	$63, %ecx		# %ecx = bytes already in the partial block
	jnz	2f
	cmpq	$64, %rdx
	jb	2f
	# Empty partial block and a whole block available: compress it in place.
	movq	%rsi, %rdi
	call	sha256_compress
	addq	$64, %rsi
	subq	$64, %rdx
	addq	$64, bss + BSS_TOTAL(%rip)
	jmp	1b
2:	# Copy min(64 - fill, len) bytes into the partial block.
	movl	$64, %r8d
	subl	%ecx, %r8d
	cmpq	%rdx, %r8
	cmovaq	%rdx, %r8
	leaq	bss + BSS_BUF(%rip), %rdi
	addq	%rcx, %rdi
	movq	%r8, %rcx
	rep movsb			# advances %rsi past the copied bytes
	subq	%r8, %rdx
	addq	%r8, bss + BSS_TOTAL(%rip)
	testq	$63, bss + BSS_TOTAL(%rip)
	jnz	1b
	# The partial block is full: compress it.
	leaq	bss + BSS_BUF(%rip), %rdi
	call	sha256_compress
	jmp	1b
9:	popq	%rcx
	ret

# ---------------------------------------------------------------------------------------
# sha256_final: pad the message (FIPS 180-4 5.1.1: a 1 bit, zeros up to 56 mod 64, the
# message length in bits as a big-endian u64, counted over all regions together),
# compress the last block(s) and store H big-endian at bss + BSS_DIGEST.
# Clobbers %rax, %rcx, %rsi, %rdi, %r9.
# ---------------------------------------------------------------------------------------
sha256_final:
	movq	bss + BSS_TOTAL(%rip), %r9	# message length in bytes
	movl	%r9d, %ecx
	andl	$63, %ecx			# bytes in the partial block, 0..63
	leaq	bss + BSS_BUF(%rip), %rdi
	movb	$0x80, (%rdi,%rcx)		# the 1 bit after the message
	incl	%ecx
	cmpl	$56, %ecx
	jbe	2f
	# No room left for the length in this block: zero it to the end, compress,
	# and put the length in a block of its own.
1:	cmpl	$64, %ecx
	jae	3f
	movb	$0, (%rdi,%rcx)
	incl	%ecx
	jmp	1b
3:	call	sha256_compress			# preserves %rdi
	xorl	%ecx, %ecx
2:	cmpl	$56, %ecx
	jae	4f
	movb	$0, (%rdi,%rcx)
	incl	%ecx
	jmp	2b
4:	shlq	$3, %r9				# bytes to bits (mod 2^64, as the standard)
	bswapq	%r9
	movq	%r9, 56(%rdi)
	call	sha256_compress
	# The digest is H0..H7, each big-endian.
	leaq	bss + BSS_H(%rip), %rsi
	leaq	bss + BSS_DIGEST(%rip), %rdi
	xorl	%ecx, %ecx
5:	movl	(%rsi,%rcx,4), %eax
	bswapl	%eax
	movl	%eax, (%rdi,%rcx,4)
	incl	%ecx
	cmpl	$8, %ecx
	jb	5b
	ret

# ---------------------------------------------------------------------------------------
# sha256_compress: the SHA-256 compression function (FIPS 180-4 6.2.2) of the 64-byte
# block at %rdi into H. Preserves every general-purpose register.
#
# Registers during the rounds: a..h live in %r8d..%r15d, and instead of moving eight
# values per round the names rotate: round t's a..h are the registers ROUND is given,
# and eight rounds bring the names back (64 is a multiple of 8). %ecx = t of the first
# round of a group of eight, %rsi = W, %rdi = K, %eax, %ebx, %edx, %ebp = temporaries.
#
# The rotations use ROTR(x, p) ^ ROTR(x, q) ^ ROTR(x, r) = ROTR(x ^ ROTR(x ^ ROTR(x,
# r - q), q - p), p), one temporary and three rotates per Sigma.
# ---------------------------------------------------------------------------------------
# ROUND: one round t = %ecx + \i with working variables \a..\h: d += T1, h = T1 + T2
# (h becomes the next round's a, d its e).
.macro ROUND a, b, c, d, e, f, g, h, i
	movl	\e, %eax
	rorl	$14, %eax
	xorl	\e, %eax
	rorl	$5, %eax
	xorl	\e, %eax
	rorl	$6, %eax			# S1(e) = ROTR6 ^ ROTR11 ^ ROTR25
	movl	\f, %ebx
	xorl	\g, %ebx
	andl	\e, %ebx
	xorl	\g, %ebx			# Ch(e,f,g) = ((f ^ g) & e) ^ g
	addl	%ebx, %eax
	addl	\h, %eax
	addl	\i * 4(%rdi,%rcx,4), %eax	# + Kt
	addl	\i * 4(%rsi,%rcx,4), %eax	# + Wt: %eax = T1
	addl	%eax, \d
	movl	\a, %ebx
	rorl	$9, %ebx
	xorl	\a, %ebx
	rorl	$11, %ebx
	xorl	\a, %ebx
	rorl	$2, %ebx			# S0(a) = ROTR2 ^ ROTR13 ^ ROTR22
	movl	\a, %edx
	orl	\b, %edx
	andl	\c, %edx
	movl	\a, %ebp
	andl	\b, %ebp
	orl	%ebp, %edx			# Maj(a,b,c) = ((a | b) & c) | (a & b)
	leal	(%rax,%rbx), \h
	addl	%edx, \h			# h = T1 + S0(a) + Maj(a,b,c)
.endm

sha256_compress:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15

	# W0..W15: the block's 16 big-endian words.
	leaq	bss + BSS_W(%rip), %rsi
	xorl	%ecx, %ecx
1:	movl	(%rdi,%rcx,4), %eax
	bswapl	%eax
	movl	%eax, (%rsi,%rcx,4)
	incl	%ecx
	cmpl	$16, %ecx
	jb	1b
	# W16..W63: Wt = s1(Wt-2) + Wt-7 + s0(Wt-15) + Wt-16, with
	# s0(x) = ROTR7 ^ ROTR18 ^ SHR3 and s1(x) = ROTR17 ^ ROTR19 ^ SHR10.
2:	movl	-60(%rsi,%rcx,4), %eax		# x = Wt-15
	movl	%eax, %ebx
	rorl	$11, %eax
	xorl	%ebx, %eax
	rorl	$7, %eax			# ROTR7(x) ^ ROTR18(x)
	shrl	$3, %ebx
	xorl	%ebx, %eax			# %eax = s0(x)
	movl	-8(%rsi,%rcx,4), %ebx		# y = Wt-2
	movl	%ebx, %edx
	rorl	$2, %edx
	xorl	%ebx, %edx
	rorl	$17, %edx			# ROTR17(y) ^ ROTR19(y)
	shrl	$10, %ebx
	xorl	%ebx, %edx			# %edx = s1(y)
	addl	%edx, %eax
	addl	-64(%rsi,%rcx,4), %eax		# + Wt-16
	addl	-28(%rsi,%rcx,4), %eax		# + Wt-7
	movl	%eax, (%rsi,%rcx,4)
	incl	%ecx
	cmpl	$64, %ecx
	jb	2b

	# a..h = H0..H7
	leaq	bss + BSS_H(%rip), %rdi
	movl	0(%rdi), %r8d
	movl	4(%rdi), %r9d
	movl	8(%rdi), %r10d
	movl	12(%rdi), %r11d
	movl	16(%rdi), %r12d
	movl	20(%rdi), %r13d
	movl	24(%rdi), %r14d
	movl	28(%rdi), %r15d

	# 64 rounds, eight per iteration.
	leaq	sha256_k(%rip), %rdi
	xorl	%ecx, %ecx
3:	ROUND	%r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d, 0
	ROUND	%r15d, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, %r14d, 1
	ROUND	%r14d, %r15d, %r8d, %r9d, %r10d, %r11d, %r12d, %r13d, 2
	ROUND	%r13d, %r14d, %r15d, %r8d, %r9d, %r10d, %r11d, %r12d, 3
	ROUND	%r12d, %r13d, %r14d, %r15d, %r8d, %r9d, %r10d, %r11d, 4
	ROUND	%r11d, %r12d, %r13d, %r14d, %r15d, %r8d, %r9d, %r10d, 5
	ROUND	%r10d, %r11d, %r12d, %r13d, %r14d, %r15d, %r8d, %r9d, 6
	ROUND	%r9d, %r10d, %r11d, %r12d, %r13d, %r14d, %r15d, %r8d, 7
	addl	$8, %ecx
	cmpl	$64, %ecx
	jb	3b

	# Hi += the working variables.
	leaq	bss + BSS_H(%rip), %rdi
	addl	%r8d, 0(%rdi)
	addl	%r9d, 4(%rdi)
	addl	%r10d, 8(%rdi)
	addl	%r11d, 12(%rdi)
	addl	%r12d, 16(%rdi)
	addl	%r13d, 20(%rdi)
	addl	%r14d, 24(%rdi)
	addl	%r15d, 28(%rdi)

	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	ret

# ---------------------------------------------------------------------------------------
# refuse: the digest does not match (or the parameters are unusable). Say so on COM1 and
# halt for good; the kernel is never entered.
# ---------------------------------------------------------------------------------------
refuse:
	leaq	msg_mismatch(%rip), %rsi
	cmpl	$2, %eax
	jne	1f
	leaq	msg_bad_count(%rip), %rsi
1:	call	say
halt:
.ifdef TEST
	movl	$1, %edi
	jmp	test_exit
.else
	# Interrupts stay off, so only an NMI or SMI wakes the hlt; loop back into it.
	cli
	hlt
	jmp	halt
.endif

# say: write the NUL-terminated string at %rsi to COM1. Clobbers %rax, %rsi.
say:
1:	movzbl	(%rsi), %eax
	testl	%eax, %eax
	jz	2f
	call	putc
	incq	%rsi
	jmp	1b
2:	ret

# putc: write the byte in %al to COM1. The UART is left as the old kernel's console
# driver set it up (baud, 8N1); wait (boundedly) for the transmit holding register to be
# empty, then write the byte. Where there is no UART, port reads return 0xff (THRE set)
# and the write goes nowhere. Preserves every register but the flags.
putc:
.ifdef TEST
	jmp	test_putc
.else
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	movl	$SERIAL_SPIN, %ecx
	movw	$COM1_LSR, %dx
1:	inb	%dx, %al
	testb	$LSR_THRE, %al
	jnz	2f
	pause
	decl	%ecx
	jnz	1b
2:	movq	16(%rsp), %rax		# the byte, from the saved %rax
	movw	$COM1, %dx
	outb	%al, %dx
	popq	%rdx
	popq	%rcx
	popq	%rax
	ret
.endif

# ---------------------------------------------------------------------------------------
# boot_kernel: the digest matched. Enter the kernel by the 64-bit boot protocol.
# ---------------------------------------------------------------------------------------
boot_kernel:
.ifndef TEST
	# lgdt takes a 10-byte pseudo-descriptor: a u16 limit and the GDT's u64 linear
	# address, which only exists at run time (we run wherever we were loaded), so
	# build it on the stack. The limit sits at 6(%rsp) so the base is 8-byte aligned.
	leaq	gdt(%rip), %rax
	subq	$16, %rsp
	movw	$gdt_end - gdt - 1, 6(%rsp)
	movq	%rax, 8(%rsp)
	lgdt	6(%rsp)
	addq	$16, %rsp
	# Data segments: __BOOT_DS everywhere (boot.rst asks for DS, ES and SS; FS and GS
	# get the same so no selector of the old kernel's GDT survives).
	movl	$BOOT_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	# CS can only be reloaded by a far transfer: a far return to the next
	# instruction with __BOOT_CS.
	pushq	$BOOT_CS
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:
.endif
	# The kernel entry goes on the stack so that every general-purpose register but
	# %rsi can be cleared; `ret` then jumps to it.
	movq	kernel_entry(%rip), %rax
	pushq	%rax
	movq	boot_params(%rip), %rsi
	xorl	%eax, %eax
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%edi, %edi
	xorl	%ebp, %ebp
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	xorl	%r12d, %r12d
	xorl	%r13d, %r13d
	xorl	%r14d, %r14d
	xorl	%r15d, %r15d
	# The xors set ZF and PF: leave the kernel the same all-clear flags as at entry.
	pushq	$0
	popfq
.ifdef TEST
	jmp	test_boot
.else
	ret
.endif

# ---------------------------------------------------------------------------------------
# Constants.
# ---------------------------------------------------------------------------------------
	.balign	8
# The GDT. Descriptor encodings (Intel SDM vol. 3, 3.4.5): limit 0xfffff with 4 KiB
# granularity, base 0; code: present, DPL 0, execute/read (type 0xa), L = 1 (64-bit);
# data: present, DPL 0, read/write (type 0x2), D/B = 1.
gdt:
	.quad	0			# 0x00: the null descriptor
	.quad	0			# 0x08: unused
	.quad	0x00af9a000000ffff	# 0x10: __BOOT_CS, flat 64-bit code
	.quad	0x00cf92000000ffff	# 0x18: __BOOT_DS, flat data
gdt_end:

# SHA-256 constants (FIPS 180-4 4.2.2 and 5.3.3): the first 32 bits of the fractional
# parts of the cube roots of the first 64 primes, and of the square roots of the first 8.
	.balign	4
sha256_k:
	.long	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5
	.long	0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
	.long	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3
	.long	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
	.long	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc
	.long	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
	.long	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7
	.long	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
	.long	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13
	.long	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
	.long	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3
	.long	0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
	.long	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5
	.long	0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
	.long	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208
	.long	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
sha256_iv:
	.long	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
	.long	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19

msg_mismatch:
	.asciz	"purgatory: sha256 digest mismatch\r\n"
msg_bad_count:
	.asciz	"purgatory: more than 16 digest regions\r\n"

.ifdef TEST
# ---------------------------------------------------------------------------------------
# Host test harness (only with --defsym TEST=1; linked by `build.sh --test` as a static
# Linux executable whose single segment is writable, so the parameter block and the bss
# can be written). Protocol, on stdin:
#   the bytes 0x018..0x150 of a patched image (what purgatory.rs writes there),
#   a u64 n, then n bytes that are mapped at TEST_DATA_BASE,
# so regions name addresses TEST_DATA_BASE + offset. On stdout: the 32-byte digest the
# purgatory computed, then either the refusal line (exit status 1) or, on a match,
# boot_params and the kernel entry as two u64 (the values of %rsi and of the jump
# target at the point where the real image would `ret` into the kernel; exit status 0).
# Harness failures (short read, mmap) exit with status 3 or 4.
# ---------------------------------------------------------------------------------------
	.equ	TEST_DATA_BASE, 0x200000000
	.equ	SYS_READ, 0
	.equ	SYS_WRITE, 1
	.equ	SYS_MMAP, 9
	.equ	SYS_EXIT, 60

	.globl	test_start
test_start:
	leaq	kernel_entry(%rip), %rsi
	movl	$params_end - kernel_entry, %edx
	call	test_read_full
	subq	$16, %rsp
	movq	%rsp, %rsi
	movl	$8, %edx
	call	test_read_full
	popq	%r12			# n
	addq	$8, %rsp
	testq	%r12, %r12
	jz	1f
	# mmap(TEST_DATA_BASE, n, PROT_READ | PROT_WRITE,
	#      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
	movl	$SYS_MMAP, %eax
	movabsq	$TEST_DATA_BASE, %rdi
	movq	%r12, %rsi
	movl	$3, %edx
	movl	$0x100022, %r10d
	movq	$-1, %r8
	xorl	%r9d, %r9d
	syscall
	movabsq	$TEST_DATA_BASE, %rdi
	cmpq	%rdi, %rax
	je	2f
	movl	$4, %edi
	jmp	test_exit
2:	movq	%rax, %rsi
	movq	%r12, %rdx
	call	test_read_full
1:	jmp	purgatory_start

# test_read_full: read exactly %rdx bytes from stdin to %rsi, or exit(3).
test_read_full:
1:	testq	%rdx, %rdx
	jz	2f
	pushq	%rsi
	pushq	%rdx
	movl	$SYS_READ, %eax
	xorl	%edi, %edi
	syscall
	popq	%rdx
	popq	%rsi
	testq	%rax, %rax
	jle	3f
	addq	%rax, %rsi
	subq	%rax, %rdx
	jmp	1b
2:	ret
3:	movl	$3, %edi
	jmp	test_exit

# test_write: write %rdx bytes at %rsi to stdout (a short write is a harness failure).
test_write:
	pushq	%rax
	pushq	%rcx
	pushq	%rdi
	pushq	%r11
	movl	$SYS_WRITE, %eax
	movl	$1, %edi
	syscall
	cmpq	%rdx, %rax
	je	1f
	movl	$3, %edi
	jmp	test_exit
1:	popq	%r11
	popq	%rdi
	popq	%rcx
	popq	%rax
	ret

test_report_digest:
	leaq	bss + BSS_DIGEST(%rip), %rsi
	movl	$32, %edx
	jmp	test_write

# test_putc: the serial port of the test build is stdout. Preserves every register.
test_putc:
	pushq	%rax
	pushq	%rsi
	pushq	%rdx
	leaq	16(%rsp), %rsi		# the saved %rax: its low byte is the character
	movl	$1, %edx
	call	test_write
	popq	%rdx
	popq	%rsi
	popq	%rax
	ret

# test_boot: reached with %rsi = boot_params and the kernel entry at (%rsp).
test_boot:
	pushq	%rsi
	movq	%rsp, %rsi
	movl	$16, %edx
	call	test_write
	xorl	%edi, %edi
test_exit:
	movl	$SYS_EXIT, %eax
	syscall
.endif

# The end of the file bytes. The bss starts at the next 4 KiB boundary, so the code's
# page is never written: an emulator (QEMU's TCG) throws away the translated code of a
# page on every store to it, which made the hash several times slower under TCG.
file_end:
	.set	bss, image_start + ((file_end - image_start + 0xfff) & ~0xfff)
.ifdef TEST
	# The test executable's segment must hold the bss.
	.balign	4096, 0
	.skip	BSS_SIZE
.endif
