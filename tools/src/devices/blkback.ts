/**
 * blkback as a driver-domain backend (the "vbd" entry of a driver domain's devd): one `Blkback`
 * per driver domain boot — so one modelled disk shared by that domain's vbds — opening storage
 * through the host's `open` capability (an ImageStore's opener, say).
 */
import { Blkback, type BlkbackOptions, type OpenBlockDevice } from '@xenotype/blk';
import type { BackendFactory } from '../toolstack/driver-domain';

/** A devd backend factory for vbds; `onBoot` sees each driver domain's Blkback (for stats). */
export function blkbackFactory(open: OpenBlockDevice, opts: Omit<BlkbackOptions, 'open'> = {}, onBoot?: (b: Blkback) => void): BackendFactory {
  return (caps) => {
    const b = new Blkback({ ...opts, open });
    onBoot?.(b);
    return b.driver(caps);
  };
}
