/**
 * The toolstack's xenstore steps (libxl's role), run in dom0 after the domain builder:
 * `introduceDomain` writes /local/domain/<id> with the layout and permissions libxl gives it —
 * the directory owned by dom0 and readable by the guest, its private subdirectories (data, drivers,
 * feature, attr, error, control/shutdown) owned by the guest — records the store and console rings,
 * and sends INTRODUCE so xenstored maps the guest's ring and binds its event channel.
 * `releaseDomain` is the destroy side: remove /local/domain/<id>, then destroy the domain (xenstored
 * notices through VIRQ_DOM_EXC, drops the guest's own nodes and fires @releaseDomain).
 */
import { BOOT_GFN } from '@xenotype/core';
import { XS, cstrings, bstr } from '@xenotype/xenstore';
import { XenstoreError, type XsPerm } from '@xenotype/xenbus';
import type { ThreadOp } from '@xenotype/minios';
import type { XsClientBase } from '@xenotype/xenstore';
import { buildDomain, type BuiltDomain, type DomainSpec } from './builder';
import type { Xc } from '../xc/xc';

export const domainPath = (domid: number): string => `/local/domain/${domid}`;

export function* introduceDomain(xs: XsClientBase<ThreadOp>, b: BuiltDomain, backend = 0): Generator<ThreadOp, void, void> {
  const dom = domainPath(b.domid);
  const ro: XsPerm[] = [{ perm: 'n', domid: backend }, { perm: 'r', domid: b.domid }];
  const rw: XsPerm[] = [{ perm: 'n', domid: b.domid }];
  yield* xs.transaction(function* (tx) {
    yield* xs.mkdir(dom, tx);
    yield* xs.setPerms(dom, ro, tx);
    yield* xs.write(`${dom}/name`, b.name, tx);
    yield* xs.write(`${dom}/domid`, String(b.domid), tx);
    for (const d of ['cpu', 'memory', 'device', 'control']) {
      yield* xs.mkdir(`${dom}/${d}`, tx);
      yield* xs.setPerms(`${dom}/${d}`, ro, tx);
    }
    yield* xs.write(`${dom}/memory/target`, String(b.nrPages * 4), tx);
    for (const d of ['data', 'drivers', 'feature', 'attr', 'error', 'control/shutdown']) {
      yield* xs.mkdir(`${dom}/${d}`, tx);
      yield* xs.setPerms(`${dom}/${d}`, rw, tx);
    }
    yield* xs.write(`${dom}/store/port`, String(b.storeEvtchn), tx);
    yield* xs.write(`${dom}/store/ring-ref`, String(BOOT_GFN.xenstore), tx);
    yield* xs.write(`${dom}/console/port`, String(b.consoleEvtchn), tx);
    yield* xs.write(`${dom}/console/ring-ref`, String(BOOT_GFN.console), tx);
    yield* xs.write(`${dom}/console/type`, 'xenconsoled', tx);
  });
  const r = yield* xs.raw(XS.INTRODUCE, cstrings(String(b.domid), String(BOOT_GFN.xenstore), String(b.storeEvtchn)));
  if (r.type === XS.ERROR) throw new XenstoreError(bstr(r.payload).replace(/\0.*$/s, ''), 'INTRODUCE');
}

/** Remove the domain's xenstore directory and destroy it. */
export function* releaseDomain(xs: XsClientBase<ThreadOp>, xc: Xc, domid: number): Generator<ThreadOp, void, void> {
  yield* xs.rm(domainPath(domid));
  xc.domainDestroy(domid);
}

/**
 * Build a domain paused, introduce it to xenstored, then unpause it (unless `spec.paused`), as
 * libxl does: the guest's first xenstore request finds the daemon listening.
 */
export function* createDomain(xc: Xc, xs: XsClientBase<ThreadOp>, spec: DomainSpec): Generator<ThreadOp, BuiltDomain, void> {
  const b = buildDomain(xc, { ...spec, paused: true });
  try {
    yield* introduceDomain(xs, b, spec.backendDomid ?? 0);
  } catch (e) {
    xc.domainDestroy(b.domid);
    throw e;
  }
  if (!spec.paused) xc.domainUnpause(b.domid);
  return b;
}
