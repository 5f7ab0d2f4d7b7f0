/**
 * sysctl(struct xen_sysctl *): host-wide control, privileged domains only: physinfo, the domain
 * list, per-pool scheduler parameters (XEN_SYSCTL_scheduler_op) and cpupools (XEN_SYSCTL_cpupool_op).
 */
import {
  Errno,
  SYSCTL,
  VIRQ,
  XEN_SYSCTL_CPUPOOL_OP,
  XEN_SYSCTL_CPUPOOL_PAR_ANY,
  XEN_SYSCTL_INTERFACE_VERSION,
  DOMID_SELF,
} from '../abi/xen';
import { abi } from '../abi';
import { pcpuid } from '../abi/types';
import { CpuSet } from '../machine/cpuset';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';
import { Window, writeDomainInfo } from './domctl';

const U = abi.SYSCTL_U;

export function sysctl(hv: Hypervisor, v: Vcpu, [arg]: number[]): number {
  const cur = v.domain;
  const mem = cur.mem.view;
  const hdr = abi.xen_sysctl.read(mem, arg);
  if (hdr.interface_version !== XEN_SYSCTL_INTERFACE_VERSION) return -Errno.EACCES;
  if (!cur.isPrivileged) return -Errno.EPERM;
  const u = arg + U;
  switch (hdr.cmd) {
    case SYSCTL.physinfo: {
      const t = hv.topology.spec;
      abi.xen_sysctl_physinfo.init(mem, u, {
        threads_per_core: t.threadsPerCore,
        cores_per_socket: t.coresPerSocket,
        nr_cpus: hv.topology.nrCpus,
        max_cpu_id: hv.topology.nrCpus - 1,
        nr_nodes: 1,
        max_node_id: 0,
        cpu_khz: hv.tscHz / 1000,
        total_pages: hv.mem.totalFrames,
        free_pages: hv.mem.freeFrames,
        max_mfn: hv.mem.totalFrames - 1,
      });
      return 0;
    }
    case SYSCTL.getdomaininfolist: {
      const S = abi.xen_sysctl_getdomaininfolist;
      const a = S.read(mem, u);
      const size = abi.xen_domctl_getdomaininfo.size;
      const list = [...hv.domains.values()].filter((d) => d.id >= a.first_domain).sort((x, y) => x.id - y.id).slice(0, a.max_domains);
      if (list.length > 0 && !mem.isMapped(a.buffer, list.length * size, true)) return -Errno.EFAULT;
      list.forEach((d, i) => writeDomainInfo(hv, d, mem, a.buffer + i * size));
      S.set(mem, u, 'num_domains', list.length);
      return 0;
    }
    case SYSCTL.scheduler_op: {
      const a = abi.xen_sysctl_scheduler_op.read(mem, u);
      const pool = hv.fw.pools.get(a.cpupool_id);
      if (!pool) return -Errno.EINVAL;
      if (pool.ops.schedId !== a.sched_id) return -Errno.EINVAL;
      if (a.cmd > 1) return -Errno.EINVAL;
      const window = new Window(mem, u + abi.SYSCTL_SCHEDOP_U, abi.xen_sysctl.size - U - abi.SYSCTL_SCHEDOP_U);
      return hv.fw.adjustGlobal(pool, a.cmd, window, mem);
    }
    case SYSCTL.cpupool_op:
      return cpupoolOp(hv, cur, mem, u);
    case SYSCTL.debug_keys: {
      // Any key: VIRQ_DEBUG to every domain that bound it ("dump your state").
      for (const d of hv.domains.values()) if (d.active) for (const x of d.vcpus) hv.evtchn.sendVirq(x, VIRQ.DEBUG);
      return 0;
    }
    default:
      return -Errno.ENOSYS;
  }
}

