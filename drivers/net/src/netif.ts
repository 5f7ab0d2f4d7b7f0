/**
 * The netif protocol (Xen's io/netif.h), x86_64: the transmit and receive rings' entries, their
 * flags and status codes, the extra-info slot, and the xenstore nodes of the handshake. Pure: bytes
 * in, values out. Checked against the C header by test/conformance/netif.test.ts.
 *
 *   struct netif_tx_request  { grant_ref_t gref; uint16_t offset, flags, id, size; }   12 bytes
 *   struct netif_tx_response { uint16_t id; int16_t status; }                            4 bytes
 *   struct netif_rx_request  { uint16_t id, pad; grant_ref_t gref; }                     8 bytes
 *   struct netif_rx_response { uint16_t id, offset, flags; int16_t status; }             8 bytes
 *   struct netif_extra_info  { uint8_t type, flags; union { gso, mcast, hash, pad[3] } u; } 8 bytes
 *
 * Both rings hold 256 entries in one 4 KiB page (the tx union is 12 bytes: (4096 - 64) / 12 = 336,
 * rounded down to 256; the rx union is 8 bytes: 504 → 256).
 *
 * Transmit (frontend → backend): a packet is a first request (flags NETTXF_*, size = the whole
 * packet's length), then extra-info slots if NETTXF_extra_info (each may chain another with
 * XEN_NETIF_EXTRA_FLAG_MORE), then further fragments while NETTXF_more_data (size = that
 * fragment's length); the first fragment's own length is the total minus the others. Every slot
 * consumed gets a response — NETIF_RSP_NULL for extra-info slots.
 * Receive (backend → frontend): the frontend posts empty granted pages as rx requests; the backend
 * copies a packet into them and answers each in the same ring slot with offset, flags and
 * status = bytes (or a negative NETIF_RSP_*); NETRXF_more_data chains fragments.
 */
import { ringSize, unionSize, type EntryCodec } from '@xenotype/ring';

// ------------------------------------------------------------------------------------ constants

/** Transmit request flags (NETTXF_*). */
export const NETTXF = {
  /** Protocol checksum field is blank (checksum offload). */
  csum_blank: 1 << 0,
  /** Packet data has been validated against its protocol checksum. */
  data_validated: 1 << 1,
  /** Packet continues in the next request. */
  more_data: 1 << 2,
  /** Packet is followed by extra-info slots. */
  extra_info: 1 << 3,
} as const;

/** Receive response flags (NETRXF_*). */
export const NETRXF = {
  data_validated: 1 << 0,
  csum_blank: 1 << 1,
  more_data: 1 << 2,
  extra_info: 1 << 3,
  gso_prefix: 1 << 4,
} as const;

/** Response status codes (NETIF_RSP_*); a positive rx status is the received length. */
export const NETIF_RSP = {
  DROPPED: -2,
  ERROR: -1,
  OKAY: 0,
  /** No response: the answer to an auxiliary (extra-info) slot. */
  NULL: 1,
} as const;

/** netif_extra_info types (XEN_NETIF_EXTRA_TYPE_*). */
export const XEN_NETIF_EXTRA_TYPE = {
  NONE: 0,
  GSO: 1,
  MCAST_ADD: 2,
  MCAST_DEL: 3,
  HASH: 4,
  MAX: 5,
} as const;

/** netif_extra_info flags. */
export const XEN_NETIF_EXTRA_FLAG_MORE = 1 << 0;

export const XEN_NETIF_GSO_TYPE = { NONE: 0, TCPV4: 1, TCPV6: 2 } as const;

/** Largest packet a transmit request may describe (its size field is a uint16_t). */
export const XEN_NETIF_MAX_TX_SIZE = 0xffff;
/** Slots per packet every backend must accept (older Linux's MAX_SKB_FRAGS). */
export const XEN_NETIF_NR_SLOTS_MIN = 18;
/** The page size of grants and ring slots. */
export const NETIF_PAGE_SIZE = 4096;
/** Ethernet header length: a transmitted packet shorter than this is refused (Linux's ETH_HLEN check). */
export const ETH_HLEN = 14;

// ------------------------------------------------------------------------------------ entries

export interface NetifTxRequest {
  gref: number;
  offset: number;
  flags: number;
  id: number;
  size: number;
}
export interface NetifTxResponse {
  id: number;
  status: number;
}
export interface NetifRxRequest {
  id: number;
  gref: number;
}
export interface NetifRxResponse {
  id: number;
  offset: number;
  flags: number;
  status: number;
}

/** An extra-info slot; `u` is the 6 bytes of the type-specific union. */
export interface NetifExtraInfo {
  type: number;
  flags: number;
  u: Uint8Array;
}

