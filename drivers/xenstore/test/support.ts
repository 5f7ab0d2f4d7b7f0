/** Test helpers: a server with dom0 (socket) and introduced guests, and a compact request DSL. */
import { XS, XenstoreServer, bstr, type Connection, type DomainLink, type Quotas, type XsMessage } from '../src/index';

export const T = XS;
const NAMES: Record<number, string> = Object.fromEntries(Object.entries(XS).map(([k, v]) => [v, k]));

/** One message as a short string: "OK", "ERR EACCES", "EV path token", or "<TYPE> payload". */
export function fmt(m: XsMessage): string {
  const p = bstr(m.payload);
  if (m.type === XS.ERROR) return `ERR ${p.replace(/\0$/, '')}`;
  if (m.type === XS.WATCH_EVENT) return `EV ${p.split('\0').slice(0, 2).join(' ')}`;
  if (p === 'OK\0') return 'OK';
  return `${NAMES[m.type] ?? m.type} ${JSON.stringify(p)}`;
}

export interface World {
  s: XenstoreServer;
  dom0: Connection;
  guest(domid: number): Connection;
  links: string[];
  alive: Set<number>;
  /** Send a request on `c`; what `c` got back, formatted. */
  rq(c: Connection, type: number, payload: string, tx?: number): string[];
  /** Everything queued on `c` so far, formatted. */
  got(c: Connection): string[];
}

export function world(opts: { guests?: number[]; quotas?: Partial<Quotas>; alive?: number[] } = {}): World {
  const links: string[] = [];
  const alive = new Set<number>([0, ...(opts.guests ?? [5, 6]), ...(opts.alive ?? [])]);
  const s = new XenstoreServer(
    {
      domainInfo: (d) => (alive.has(d) ? { dying: false, shutdown: false } : null),
      introduce: (d): DomainLink => ({
        reset: () => links.push(`reset ${d}`),
        rebind: (p) => links.push(`rebind ${d} ${p}`),
        error: (c) => links.push(`error ${d} ${c}`),
        close: () => links.push(`close ${d}`),
      }),
    },
    opts.quotas,
  );
  const dom0 = s.connect();
  const rq = (c: Connection, type: number, payload: string, tx = 0) => s.request(c, type, payload, tx, 1).map(fmt);
  for (const g of opts.guests ?? [5, 6]) {
    const r = rq(dom0, XS.INTRODUCE, `${g}\0${4}\0${10 + g}\0`);
    if (r[0] !== 'OK') throw new Error(`introduce ${g}: ${r}`);
  }
  return {
    s,
    dom0,
    guest: (d) => s.domainConnection(d)!,
    links,
    alive,
    rq,
    got: (c) => c.take().map(fmt),
  };
}
