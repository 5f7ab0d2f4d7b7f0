/**
 * Network interfaces, the toolstack's side (libxl_nic.c's role): add a vif to a guest with libxl's
 * xenstore layout and permissions, remove it, and install the virtual firewall-router's rules for
 * it — all as xenstore writes from dom0; the backend (netback, in a driver domain or dom0) and the
 * frontend find everything there.
 *
 * What `nicAdd` writes (libxl__set_xenstore_nic, through @xenotype/xenbus deviceAdd):
 *   backend  /local/domain/<be>/backend/vif/<fe>/<devid>:  frontend, frontend-id, online = 1,
 *            state = 1, script, mac, [ip], [mtu if not 1500], bridge, handle, type = vif,
 *            hotplug-status = "" (netback's hotplug step writes "connected")
 *   frontend /local/domain/<fe>/device/vif/<devid>:  backend, backend-id, state = 1, handle, mac,
 *            trusted; and mtu, read-only to the guest (libxl's ro_front)
 *   libxl    /libxl/<fe>/device/vif/<devid>: frontend, backend and the backend's entries
 * MACs default to Xen's OUI 00:16:3e with the rest derived from (domid, devid) — libxl draws them
 * from a random UUID; ours are deterministic so runs reproduce.
 *
 * Firewall rules are nodes under the backend directory (the format is in @xenotype/net's
 * firewall.ts): `setFirewall` replaces one direction's rules and policy in one transaction.
 * Counters come back the same way: `vifStatistics` writes statistics/request and waits for netback
 * to publish its counters and statistics/answered (the format is in netback's publishStatistics).
 */
import { DIRECTIONS, VIF_NODE, VIF_TYPE, defaultVifMac, formatRule, parseMac, type Direction, type Mac, type Policy, type Rule } from '@xenotype/net';
import { XenstoreError, deviceAdd, deviceRemove, rmIfPresent, transaction, watchUntil, type Co, type DevicePaths, type XenstoreCap } from '@xenotype/xenbus';

/** libxl's defaults (LIBXL_DEVICE_NIC_MTU_DEFAULT, xenbr0, the vif-bridge script). */
export const NIC_DEFAULTS = { bridge: 'xenbr0', mtu: 1500, script: '/etc/xen/scripts/vif-bridge' } as const;

export interface NicSpec {
  /** The guest. */
  domid: number;
  devid?: number;
  /** The domain running netback (a driver domain, or dom0). */
  backendDomid?: number;
  mac?: Mac;
  bridge?: string;
  /** Addresses the guest may send from (space-separated IPv4), enforced by anti-spoofing. */
  ip?: string;
  mtu?: number;
  script?: string;
  trusted?: boolean;
}

export interface NicAdded extends DevicePaths {
  mac: Mac;
  devid: number;
}

/** Add a vif (libxl_device_nic_add's xenstore part). */
export function* nicAdd(xs: XenstoreCap, n: NicSpec): Co<NicAdded> {
  const devid = n.devid ?? 0;
  const mac = n.mac === undefined ? defaultVifMac(n.domid, devid) : parseMac(n.mac);
  if (!mac) throw new RangeError(`vif ${n.domid}/${devid}: bad mac "${n.mac}"`);
  const mtu = n.mtu ?? NIC_DEFAULTS.mtu;
  const backend: Record<string, string | number> = { [VIF_NODE.script]: n.script ?? NIC_DEFAULTS.script, [VIF_NODE.mac]: mac };
  if (n.ip) backend[VIF_NODE.ip] = n.ip;
  if (mtu !== NIC_DEFAULTS.mtu) backend[VIF_NODE.mtu] = mtu;
  Object.assign(backend, { [VIF_NODE.bridge]: n.bridge ?? NIC_DEFAULTS.bridge, [VIF_NODE.handle]: devid, [VIF_NODE.type]: VIF_TYPE, [VIF_NODE.hotplugStatus]: '' });
  const paths = yield* deviceAdd(xs, {
    type: VIF_TYPE,
    devid,
    frontendDomid: n.domid,
    backendDomid: n.backendDomid ?? 0,
    backend,
    frontend: { [VIF_NODE.handle]: devid, [VIF_NODE.mac]: mac, [VIF_NODE.trusted]: n.trusted === false ? 0 : 1 },
    frontendReadOnly: { [VIF_NODE.mtu]: mtu },
  });
  return { ...paths, mac, devid };
}

/** Remove a vif's directories (the backend sees its directory vanish and lets go). */
export function* nicRemove(xs: XenstoreCap, n: Pick<NicSpec, 'domid' | 'devid' | 'backendDomid'>): Co<void> {
  yield* deviceRemove(xs, { type: VIF_TYPE, devid: n.devid ?? 0, frontendDomid: n.domid, backendDomid: n.backendDomid ?? 0 });
}