const s16 = (v: number): number => (v << 16) >> 16;

/** Offsets of each struct's members (what the conformance test compares with offsetof). */
export const NETIF_LAYOUT = {
  netif_tx_request: { size: 12, align: 4, fields: { gref: 0, offset: 4, flags: 6, id: 8, size: 10 } },
  netif_tx_response: { size: 4, align: 2, fields: { id: 0, status: 2 } },
  netif_rx_request: { size: 8, align: 4, fields: { id: 0, pad: 2, gref: 4 } },
  netif_rx_response: { size: 8, align: 2, fields: { id: 0, offset: 2, flags: 4, status: 6 } },
  netif_extra_info: { size: 8, align: 2, fields: { type: 0, flags: 1, u: 2 } },
} as const;

export const txRequestCodec: EntryCodec<NetifTxRequest> = {
  size: 12,
  align: 4,
  read: (m, a) => ({ gref: m.getU32(a), offset: m.getU16(a + 4), flags: m.getU16(a + 6), id: m.getU16(a + 8), size: m.getU16(a + 10) }),
  write: (m, a, v) => {
    m.setU32(a, v.gref >>> 0);
    m.setU16(a + 4, v.offset & 0xffff);
    m.setU16(a + 6, v.flags & 0xffff);
    m.setU16(a + 8, v.id & 0xffff);
    m.setU16(a + 10, v.size & 0xffff);
  },
};

export const txResponseCodec: EntryCodec<NetifTxResponse> = {
  size: 4,
  align: 2,
  read: (m, a) => ({ id: m.getU16(a), status: s16(m.getU16(a + 2)) }),
  write: (m, a, v) => {
    m.setU16(a, v.id & 0xffff);
    m.setU16(a + 2, v.status & 0xffff);
  },
};

export const rxRequestCodec: EntryCodec<NetifRxRequest> = {
  size: 8,
  align: 4,
  read: (m, a) => ({ id: m.getU16(a), gref: m.getU32(a + 4) }),
  write: (m, a, v) => {
    m.setU16(a, v.id & 0xffff);
    m.setU16(a + 2, 0);
    m.setU32(a + 4, v.gref >>> 0);
  },
};

export const rxResponseCodec: EntryCodec<NetifRxResponse> = {
  size: 8,
  align: 2,
  read: (m, a) => ({ id: m.getU16(a), offset: m.getU16(a + 2), flags: m.getU16(a + 4), status: s16(m.getU16(a + 6)) }),
  write: (m, a, v) => {
    m.setU16(a, v.id & 0xffff);
    m.setU16(a + 2, v.offset & 0xffff);
    m.setU16(a + 4, v.flags & 0xffff);
    m.setU16(a + 6, v.status & 0xffff);
  },
};

/** An extra-info slot read from (or written into) a tx request slot. */
export const extraInfoCodec: EntryCodec<NetifExtraInfo> = {
  size: 8,
  align: 2,
  read: (m, a) => ({ type: m.getU8(a), flags: m.getU8(a + 1), u: m.getBytes(a + 2, 6) }),
  write: (m, a, v) => {
    m.setU8(a, v.type & 0xff);
    m.setU8(a + 1, v.flags & 0xff);
    const u = new Uint8Array(6);
    u.set(v.u.subarray(0, 6));
    m.setBytes(a + 2, u);
  },
};

/** Reinterpret a tx request's bytes as an extra-info slot (the same 12-byte ring slot). */
export function txRequestAsExtra(r: NetifTxRequest): NetifExtraInfo {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(0, r.gref >>> 0, true);
  v.setUint16(4, r.offset, true);
  v.setUint16(6, r.flags, true);
  return { type: b[0], flags: b[1], u: b.slice(2, 8) };
}

/** The tx request slot an extra-info slot occupies (its bytes 8..11 are padding). */
export function extraAsTxRequest(e: NetifExtraInfo): NetifTxRequest {
  const b = new Uint8Array(8);
  b[0] = e.type;
  b[1] = e.flags;
  b.set(e.u.subarray(0, 6), 2);
  const v = new DataView(b.buffer);
  return { gref: v.getUint32(0, true), offset: v.getUint16(4, true), flags: v.getUint16(6, true), id: 0, size: 0 };
}

/** sizeof(union { netif_tx_request; netif_tx_response; }): 12. */
export const NETIF_TX_ENTRY_SIZE = unionSize(txRequestCodec, txResponseCodec);
/** sizeof(union { netif_rx_request; netif_rx_response; }): 8. */
export const NETIF_RX_ENTRY_SIZE = unionSize(rxRequestCodec, rxResponseCodec);
/** NET_TX_RING_SIZE = __CONST_RING_SIZE(netif_tx, 4096): 256. */
export const NET_TX_RING_SIZE = ringSize(NETIF_TX_ENTRY_SIZE);
/** NET_RX_RING_SIZE = __CONST_RING_SIZE(netif_rx, 4096): 256. */
export const NET_RX_RING_SIZE = ringSize(NETIF_RX_ENTRY_SIZE);