function cpupoolOp(hv: Hypervisor, cur: Vcpu['domain'], mem: Vcpu['domain']['mem']['view'], u: number): number {
  const S = abi.xen_sysctl_cpupool_op;
  const a = S.read(mem, u);
  const fw = hv.fw;
  switch (a.op) {
    case XEN_SYSCTL_CPUPOOL_OP.CREATE: {
      const ops = hv.schedulerById(a.sched_id);
      if (!ops) return -Errno.ENOENT; // scheduler_alloc()
      let id = a.cpupool_id;
      if (id === XEN_SYSCTL_CPUPOOL_PAR_ANY) {
        id = 1;
        while (fw.pools.has(id)) id++;
      } else if (fw.pools.has(id)) return -Errno.EEXIST;
      fw.createPool(id, `Pool-${id}`, ops);
      S.set(mem, u, 'cpupool_id', id);
      return 0;
    }
    case XEN_SYSCTL_CPUPOOL_OP.DESTROY: {
      const pool = fw.pools.get(a.cpupool_id);
      if (!pool) return -Errno.ENOENT;
      if (pool.id === 0) return -Errno.EINVAL;
      return fw.destroyPool(pool);
    }
    case XEN_SYSCTL_CPUPOOL_OP.INFO: {
      // The pool with the lowest id >= cpupool_id, as Xen's cpupool_get_next_by_id.
      const pool = [...fw.pools.values()].filter((p) => p.id >= a.cpupool_id).sort((x, y) => x.id - y.id)[0];
      if (!pool) return -Errno.ENOENT;
      S.write(mem, u, { cpupool_id: pool.id, sched_id: pool.ops.schedId, n_dom: pool.domains.size });
      if (a.cpumap_bitmap) mem.setBytes(a.cpumap_bitmap, pool.cpus.toBitmap(a.cpumap_nr_bits));
      return 0;
    }
    case XEN_SYSCTL_CPUPOOL_OP.ADDCPU: {
      const pool = fw.pools.get(a.cpupool_id);
      if (!pool) return -Errno.ENOENT;
      const free = fw.pcpus.filter((p) => !p.pool).map((p) => p.id);
      const cpu = a.cpu === XEN_SYSCTL_CPUPOOL_PAR_ANY ? free[0] : a.cpu;
      if (cpu === undefined || !fw.pcpus[cpu]) return -Errno.ENODEV;
      if (fw.pcpus[cpu].pool) return -Errno.EBUSY;
      fw.addCpu(pool, pcpuid(cpu));
      S.set(mem, u, 'cpu', cpu);
      return 0;
    }
    case XEN_SYSCTL_CPUPOOL_OP.RMCPU: {
      const pool = fw.pools.get(a.cpupool_id);
      if (!pool) return -Errno.ENOENT;
      const ids = pool.cpus.ids;
      const cpu = a.cpu === XEN_SYSCTL_CPUPOOL_PAR_ANY ? ids[ids.length - 1] : a.cpu;
      if (cpu === undefined || !pool.cpuIds.has(pcpuid(cpu))) return -Errno.EINVAL;
      if (pool.id === 0 && cpu === 0) return -Errno.EBUSY; // cpu0 cannot leave Pool-0
      return fw.removeCpu(pcpuid(cpu));
    }
    case XEN_SYSCTL_CPUPOOL_OP.MOVEDOMAIN: {
      // rcu_lock_remote_domain_by_id: the caller itself is -EPERM, a missing domain -ESRCH
      if (a.domid === DOMID_SELF || a.domid === cur.id) return -Errno.EPERM;
      const d = hv.domains.get(a.domid);
      if (!d || !d.alive) return -Errno.ESRCH;
      if (d.pool.id === a.cpupool_id) return 0;
      const pool = fw.pools.get(a.cpupool_id);
      if (!pool || pool.cpuIds.size === 0) return -Errno.ENOENT;
      return fw.moveDomain(d, pool);
    }
    case XEN_SYSCTL_CPUPOOL_OP.FREEINFO: {
      const free = CpuSet.of(fw.pcpus.filter((p) => !p.pool).map((p) => p.id));
      if (a.cpumap_bitmap) mem.setBytes(a.cpumap_bitmap, free.toBitmap(a.cpumap_nr_bits));
      return 0;
    }
    default:
      return -Errno.ENOSYS;
  }
}
