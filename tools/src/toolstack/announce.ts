/**
 * Domain introduction and release between dom0 programs, in process.
 *
 * In Xen the toolstack tells xenstored (XS_INTRODUCE / XS_RELEASE) and other daemons learn of
 * domains from its @introduceDomain / @releaseDomain watch events — xenconsoled then reads
 * /local/domain/<d>/console/{port,ring-ref}. Until our console daemon watches xenstore, the
 * toolstack notifies dom0's listeners directly: the domain builder announces every domain it
 * builds (before unpausing it), and `destroyDomain` announces a release before destroying, so a
 * listener can drop its mappings of the domain's pages first (otherwise the domain would stay a
 * zombie until they go). Listeners run synchronously in the calling dom0 thread and must not throw.
 *
 * Listeners are keyed by dom0's kernel (one dom0 per host), never global.
 */
import type { MiniOS } from '@xenotype/minios';
import type { Xc } from '../xc/xc';

export interface AnnouncedDomain {
  domid: number;
  name: string;
  /** The guest's end of its console event channel (unbound, for the console backend to bind). */
  consoleEvtchn: number;
  storeEvtchn: number;
  /** The domain serving its console and xenstore rings (granted entries 0 and 1). */
  consoleBackend: number;
}

export interface DomainListener {
  introduced?(d: AnnouncedDomain): void;
  released?(domid: number): void;
}

const listeners = new WeakMap<MiniOS, Set<DomainListener>>();

/** Listen for domains introduced and released in this dom0; returns the way to stop. */
export function listenForDomains(dom0: MiniOS, l: DomainListener): () => void {
  let set = listeners.get(dom0);
  if (!set) listeners.set(dom0, (set = new Set()));
  set.add(l);
  return () => set.delete(l);
}

/** Tell dom0's listeners about a new domain (the builder calls this). */
export function announceDomain(xc: Xc, d: AnnouncedDomain): void {
  for (const l of listeners.get(xc.os) ?? []) l.introduced?.(d);
}

/** Tell dom0's listeners a domain is going, then destroy it (XEN_DOMCTL_destroydomain). */
export function destroyDomain(xc: Xc, domid: number): void {
  for (const l of listeners.get(xc.os) ?? []) l.released?.(domid);
  xc.domainDestroy(domid);
}
