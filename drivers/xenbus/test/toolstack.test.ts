import { describe, expect, it } from 'vitest';
import { XenstoreError, deviceAdd, deviceRemove, switchState, transaction, XenbusState as S } from '@xenotype/xenbus';
import { MockStore, domainDirsCreate, runOne } from './mock-xenstore';

function host(domains: number[] = [2, 5, 6]) {
  const store = new MockStore();
  const dom0 = store.client(0);
  for (const d of domains) runOne(store, domainDirsCreate(dom0, d, `guest${d}`));
  return { store, dom0 };
}

const vif = { type: 'vif', devid: 0, frontendDomid: 5, backendDomid: 2, backend: { mac: '00:16:3e:00:00:05', bridge: 'xenbr0' }, frontend: { mac: '00:16:3e:00:00:05', handle: 0 } };

describe('toolstack: device directories as libxl creates them', () => {
  it('writes the frontend, backend and libxl directories with libxl’s nodes and permissions', () => {
    const { store, dom0 } = host();
    const p = runOne(store, deviceAdd(dom0, vif));
    expect(p).toEqual({
      frontend: '/local/domain/5/device/vif/0',
      backend: '/local/domain/2/backend/vif/5/0',
      libxl: '/libxl/5/device/vif/0',
    });
    const values = (dir: string) => Object.fromEntries(store.paths(dir).filter((k) => k !== dir).map((k) => [k.slice(dir.length + 1), store.get(k)]));
    expect(values(p.frontend)).toEqual({ backend: p.backend, 'backend-id': '2', state: '1', mac: '00:16:3e:00:00:05', handle: '0' });
    expect(values(p.backend)).toEqual({ frontend: p.frontend, 'frontend-id': '5', online: '1', state: '1', mac: '00:16:3e:00:00:05', bridge: 'xenbr0' });
    expect(values(p.libxl)).toEqual({ frontend: p.frontend, backend: p.backend, 'frontend-id': '5', online: '1', state: '1', mac: '00:16:3e:00:00:05', bridge: 'xenbr0' });
    // frontend directory owned by the frontend, readable by the backend; every node the same
    for (const k of store.paths(p.frontend)) expect(store.perms(k), k).toBe('n5,r2');
    // backend directory owned by the backend, readable by the frontend (entries inherit)
    for (const k of store.paths(p.backend)) expect(store.perms(k), k).toBe('n2,r5');
    // the toolstack's copy is dom0's
    expect(store.perms(p.libxl)).toBe('n0');
    expect(store.perms('/local/domain/5')).toBe('n0,r5');
    expect(store.perms('/local/domain/5/device')).toBe('n0,r5');
  });

  it('gives each domain exactly the access libxl intends', () => {
    const { store, dom0 } = host();
    const p = runOne(store, deviceAdd(dom0, vif));
    const fe = store.client(5);
    const be = store.client(2);
    const other = store.client(6);
    // each end writes its own directory and reads the peer's
    runOne(store, fe.write(`${p.frontend}/ring-ref`, '8'));
    runOne(store, be.write(`${p.backend}/feature-rx-copy`, '1'));
    expect(runOne(store, fe.read(`${p.backend}/feature-rx-copy`))).toBe('1');
    expect(runOne(store, be.read(`${p.frontend}/ring-ref`))).toBe('8');
    // ... but not the peer's, nor the toolstack's
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as XenstoreError).code;
      }
    };
    expect(code(() => runOne(store, fe.write(`${p.backend}/state`, '4')))).toBe('EACCES');
    expect(code(() => runOne(store, be.write(`${p.frontend}/state`, '4')))).toBe('EACCES');
    expect(code(() => runOne(store, fe.read(`${p.libxl}/backend`)))).toBe('EACCES');
    // a third domain sees neither
    expect(code(() => runOne(store, other.read(`${p.frontend}/ring-ref`)))).toBe('EACCES');
    expect(code(() => runOne(store, other.read(`${p.backend}/state`)))).toBe('EACCES');
    // nodes a guest creates in its own directory are its own
    expect(store.perms(`${p.frontend}/ring-ref`)).toBe('n5,r2');
    runOne(store, fe.write(`${p.frontend}/queue-0/tx-ring-ref`, '9'));
    expect(store.perms(`${p.frontend}/queue-0/tx-ring-ref`)).toBe('n5,r2');
  });

  it('console 0 lives in /local/domain/<d>/console, owned by the backend and read-only to the guest', () => {
    const { store, dom0 } = host();
    const p = runOne(store, deviceAdd(dom0, { type: 'console', devid: 0, frontendDomid: 5, backendDomid: 0, frontend: { 'ring-ref': 3, port: 1 } }));
    expect(p.frontend).toBe('/local/domain/5/console');
    expect(store.perms(p.frontend)).toBe('n0,r5');
    expect(store.perms(`${p.frontend}/ring-ref`)).toBe('n0,r5');
  });

  it('retries the whole transaction on EAGAIN', () => {
    const { store, dom0 } = host();
    store.forcedConflicts = 3;
    runOne(store, deviceAdd(dom0, vif));
    expect(store.commits.eagain).toBe(3);
    expect(store.get('/local/domain/2/backend/vif/5/0/state')).toBe('1');
  });

  it('gives up after too many conflicts, with EAGAIN', () => {
    const { store, dom0 } = host();
    store.forcedConflicts = 1000;
    expect(() => runOne(store, transaction(dom0, function* (t) { yield* dom0.write('/x', '1', t); }))).toThrow(/EAGAIN/);
    expect(store.get('/x')).toBeNull();
  });

  it('re-adding replaces the old directories; removing deletes all three', () => {
    const { store, dom0 } = host();
    const p = runOne(store, deviceAdd(dom0, vif));
    runOne(store, store.client(5).write(`${p.frontend}/stale`, 'x'));
    runOne(store, deviceAdd(dom0, { ...vif, frontend: {} }));
    expect(store.get(`${p.frontend}/stale`)).toBeNull();
    expect(store.get(`${p.frontend}/mac`)).toBeNull();
    runOne(store, deviceRemove(dom0, vif));
    for (const d of [p.frontend, p.backend, p.libxl]) expect(store.paths(d)).toEqual([]);
    expect(store.get('/local/domain/5/device')).toBe('');
  });

  it('switchState refuses an illegal transition of our own and does nothing once the device is gone', () => {
    const { store, dom0 } = host();
    const p = runOne(store, deviceAdd(dom0, vif));
    const fe = store.client(5);
    expect(runOne(store, switchState(fe, p.frontend, S.Initialised))).toBe(true);
    expect(() => runOne(store, switchState(fe, p.frontend, S.InitWait))).toThrow(/Initialised → InitWait/);
    expect(store.get(`${p.frontend}/state`)).toBe('3');
    runOne(store, deviceRemove(dom0, vif));
    expect(runOne(store, switchState(fe, p.frontend, S.Closing))).toBe(false);
    expect(store.paths(p.frontend)).toEqual([]); // not recreated
  });
});
