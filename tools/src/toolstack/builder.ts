/**
 * The domain builder (libxl + xc_dom's role), run in dom0 through Xc only:
 * create the domain, set its reservation, populate its memory, load the kernel image, write
 * start_info (console and xenstore rings and their event channels), seed the reserved grant entries
 * 0 (console) and 1 (xenstore) as xc_dom_gnttab_seed does, give vCPU 0 its registers, and unpause.
 * The layout is core's BOOT_GFN convention; other vCPUs are brought up by the guest itself.
 */
import {
  BOOT_GFN,
  GNTTAB_RESERVED_CONSOLE,
  GNTTAB_RESERVED_XENSTORE,
  GTF,
  KERNEL_ENTRY,
  START_INFO_ADDR,
  START_INFO_MAGIC,
  XENMAPSPACE,
  abi,
  encodeKernelImage,
} from '@xenotype/core';
import type { Xc } from '../xc/xc';
import { announceDomain, destroyDomain } from './announce';

export interface DomainSpec {
  name: string;
  memoryMiB: number;
  vcpus: number;
  /** Registered kernel name, e.g. "minios-cpuhog". */
  kernel: string;
  /** Kernel command line; a function receives the new domid (to pass ports prepared for it). */
  cmdline?: string | ((domid: number) => string);
  /** Request this domid (as xl's domid= does); by default the next free one. */
  domid?: number;
  cpupool?: number;
  /** The domain's handle (UUID, 16 bytes), given at createdomain as xl does. */
  handle?: Uint8Array;
  /** Leave the domain paused after building it. */
  paused?: boolean;
  maxEvtchnPort?: number;
  /** Domain that serves the console and xenstore rings (dom0). */
  backendDomid?: number;
  /** XEN_DOMCTL_CDF_* flags for createdomain (hvm: real code on a hardware backend). */
  flags?: number;
  /**
   * Load a real kernel instead of naming a registered TypeScript one: write its image and its
   * start-of-day page tables into the new domain's memory (through dom0's foreign mappings).
   */
  loader?: KernelLoad;
}

/** What a kernel loader did: where to start, and the page tables it built (start_info's pt_base). */
export interface LoadedKernel {
  rip: number;
  cr3: number;
  ptBase: number;
  ptFrames: number;
}
export type KernelLoad = (xc: Xc, domid: number, nrPages: number) => LoadedKernel;

export interface BuiltDomain {
  domid: number;
  name: string;
  consoleEvtchn: number;
  storeEvtchn: number;
  nrPages: number;
}

/** A gfn outside the guest's RAM where the builder briefly maps its first grant frame. */
const GNTTAB_SEED_OFFSET = 8;

export function buildDomain(xc: Xc, spec: DomainSpec): BuiltDomain {
  const nrPages = spec.memoryMiB * 256;
  if (!(Number.isInteger(nrPages) && nrPages > BOOT_GFN.firstFree)) throw new RangeError(`${spec.name}: memory too small`);
  const backend = spec.backendDomid ?? 0;
  const domid = xc.domainCreate({ maxVcpus: spec.vcpus, cpupool: spec.cpupool, maxEvtchnPort: spec.maxEvtchnPort, domid: spec.domid, handle: spec.handle, flags: spec.flags });
  try {
    xc.domainMaxMem(domid, nrPages * 4);
    const gfns = Array.from({ length: nrPages }, (_, i) => i);
    const done = xc.populatePhysmap(domid, gfns);
    if (done !== nrPages) throw new Error(`${spec.name}: could populate only ${done} of ${nrPages} pages`);

    const consoleEvtchn = xc.evtchnAllocUnbound(domid, backend);
    const storeEvtchn = xc.evtchnAllocUnbound(domid, backend);
    const cmdline = typeof spec.cmdline === 'function' ? spec.cmdline(domid) : (spec.cmdline ?? '');
    const loaded = spec.loader?.(xc, domid, nrPages);

    const [kernel, si, con, store] = xc.mapForeign(domid, [BOOT_GFN.kernel, BOOT_GFN.startInfo, BOOT_GFN.console, BOOT_GFN.xenstore]);
    const mem = xc.os.cpu.mem;
    try {
      if (!loaded) mem.setBytes(kernel, encodeKernelImage(spec.kernel));
      abi.start_info.init(mem, si, {
        nr_pages: nrPages,
        flags: 0,
        store_mfn: BOOT_GFN.xenstore, // a gfn: the guest is auto-translated
        store_evtchn: storeEvtchn,
        console_mfn: BOOT_GFN.console,
        console_evtchn: consoleEvtchn,
        pt_base: loaded?.ptBase ?? BOOT_GFN.firstFree * 4096,
        nr_pt_frames: loaded?.ptFrames ?? 0,
      });
      mem.setBytes(si, new TextEncoder().encode(START_INFO_MAGIC));
      const cmd = new TextEncoder().encode(cmdline).subarray(0, 1023);
      mem.setBytes(si + abi.START_INFO_CMDLINE, cmd);
      mem.setBytes(con, new Uint8Array(4096));
      mem.setBytes(store, new Uint8Array(4096));
    } finally {
      xc.unmapForeign([kernel, si, con, store]);
    }

    seedGrants(xc, domid, nrPages + GNTTAB_SEED_OFFSET, backend);
    void KERNEL_ENTRY;
    xc.setVcpuContext(domid, 0, { rip: loaded?.rip ?? KERNEL_ENTRY, rsi: START_INFO_ADDR, cr3: loaded?.cr3 });
    announceDomain(xc, { domid, name: spec.name, consoleEvtchn, storeEvtchn, consoleBackend: backend });
    if (!spec.paused) xc.domainUnpause(domid);
    return { domid, name: spec.name, consoleEvtchn, storeEvtchn, nrPages };
  } catch (e) {
    destroyDomain(xc, domid); // listeners drop what they mapped first
    throw e;
  }
}

/** xc_dom_gnttab_seed: grant the console and xenstore pages to the backend domain. */
function seedGrants(xc: Xc, domid: number, scratchGfn: number, backend: number): void {
  xc.addToPhysmap(domid, XENMAPSPACE.grant_table, 0, scratchGfn);
  const [gt] = xc.mapForeign(domid, [scratchGfn]);
  const mem = xc.os.cpu.mem;
  try {
    const E = abi.grant_entry_v1;
    E.write(mem, gt + GNTTAB_RESERVED_CONSOLE * E.size, { domid: backend, frame: BOOT_GFN.console, flags: GTF.permit_access });
    E.write(mem, gt + GNTTAB_RESERVED_XENSTORE * E.size, { domid: backend, frame: BOOT_GFN.xenstore, flags: GTF.permit_access });
  } finally {
    xc.unmapForeign([gt]);
  }
  xc.removeFromPhysmap(domid, scratchGfn);
}
