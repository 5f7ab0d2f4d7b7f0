/** A control-socket client: one request, one reply. */
import { connect } from 'node:net';
import { PackrStream, UnpackrStream } from 'msgpackr';
import type { ControlReply } from './server';

export class ControlClientError extends Error {}

export function controlRequest(path: string, op: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const out = new PackrStream();
    const inp = new UnpackrStream();
    out.pipe(sock);
    sock.pipe(inp);
    const timer = setTimeout(() => fail(new ControlClientError(`no reply from ${path} within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    sock.on('error', (e: NodeJS.ErrnoException) =>
      fail(new ControlClientError(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no live host at ${path} (start one with \`xt host\`)` : e.message)),
    );
    inp.on('data', (r: ControlReply) => {
      clearTimeout(timer);
      sock.end();
      if (r.ok) resolve(r.result);
      else reject(new ControlClientError(r.error));
    });
    out.write({ id: 1, op, args });
  });
}
