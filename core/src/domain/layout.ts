/**
 * Where a domain builder puts things in a new domain's guest-physical memory. Xen's own dom0
 * builder (in the hypervisor) and the toolstack's domU builder both follow it, and the guest runtime
 * reads it back from start_info; it is a convention of xenotype's builders, not of Xen's ABI.
 *
 *   gfn 0          unused (a guard page)
 *   gfn 1          kernel image; vCPUs start at rip = 0x1000
 *   gfn 2          start_info; rsi = 0x2000 at entry (the PV convention)
 *   gfn 3          PV console ring (domU)
 *   gfn 4          xenstore ring (domU)
 *   gfn 5..        free memory; start_info.pt_base + nr_pt_frames pages points here, so a guest
 *                  finds its first free frame as Mini-OS does
 */
export const BOOT_GFN = {
  kernel: 1,
  startInfo: 2,
  console: 3,
  xenstore: 4,
  firstFree: 5,
} as const;
export const KERNEL_ENTRY = BOOT_GFN.kernel * 4096;
export const START_INFO_ADDR = BOOT_GFN.startInfo * 4096;
/** start_info.magic for a 64-bit guest. */
export const START_INFO_MAGIC = 'xen-3.0-x86_64';
