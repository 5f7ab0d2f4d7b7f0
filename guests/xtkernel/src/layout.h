/* xtkernel's fixed addresses and selectors (shared by entry.S and C). */
#ifndef XT_LAYOUT_H
#define XT_LAYOUT_H

#define KERNEL_BASE 0x100000
/* The TSS sits at a fixed address (tss.c places it there), so the GDT can be static. */
#define TSS_ADDR 0x0ff000
/* The TSS's I/O permission bitmap (at offset 104) opens ports 0-255 to ring 3: that is how ring 3
 * calls the hypercall page (`out` to the hypercall port). IOPL 3 would too, but this host's PVM
 * does not keep a ring-3 IOPL across exits; it does honour the bitmap. Ports >= 256 stay closed. */
#define TSS_IOMAP 104
#define TSS_LIMIT (TSS_IOMAP + 32)

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS 0x18
#define USER_CS 0x20
#define TSS_SEL 0x28

#define LAPIC_BASE 0xfee00000
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0

/* The per-vCPU event-channel upcall vector (HVMOP_set_evtchn_upcall_vector). */
#define UPCALL_VECTOR 0xf3
#define SPURIOUS_VECTOR 0xff

#endif
