/*
 * xtkernel's ring 0: everything this kernel ever executes in ring 0 is in this file (plus
 * fatal() on the way down). On this host ring 0 is emulated one instruction at a time
 * (~1 µs each), so it is kept to a boot path of ~25 instructions and interrupt stubs of 6.
 *
 * Boot protocol (the VMM's start of day, Xen PV style): 64-bit mode, ring 0, CS=0x08, DS=SS=0x10
 * as cached descriptors, paging on with CR3 = start_info.pt_base (the domain builder's identity
 * map of the first GiB in 2 MiB user-accessible pages, and the LAPIC page), RSI = start_info,
 * interrupts off. We load our GDT, TSS and (empty) IDT, ask for the hypercall page through MSR
 * 0x40000000 as Xen guests do, enable the LAPIC, and drop to ring 3 with IOPL 3 and interrupts
 * still off. Ring 3 does the rest at native speed: it fills the IDT, registers the upcall
 * vector, and makes hypercalls by calling the hypercall page (IOPL 3 lets its `out` run there).
 */
#include "layout.h"

    .section .text.boot, "ax"
    .code64
    .globl _start
_start:
    lea     boot_stack_top(%rip), %rsp
    mov     %rsi, %r12
    lgdt    gdt_desc(%rip)
    mov     $KERNEL_DS, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    pushq   $KERNEL_CS
    lea     1f(%rip), %rax
    push    %rax
    lretq
1:  mov     $TSS_SEL, %eax
    ltr     %ax
    lidt    idt_desc(%rip)
    lea     hypercall_page(%rip), %rax
    xor     %edx, %edx
    mov     $0x40000000, %ecx
    wrmsr
    mov     $(LAPIC_BASE + LAPIC_SVR), %eax
    movl    $0x1ff, (%rax)
    pushq   $(USER_DS | 3)
    lea     user_stack_top(%rip), %rax
    push    %rax
    pushq   $0x3202                 /* IOPL 3, IF 1 (no interrupt comes before the upcall vector is set) */
    pushq   $(USER_CS | 3)
    lea     xt_main(%rip), %rax
    push    %rax
    mov     %r12, %rdi
    iretq

/* The per-vCPU upcall vector: count it, EOI the LAPIC, return. Ring 3 scans the bitmaps. */
    .globl upcall_entry
upcall_entry:
    push    %rax
    incq    upcall_count(%rip)
    mov     $(LAPIC_BASE + LAPIC_EOI), %eax
    movl    $0, (%rax)
    pop     %rax
    iretq

    .globl spurious_entry
spurious_entry:
    iretq

/* Exceptions: fatal. Push a dummy error code where the CPU pushes none, then the vector. */
.macro EXC vec, err
    .globl exc_\vec
exc_\vec:
    .if \err == 0
    pushq   $0
    .endif
    pushq   $\vec
    jmp     exc_common
.endm
    EXC 0,0
    EXC 1,0
    EXC 2,0
    EXC 3,0
    EXC 4,0
    EXC 5,0
    EXC 6,0
    EXC 7,0
    EXC 8,1
    EXC 9,0
    EXC 10,1
    EXC 11,1
    EXC 12,1
    EXC 13,1
    EXC 14,1
    EXC 15,0
    EXC 16,0
    EXC 17,1
    EXC 18,0
    EXC 19,0
exc_common:
    mov     %rsp, %rdi
    and     $-16, %rsp
    call    fatal_exception         /* never returns: it shuts the domain down */
2:  jmp     2b

    .section .data
    .balign 16
gdt:
    .quad   0
    .quad   0x00af9a000000ffff      /* 0x08 kernel code, 64-bit */
    .quad   0x00cf92000000ffff      /* 0x10 kernel data */
    .quad   0x00cff2000000ffff      /* 0x18 user data */
    .quad   0x00affa000000ffff      /* 0x20 user code, 64-bit */
    /* 0x28 TSS: base TSS_ADDR, limit TSS_LIMIT (with its I/O bitmap), type 0x89 (available 64-bit TSS) */
    .quad   0x0000890000000000 | TSS_LIMIT | ((TSS_ADDR & 0xffffff) << 16) | (((TSS_ADDR >> 24) & 0xff) << 56)
    .quad   0
gdt_end:
gdt_desc:
    .word   gdt_end - gdt - 1
    .quad   gdt
idt_desc:
    .word   256 * 16 - 1
    .quad   idt

    .globl exc_table
exc_table:
    .quad   exc_0, exc_1, exc_2, exc_3, exc_4, exc_5, exc_6, exc_7, exc_8, exc_9
    .quad   exc_10, exc_11, exc_12, exc_13, exc_14, exc_15, exc_16, exc_17, exc_18, exc_19

    .section .bss
    .balign 4096
    .globl hypercall_page
hypercall_page:
    .fill   4096, 1, 0
    .globl idt
idt:
    .fill   4096, 1, 0
    .fill   8192, 1, 0              /* boot stack */
boot_stack_top:
    .fill   16384, 1, 0             /* interrupt stack (TSS rsp0) */
    .globl intr_stack_top
intr_stack_top:
    .fill   262144, 1, 0            /* ring-3 stack */
user_stack_top:
    .balign 8
    .globl upcall_count
upcall_count:
    .quad   0
