/**
 * Typed trace records. They mirror what Xen's scheduler and event paths emit through xentrace
 * (TRC_SCHED_* in trace.h), so exporters (JSON lines, xentrace binary, Perfetto) are translations of
 * one stream. `t` is virtual time in ns; `cpu` the pCPU the record belongs to (as Xen's per-CPU
 * trace buffers), or -1 for records not tied to a pCPU.
 */
import type { Runstate } from '../abi/xen';

interface Base {
  t: number;
  cpu: number;
}
export type TraceRecord =
  | (Base & { type: 'runstate'; dom: number; vcpu: number; from: Runstate; to: Runstate })
  | (Base & {
      type: 'switch';
      prevDom: number;
      prevVcpu: number;
      nextDom: number;
      nextVcpu: number;
      /** ns prev ran in this stint (TRC_SCHED_SWITCH_INFPREV). */
      prevRan: number;
      /** ns next waited runnable (TRC_SCHED_SWITCH_INFNEXT), 0 if it was not runnable. */
      nextWaited: number;
      /** slice granted, -1 for none. */
      slice: number;
    })
  | (Base & { type: 'continue'; dom: number; vcpu: number; ran: number; slice: number })
  | (Base & { type: 'wake' | 'sleep' | 'block' | 'yield'; dom: number; vcpu: number })
  | (Base & { type: 'migrate'; dom: number; vcpu: number; from: number; to: number })
  | (Base & { type: 'dom_add' | 'dom_rem' | 'adjdom'; dom: number })
  | (Base & { type: 'pool_move'; dom: number; from: number; to: number })
  | (Base & { type: 'shutdown'; dom: number; vcpu: number; reason: number })
  | (Base & { type: 'crash'; dom: number; why: string })
  | (Base & { type: 'evtchn_send'; dom: number; port: number; rdom: number; rport: number })
  | (Base & { type: 'hypercall'; dom: number; vcpu: number; nr: number; op: number; rc: number })
  | (Base & { type: 'console'; dom: number; text: string })
  | (Base & { type: 'policy_error'; pool: number; policy: string; hook: string; message: string })
  | (Base & { type: 'policy'; policy: string; traceClass: number; event: number; name: string; data: number[] });

export type TraceType = TraceRecord['type'];