/** Ring options for the tx ring (entry size given explicitly: the union of 4-byte-aligned structs). */
export const TX_RING_OPTS = { entrySize: NETIF_TX_ENTRY_SIZE } as const;
export const RX_RING_OPTS = { entrySize: NETIF_RX_ENTRY_SIZE } as const;

// ------------------------------------------------------------------------------------ xenstore

/**
 * The nodes of the vif handshake (Linux xen-netfront / xen-netback, libxl_nic.c).
 *
 * Backend directory: written by the toolstack — frontend, frontend-id, online, state, script, mac,
 * bridge, handle, type, hotplug-status (empty until the hotplug step ran), optionally ip and mtu;
 * written by netback — its features, then hotplug-status = connected.
 * Frontend directory: written by the toolstack — backend, backend-id, state, handle, mac, trusted,
 * mtu (read-only to the guest); written by netfront — tx-ring-ref, rx-ring-ref, event-channel,
 * request-rx-copy, feature-rx-notify, feature-sg, ...
 */
export const VIF_NODE = {
  txRingRef: 'tx-ring-ref',
  rxRingRef: 'rx-ring-ref',
  eventChannel: 'event-channel',
  eventChannelTx: 'event-channel-tx',
  eventChannelRx: 'event-channel-rx',
  requestRxCopy: 'request-rx-copy',
  featureRxNotify: 'feature-rx-notify',
  featureSg: 'feature-sg',
  featureNoCsumOffload: 'feature-no-csum-offload',
  featureRxCopy: 'feature-rx-copy',
  featureRxFlip: 'feature-rx-flip',
  featureGsoTcpv4: 'feature-gso-tcpv4',
  featureGsoTcpv6: 'feature-gso-tcpv6',
  featureSplitEventChannels: 'feature-split-event-channels',
  featureMulticastControl: 'feature-multicast-control',
  featureCtrlRing: 'feature-ctrl-ring',
  multiQueueNumQueues: 'multi-queue-num-queues',
  mac: 'mac',
  ip: 'ip',
  bridge: 'bridge',
  mtu: 'mtu',
  handle: 'handle',
  script: 'script',
  type: 'type',
  trusted: 'trusted',
  hotplugStatus: 'hotplug-status',
  /** Our own: dom0's firewall rules for this interface (see ./firewall.ts). */
  firewall: 'firewall',
  /** Our own: counters netback publishes when dom0 writes statistics/request (see ./backend.ts). */
  statistics: 'statistics',
} as const;

/** The device type name of network interfaces in xenstore. */
export const VIF_TYPE = 'vif';

// ------------------------------------------------------------------------------------ MAC addresses

/** A MAC address in canonical form: six lower-case hex pairs joined by ':' ("00:16:3e:00:00:01"). */
export type Mac = string;

const MAC_RE = /^([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})$/;

/** A MAC address from xenstore (peer or toolstack input): canonical form, or null if malformed. */
export function parseMac(s: string | null | undefined): Mac | null {
  if (typeof s !== 'string') return null;
  const m = MAC_RE.exec(s.trim());
  return m ? m.slice(1).join(':').toLowerCase() : null;
}

export function macToBytes(mac: Mac): Uint8Array {
  const out = new Uint8Array(6);
  const parts = mac.split(':');
  for (let i = 0; i < 6; i++) out[i] = parseInt(parts[i] ?? '0', 16) & 0xff;
  return out;
}

export function macFromBytes(b: Uint8Array, off = 0): Mac {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + (b[off + i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

export const BROADCAST_MAC: Mac = 'ff:ff:ff:ff:ff:ff';

/** Group (multicast or broadcast) addresses have the low bit of the first octet set. */
export const isGroupMac = (mac: Mac): boolean => (parseInt(mac.slice(0, 2), 16) & 1) === 1;

/**
 * The MAC libxl would pick for a guest's vif, made deterministic: Xen's OUI 00:16:3e, then 23 bits
 * (the first octet's top bit clear, as libxl__device_nic_setdefault does) derived from the domid
 * and devid instead of a random UUID.
 */
export function defaultVifMac(domid: number, devid: number): Mac {
  const x = ((domid & 0x7fff) << 8) | (devid & 0xff);
  const b = [0x00, 0x16, 0x3e, (x >>> 16) & 0x7f, (x >>> 8) & 0xff, x & 0xff];
  return b.map((v) => v.toString(16).padStart(2, '0')).join(':');
}
