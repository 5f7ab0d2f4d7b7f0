/**
 * The virtual firewall-router's rules (SOSP'03 §3.3.5; Xen 1.0's net rules): per interface and per
 * direction, an ordered list of (pattern, action) rules installed by dom0, first match wins, then
 * the direction's default policy. Pure: rules are values, matching is a function of a parsed frame.
 *
 * A pattern matches on
 *   proto   any | ip | tcp | udp | icmp | arp   (ip: any IPv4 packet; arp: Ethernet/IPv4 ARP)
 *   src/dst IPv4 address under a mask ("10.0.0.0/8", "10.1.2.3", "10.0.0.0/255.0.0.0"); for ARP
 *           the sender and target protocol addresses
 *   sport/dport  a port or an inclusive range ("53", "1024-65535"); TCP and UDP only
 * A field the rule leaves out matches anything; a field the rule sets never matches a frame that
 * lacks it (a port rule never matches ICMP, ARP or a non-first IPv4 fragment).
 * Actions: accept and drop end the walk; count (the paper's COUNT) counts and goes on.
 *
 * Directions are the guest's: `out` rules see frames the guest transmits (its tx ring, before they
 * enter the bridge), `in` rules see frames about to be delivered to it (its rx ring).
 *
 * How dom0 installs them: as xenstore nodes under the vif's backend directory, which netback
 * watches (the backend directory is the driver domain's, dom0 may write anywhere, the guest may
 * only read):
 *
 *   <backend>/firewall/<dir>/policy = accept | drop          (default accept)
 *   <backend>/firewall/<dir>/<n>    = "<action> [proto=P] [src=A] [dst=A] [sport=R] [dport=R]"
 *   <backend>/firewall/antispoof    = 1 | 0                  (default 1; see ./bridge.ts)
 *
 * with <dir> `out` or `in` and rules applied in increasing numeric order of <n>. Write a whole rule
 * set in one transaction; netback re-reads the subtree on every change (counters restart from
 * zero). A rule set that does not parse is not half-applied: that direction fails closed (every
 * frame dropped, counted under the policy) until dom0 writes one that does. dom0 reads the
 * counters back by writing <backend>/statistics/request (netback answers under statistics/).
 */
import type { ParsedFrame } from './packet';
import { formatIpv4, parseCidr, parseIpv4, prefixMask } from './packet';

export type RuleProto = 'any' | 'ip' | 'tcp' | 'udp' | 'icmp' | 'arp';
export type RuleAction = 'accept' | 'drop' | 'count';
export type Policy = 'accept' | 'drop';
export type Direction = 'out' | 'in';
export const DIRECTIONS: readonly Direction[] = ['out', 'in'];

export interface AddrMatch {
  addr: number;
  mask: number;
}

export interface PortRange {
  lo: number;
  hi: number;
}

export interface Rule {
  action: RuleAction;
  proto: RuleProto;
  src?: AddrMatch;
  dst?: AddrMatch;
  sport?: PortRange;
  dport?: PortRange;
}

export interface RuleSet {
  rules: Rule[];
  policy: Policy;
}

export const ACCEPT_ALL: RuleSet = { rules: [], policy: 'accept' };
export const DROP_ALL: RuleSet = { rules: [], policy: 'drop' };

export interface Counter {
  packets: number;
  bytes: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const PROTOS: readonly RuleProto[] = ['any', 'ip', 'tcp', 'udp', 'icmp', 'arp'];
const ACTIONS: readonly RuleAction[] = ['accept', 'drop', 'count'];

function parseAddr(v: string): AddrMatch | null {
  const slash = v.indexOf('/');
  if (slash >= 0) {
    const mask = parseIpv4(v.slice(slash + 1));
    const addr = parseIpv4(v.slice(0, slash));
    if (mask !== null && addr !== null) return { addr: (addr & mask) >>> 0, mask };
  }
  return parseCidr(v);
}

function parsePorts(v: string): PortRange | null {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
  if (!m) return null;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return lo <= hi && hi <= 0xffff ? { lo, hi } : null;
}

/** One rule from its text form (dom0's input: coded errors, never a throw). */
export function parseRule(text: string): Parsed<Rule> {
  const words = String(text).trim().split(/\s+/).filter(Boolean);
  const action = words.shift() as RuleAction | undefined;
  if (!action || !ACTIONS.includes(action)) return { ok: false, error: `rule "${text}": action must be accept, drop or count` };
  const rule: Rule = { action, proto: 'any' };
  const seen = new Set<string>();
  for (const w of words) {
    const eq = w.indexOf('=');
    const k = eq < 0 ? w : w.slice(0, eq);
    const v = eq < 0 ? '' : w.slice(eq + 1);
    if (seen.has(k)) return { ok: false, error: `rule "${text}": ${k} given twice` };
    seen.add(k);
    switch (k) {
      case 'proto':
        if (!PROTOS.includes(v as RuleProto)) return { ok: false, error: `rule "${text}": proto must be one of ${PROTOS.join(', ')}` };
        rule.proto = v as RuleProto;
        break;
      case 'src':
      case 'dst': {
        const a = parseAddr(v);
        if (!a) return { ok: false, error: `rule "${text}": bad ${k} address "${v}"` };
        rule[k] = a;
        break;
      }
      case 'sport':
      case 'dport': {
        const p = parsePorts(v);
        if (!p) return { ok: false, error: `rule "${text}": bad ${k} "${v}"` };
        rule[k] = p;
        break;
      }
      default:
        return { ok: false, error: `rule "${text}": unknown field "${k}"` };
    }
  }
  if ((rule.sport || rule.dport) && !['any', 'ip', 'tcp', 'udp'].includes(rule.proto))
    return { ok: false, error: `rule "${text}": ports need proto tcp, udp, ip or any` };
  return { ok: true, value: rule };
}

const maskText = (m: AddrMatch): string => {
  for (let len = 0; len <= 32; len++) if (prefixMask(len) === m.mask) return len === 32 ? formatIpv4(m.addr) : `${formatIpv4(m.addr)}/${len}`;
  return `${formatIpv4(m.addr)}/${formatIpv4(m.mask)}`;
};

/** The text form of a rule (what dom0 writes; parseRule(formatRule(r)) equals r). */
export function formatRule(r: Rule): string {
  const parts: string[] = [r.action];
  if (r.proto !== 'any') parts.push(`proto=${r.proto}`);
  if (r.src) parts.push(`src=${maskText(r.src)}`);
  if (r.dst) parts.push(`dst=${maskText(r.dst)}`);
  if (r.sport) parts.push(`sport=${r.sport.lo === r.sport.hi ? r.sport.lo : `${r.sport.lo}-${r.sport.hi}`}`);
  if (r.dport) parts.push(`dport=${r.dport.lo === r.dport.hi ? r.dport.lo : `${r.dport.lo}-${r.dport.hi}`}`);
  return parts.join(' ');
}

export function parsePolicy(v: string | null): Parsed<Policy> {
  if (v === null || v.trim() === '' || v.trim() === 'accept') return { ok: true, value: 'accept' };
  if (v.trim() === 'drop') return { ok: true, value: 'drop' };
  return { ok: false, error: `policy "${v}": must be accept or drop` };
}

/** A rule set from the nodes of one direction's directory (name → value); rules by numeric name. */
export function parseRuleSet(nodes: Readonly<Record<string, string | null>>): Parsed<RuleSet> {
  const pol = parsePolicy(nodes.policy ?? null);
  if (!pol.ok) return pol;
  const names = Object.keys(nodes).filter((n) => n !== 'policy');
  const bad = names.find((n) => !/^(0|[1-9]\d{0,8})$/.test(n));
  if (bad !== undefined) return { ok: false, error: `node "${bad}": rule nodes are numbered` };
  const rules: Rule[] = [];
  for (const n of names.map(Number).sort((a, b) => a - b)) {
    const v = nodes[String(n)];
    if (v === null || v === undefined) continue; // removed meanwhile
    const r = parseRule(v);
    if (!r.ok) return r;
    rules.push(r.value);
  }
  return { ok: true, value: { rules, policy: pol.value } };
}

const inMask = (m: AddrMatch | undefined, a: number | undefined): boolean => !m || (a !== undefined && ((a & m.mask) >>> 0) === m.addr);
const inRange = (r: PortRange | undefined, p: number | undefined): boolean => !r || (p !== undefined && p >= r.lo && p <= r.hi);

/** Does `rule`'s pattern match this frame? */
export function matchRule(rule: Rule, f: ParsedFrame): boolean {
  const ip = f.ip;
  switch (rule.proto) {
    case 'any':
      break;
    case 'ip':
      if (!ip) return false;
      break;
    case 'tcp':
      if (!ip || ip.proto !== 6) return false;
      break;
    case 'udp':
      if (!ip || ip.proto !== 17) return false;
      break;
    case 'icmp':
      if (!ip || ip.proto !== 1) return false;
      break;
    case 'arp':
      if (!f.arp) return false;
      break;
  }
  const src = ip ? ip.src : f.arp?.spa;
  const dst = ip ? ip.dst : f.arp?.tpa;
  if (!inMask(rule.src, src) || !inMask(rule.dst, dst)) return false;
  const l4 = f.udp ?? f.tcp;
  return inRange(rule.sport, l4?.src) && inRange(rule.dport, l4?.dst);
}

/** A rule set with its counters: what one direction of one interface holds. */
export class RuleTable {
  readonly counters: Counter[];
  readonly policyCounter: Counter = { packets: 0, bytes: 0 };

  constructor(readonly set: RuleSet = ACCEPT_ALL) {
    this.counters = set.rules.map(() => ({ packets: 0, bytes: 0 }));
  }

  /** Walk the rules (first accept/drop wins; count rules count and go on); returns the verdict. */
  judge(f: ParsedFrame): { verdict: Policy; rule: number } {
    const rules = this.set.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (!matchRule(r, f)) continue;
      this.counters[i].packets++;
      this.counters[i].bytes += f.length;
      if (r.action !== 'count') return { verdict: r.action, rule: i };
    }
    this.policyCounter.packets++;
    this.policyCounter.bytes += f.length;
    return { verdict: this.set.policy, rule: -1 };
  }
}
