# A multiboot (v1) test kernel that runs the real purgatory image under QEMU, in the
# state the old kernel's relocate_kernel leaves it: 64-bit long mode, identity-mapped
# page tables, interrupts off, and a GDT and selectors that are not the boot protocol's.
# Used by kexec-image/tests/purgatory.rs (feature fixture-tests), never shipped to a
# machine.
#
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Assembled with `as --64 -I DIR --defsym PURGATORY_ENTRY=ADDR`, DIR holding
# purgatory.bin (a patched image from kexec_image::purgatory::x86_64) and blob.bin (the
# bytes its digest regions cover), linked with `ld -N -Ttext=0x100000` and made flat
# with `objcopy -O binary` (QEMU's multiboot loader takes no ELF64, hence the header's
# load addresses). QEMU enters mb_start in 32-bit protected mode, paging off.
#
# Fixed addresses (the test computes the parameters from them):
#   0x100000  this stub; fake_kernel at 0x101000
#   0x600000  the purgatory image, copied there (4 KiB aligned, as kexec_load needs)
#   0x800000  blob.bin, copied there
# The stub is loaded with both files inside it, so it must end below 0x600000: blob.bin
# stays under 4 MiB.
#
# fake_kernel stands for the kernel: it stores what it was entered with (the 15 GPRs
# rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15, then rflags, rsp, each u64; the selectors
# cs, ds, es, ss, fs, gs, each u16; then the sgdt pseudo-descriptor, u16 limit + u64
# base) and writes those 158 bytes to the debugcon port 0xe9, then ends QEMU through
# isa-debug-exit (port 0xf4) with the value 0x10, exit status 0x21.

	.equ	PURGATORY_ADDR, 0x600000
	.equ	BLOB_ADDR, 0x800000
	.equ	DEBUGCON, 0xe9
	.equ	DEBUG_EXIT, 0xf4
	.equ	MSR_EFER, 0xc0000080

	.text
	.code32
stub_start:
	# The multiboot header: magic, flags (bit 16: the load addresses are in this header,
	# so the kernel file is a flat binary), checksum, then header_addr, load_addr,
	# load_end_addr (0: the whole file), bss_end_addr (0: none), entry_addr.
	.long	0x1badb002
	.long	0x00010000
	.long	-(0x1badb002 + 0x00010000)
	.long	stub_start
	.long	stub_start
	.long	0
	.long	0
	.long	mb_start

	.globl	mb_start
mb_start:
	cli
	movl	$stack_top, %esp
	# PD: 512 entries of 2 MiB pages identity-mapping the first GiB (present, writable,
	# PS); PDPT[0] -> PD; PML4[0] -> PDPT.
	movl	$pd, %edi
	xorl	%ecx, %ecx
1:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$0x83, %eax
	movl	%eax, (%edi,%ecx,8)
	movl	$0, 4(%edi,%ecx,8)
	incl	%ecx
	cmpl	$512, %ecx
	jb	1b
	movl	$pd + 3, pdpt
	movl	$pdpt + 3, pml4
	# Long mode: CR4.PAE, CR3, EFER.LME, then CR0.PG (with PE), then a far jump into a
	# 64-bit code segment.
	movl	%cr4, %eax
	orl	$0x20, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax
	movl	%eax, %cr0
	lgdt	gdt_ptr
	ljmp	$0x08, $long_mode

	.code64
long_mode:
	# Selectors the boot protocol does not use (0x20); 0x10 and 0x18 are null in this
	# GDT, so only a purgatory that loads its own GDT gets past its segment loads.
	movl	$0x20, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	# Put the segments in place, as relocate_kernel does.
	movl	$purgatory_bin, %esi
	movl	$PURGATORY_ADDR, %edi
	movl	$purgatory_end - purgatory_bin, %ecx
	rep movsb
	movl	$blob_bin, %esi
	movl	$BLOB_ADDR, %edi
	movl	$blob_end - blob_bin, %ecx
	rep movsb
	# Enter it with every register and DF holding garbage, and the stack it must not
	# trust pointing at the top of this stub's stack.
	movabsq	$PURGATORY_ENTRY, %rax
	pushq	%rax
	movabsq	$0x5a5a5a5a5a5a5a5a, %rax
	movq	%rax, %rbx
	movq	%rax, %rcx
	movq	%rax, %rdx
	movq	%rax, %rsi
	movq	%rax, %rdi
	movq	%rax, %rbp
	movq	%rax, %r8
	movq	%rax, %r9
	movq	%rax, %r10
	movq	%rax, %r11
	movq	%rax, %r12
	movq	%rax, %r13
	movq	%rax, %r14
	movq	%rax, %r15
	std
	ret

	# .org is relative to the section, which starts at stub_start = 0x100000.
	.org	0x1000
fake_kernel:
	movq	%rax, save
	movq	%rbx, save + 8
	movq	%rcx, save + 16
	movq	%rdx, save + 24
	movq	%rsi, save + 32
	movq	%rdi, save + 40
	movq	%rbp, save + 48
	movq	%r8, save + 56
	movq	%r9, save + 64
	movq	%r10, save + 72
	movq	%r11, save + 80
	movq	%r12, save + 88
	movq	%r13, save + 96
	movq	%r14, save + 104
	movq	%r15, save + 112
	pushfq
	popq	%rax
	movq	%rax, save + 120
	movq	%rsp, save + 128
	movw	%cs, save + 136
	movw	%ds, save + 138
	movw	%es, save + 140
	movw	%ss, save + 142
	movw	%fs, save + 144
	movw	%gs, save + 146
	sgdt	save + 148
	cld
	movl	$save, %esi
	movl	$158, %ecx
	movw	$DEBUGCON, %dx
	rep outsb
	movb	$0x10, %al
	movw	$DEBUG_EXIT, %dx
	outb	%al, %dx
2:	hlt
	jmp	2b

	.balign	8
gdt:
	.quad	0			# 0x00 null
	.quad	0x00af9a000000ffff	# 0x08 64-bit code
	.quad	0			# 0x10 null: not __BOOT_CS here
	.quad	0			# 0x18 null: not __BOOT_DS here
	.quad	0x00cf92000000ffff	# 0x20 data
gdt_end:
gdt_ptr:
	.word	gdt_end - gdt - 1
	.long	gdt
save:
	.fill	160, 1, 0

purgatory_bin:
	.incbin	"purgatory.bin"
purgatory_end:
blob_bin:
	.incbin	"blob.bin"
blob_end:

	.balign	4096
pml4:	.fill	4096, 1, 0
pdpt:	.fill	4096, 1, 0
pd:	.fill	4096, 1, 0
	.fill	4096, 1, 0
stack_top:
