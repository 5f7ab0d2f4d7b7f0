/**
 * The live host's control socket: a Unix socket carrying msgpack messages (msgpackr streams),
 * one request `{ id, op, args }` answered by `{ id, ok, result | error }`. Each request becomes a
 * dom0 job at the current instant (ops.ts) — the CLI acts on a live host exactly as xl does, through
 * dom0's hypercalls.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { PackrStream, UnpackrStream } from 'msgpackr';
import { ControlError, runOp, type ControlContext } from './ops';

export interface ControlRequest {
  id: number;
  op: string;
  args?: Record<string, unknown>;
}
export type ControlReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface JobRunner {
  /** Run a dom0 job to completion in (paced) virtual time. */
  run(name: string, body: ReturnType<typeof runOp>): Promise<unknown>;
}

export class ControlServer {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly ctx: ControlContext,
    private readonly jobs: JobRunner,
    readonly path: string,
  ) {}

  listen(): Promise<void> {
    if (existsSync(this.path)) unlinkSync(this.path);
    const server = createServer((s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
  }

  private accept(sock: Socket): void {
    this.sockets.add(sock);
    const out = new PackrStream();
    const inp = new UnpackrStream();
    out.pipe(sock);
    sock.pipe(inp);
    const drop = () => {
      this.sockets.delete(sock);
      sock.destroy();
    };
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', drop);
    inp.on('error', () => drop()); // not msgpack: drop the connection, nothing else is affected
    inp.on('data', (m: unknown) => {
      void this.serve(m).then((r) => out.write(r));
    });
  }

  async serve(m: unknown): Promise<ControlReply> {
    const req = m as Partial<ControlRequest>;
    const id = typeof req?.id === 'number' ? req.id : -1;
    if (typeof req?.op !== 'string') return { id, ok: false, error: 'malformed request: no op' };
    try {
      const body = runOp(this.ctx, req.op, (req.args ?? {}) as Record<string, unknown>);
      return { id, ok: true, result: await this.jobs.run(`xt ${req.op}`, body) };
    } catch (e) {
      const msg = e instanceof ControlError ? e.message : `internal error: ${(e as Error)?.message ?? e}`;
      return { id, ok: false, error: msg };
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    if (existsSync(this.path)) unlinkSync(this.path);
  }
}