/** The backend directory of a vif. */
export const vifBackendPath = (n: Pick<NicSpec, 'domid' | 'devid' | 'backendDomid'>): string => `/local/domain/${n.backendDomid ?? 0}/backend/${VIF_TYPE}/${n.domid}/${n.devid ?? 0}`;

/**
 * Replace one direction's firewall rules and policy for a vif, in one transaction (netback
 * re-reads them on the change). Rules are values or their text form ("drop proto=udp dport=53").
 */
export function* setFirewall(xs: XenstoreCap, n: Pick<NicSpec, 'domid' | 'devid' | 'backendDomid'>, dir: Direction, rules: readonly (Rule | string)[], policy: Policy = 'accept'): Co<void> {
  if (!DIRECTIONS.includes(dir)) throw new RangeError(`direction must be out or in, not "${dir}"`);
  const base = `${vifBackendPath(n)}/${VIF_NODE.firewall}/${dir}`;
  yield* transaction(xs, function* (tx) {
    yield* rmIfPresent(xs, base, tx);
    yield* xs.write(`${base}/policy`, policy, tx);
    let i = 0;
    for (const r of rules) yield* xs.write(`${base}/${i++}`, typeof r === 'string' ? r : formatRule(r), tx);
  });
}

/** Turn anti-spoofing off (or back on) for a vif. */
export function* setAntispoof(xs: XenstoreCap, n: Pick<NicSpec, 'domid' | 'devid' | 'backendDomid'>, on: boolean): Co<void> {
  try {
    yield* xs.write(`${vifBackendPath(n)}/${VIF_NODE.firewall}/antispoof`, on ? '1' : '0');
  } catch (e) {
    if (e instanceof XenstoreError && e.code === 'ENOENT') throw new RangeError(`no vif ${n.domid}/${n.devid ?? 0}`);
    throw e;
  }
}

export interface Counter {
  packets: number;
  bytes: number;
}

export interface VifStatistics {
  txPackets: number;
  txBytes: number;
  txErrors: number;
  rxPackets: number;
  rxBytes: number;
  rxDropNoBuffer: number;
  rxDropTooBig: number;
  rxErrors: number;
  /** The bridge port's drops, "out:<reason>" / "in:<reason>" → count. */
  drops: Record<string, number>;
  rules: Record<Direction, { rules: Counter[]; policy: Counter }>;
}

let statsRequests = 0;

/**
 * Ask netback for a vif's counters (traffic, drops by reason, every rule's and each policy's
 * packets and bytes) through xenstore; null if it has not answered by `deadline` (dom0's time).
 */
export function* vifStatistics(xs: XenstoreCap, n: Pick<NicSpec, 'domid' | 'devid' | 'backendDomid'>, deadline?: number): Co<VifStatistics | null> {
  const base = `${vifBackendPath(n)}/${VIF_NODE.statistics}`;
  const token = `dom0-${++statsRequests}`;
  yield* xs.write(`${base}/request`, token);
  const answered = yield* watchUntil(
    xs,
    `${base}/answered`,
    function* () {
      return (yield* xs.read(`${base}/answered`)) === token ? true : undefined;
    },
    deadline,
  );
  if (!answered) return null;
  const nums = (v: string | null): number[] => (v ?? '').split(' ').filter(Boolean).map(Number);
  return yield* transaction(xs, function* (tx) {
    const v = nums(yield* xs.read(`${base}/vif`, tx));
    const drops: Record<string, number> = {};
    for (const w of ((yield* xs.read(`${base}/drops`, tx)) ?? '').split(' ').filter(Boolean)) {
      const [k, c] = w.split('=');
      drops[k] = Number(c);
    }
    const rules = {} as VifStatistics['rules'];
    for (const d of DIRECTIONS) {
      let names: string[] = [];
      try {
        names = yield* xs.directory(`${base}/${d}`, tx);
      } catch (e) {
        if (!(e instanceof XenstoreError && e.code === 'ENOENT')) throw e;
      }
      const counter = function* (name: string): Co<Counter> {
        const [packets = 0, bytes = 0] = nums(yield* xs.read(`${base}/${d}/${name}`, tx));
        return { packets, bytes };
      };
      const list: Counter[] = [];
      for (const i of names.filter((x) => /^\d+$/.test(x)).map(Number).sort((a, b) => a - b)) list.push(yield* counter(String(i)));
      rules[d] = { rules: list, policy: names.includes('policy') ? yield* counter('policy') : { packets: 0, bytes: 0 } };
    }
    const [txPackets = 0, txBytes = 0, txErrors = 0, rxPackets = 0, rxBytes = 0, rxDropNoBuffer = 0, rxDropTooBig = 0, rxErrors = 0] = v;
    return { txPackets, txBytes, txErrors, rxPackets, rxBytes, rxDropNoBuffer, rxDropTooBig, rxErrors, drops, rules };
  });
}
