/**
 * The host's xenstore socket: a Unix socket whose clients are served by dom0's xenstored. A thin
 * adapter — bytes from a client enter the simulation as an engine event at the current instant
 * (the link's inbox is filled and the socket interrupt raised to dom0), and whatever the daemon
 * sends is written back to the client. Like C xenstored it unlinks a stale path, binds, and makes
 * the socket mode 0600.
 */
import net from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Hypervisor } from '@xenotype/core';
import type { RealtimePacer } from '../host/realtime';
import { XENSTORED_SOCKET_PIRQ, type Xenstored } from './service';

export class XenstoreSocketServer {
  private server: net.Server | null = null;
  private readonly clients = new Set<net.Socket>();
  /** Connections accepted so far. */
  accepted = 0;

  constructor(
    private readonly xsd: Xenstored,
    private readonly hv: Hypervisor,
    private readonly pacer: RealtimePacer,
    readonly path: string,
  ) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    if (existsSync(this.path)) unlinkSync(this.path);
    const srv = net.createServer((sock) => this.accept(sock));
    this.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.path, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.path, 0o600);
  }

  private accept(sock: net.Socket): void {
    this.accepted++;
    this.clients.add(sock);
    const pacer = this.pacer;
    const hv = this.hv;
    let link: ReturnType<Xenstored['openSocket']> | null = null;
    pacer.inject(() => {
      link = this.xsd.openSocket(
        (b) => {
          if (!sock.destroyed) sock.write(b);
        },
        () => sock.end(),
      );
    });
    sock.on('data', (d: Buffer) => {
      const bytes = new Uint8Array(d.buffer, d.byteOffset, d.length);
      pacer.inject(() => {
        link?.receive(bytes);
        hv.raiseIrq(XENSTORED_SOCKET_PIRQ);
      });
    });
    const gone = () => {
      if (!this.clients.delete(sock)) return;
      if (pacer.isRunning)
        pacer.inject(() => {
          link?.hangup();
          hv.raiseIrq(XENSTORED_SOCKET_PIRQ);
        });
    };
    sock.on('close', gone);
    sock.on('error', gone);
  }

  async close(): Promise<void> {
    for (const s of this.clients) s.destroy();
    this.clients.clear();
    const srv = this.server;
    this.server = null;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}
