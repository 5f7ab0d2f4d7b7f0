/**
 * Virtual block devices, the toolstack's side (libxl_disk.c's device_disk_add): add a vbd to a
 * guest with libxl's xenstore layout and permissions, and remove it. The backend (blkback in a
 * driver domain, or dom0) and the frontend find everything there.
 *
 * What `vbdAdd` writes (through @xenotype/xenbus deviceAdd, so libxl__device_generic_add's
 * permissions: the backend directory owned by the backend domain and readable by the guest, the
 * frontend directory owned by the guest and readable by the backend):
 *   backend  /local/domain/<be>/backend/vbd/<fe>/<devid>: frontend, frontend-id, online = 1,
 *            state = 1, params (the image path), removable = 0, bootable = 1, dev (xvda), type
 *            (phy), mode (w or r), device-type (disk or cdrom), discard-enable
 *   frontend /local/domain/<fe>/device/vbd/<devid>: backend, backend-id, state = 1,
 *            virtual-device (devid), device-type, protocol = x86_64-abi (libxl writes it for PV
 *            guests, for frontends older than 2.6.26)
 *   libxl    /libxl/<fe>/device/vbd/<devid>: frontend, backend and the backend's entries
 * libxl's `script` (/etc/xen/scripts/block) is left out: there are no hotplug scripts here, and
 * blkback itself writes hotplug-status = connected once it has opened the image.
 */
import { BLK_NODE, xvdDevid } from '@xenotype/blk';
import { NODE, XEN_IO_PROTO_ABI_NATIVE, deviceAdd, deviceRemove, type Co, type DevicePaths, type XenstoreCap } from '@xenotype/xenbus';

export const VBD_TYPE = 'vbd';

export interface VbdSpec {
  /** The guest. */
  domid: number;
  /** The domain running blkback (a driver domain, or dom0). */
  backendDomid?: number;
  /** The guest's name for the disk (default xvda). */
  vdev?: string;
  /** What the backend opens: the image's path (libxl's pdev_path, written as params). */
  target: string;
  /** "w" (default) or "r". */
  mode?: 'w' | 'r';
  /** libxl's backend kind string (default phy). */
  backendType?: 'phy' | 'qdisk';
  cdrom?: boolean;
  /** discard-enable (default on). */
  discard?: boolean;
}

export interface VbdAdded extends DevicePaths {
  devid: number;
}

/**
 * libxl__device_disk_dev_number for Xen disk names: xvdX (X = a..p) → (202 << 8) | (disk << 4),
 * plus a partition number 1..15; xvd disks beyond p use the extended form (1 << 28) | (disk << 8).
 */
export function vdevDevid(vdev: string): number {
  const m = /^xvd([a-z]+)(\d*)$/.exec(vdev);
  if (!m) throw new RangeError(`"${vdev}" is not a xvd disk name`);
  let disk = 0;
  for (const ch of m[1]) disk = disk * 26 + (ch.charCodeAt(0) - 96);
  disk -= 1;
  const part = m[2] === '' ? 0 : Number(m[2]);
  if (disk < 16 && part < 16) return xvdDevid(disk, part);
  if (part > 255 || disk >= 1 << 20) throw new RangeError(`"${vdev}" is out of range`);
  return (1 << 28) | (disk << 8) | part;
}

/** Add a vbd (libxl_device_disk_add's xenstore part). */
export function* vbdAdd(xs: XenstoreCap, v: VbdSpec): Co<VbdAdded> {
  const vdev = v.vdev ?? 'xvda';
  const devid = vdevDevid(vdev);
  const deviceType = v.cdrom ? 'cdrom' : 'disk';
  const paths = yield* deviceAdd(xs, {
    type: VBD_TYPE,
    devid,
    frontendDomid: v.domid,
    backendDomid: v.backendDomid ?? 0,
    backend: {
      [BLK_NODE.params]: v.target,
      [BLK_NODE.removable]: 0,
      [BLK_NODE.bootable]: 1,
      [BLK_NODE.dev]: vdev,
      [BLK_NODE.type]: v.backendType ?? 'phy',
      [BLK_NODE.mode]: v.mode ?? 'w',
      [BLK_NODE.deviceType]: deviceType,
      [BLK_NODE.discardEnable]: v.discard === false ? 0 : 1,
    },
    frontend: { [BLK_NODE.virtualDevice]: devid, [BLK_NODE.deviceType]: deviceType, [NODE.protocol]: XEN_IO_PROTO_ABI_NATIVE },
  });
  return { ...paths, devid };
}

/** Remove a vbd's directories (the backend sees its directory vanish and lets go; the frontend fails what is outstanding). */
export function* vbdRemove(xs: XenstoreCap, v: Pick<VbdSpec, 'domid' | 'backendDomid' | 'vdev'>): Co<void> {
  yield* deviceRemove(xs, { type: VBD_TYPE, devid: vdevDevid(v.vdev ?? 'xvda'), frontendDomid: v.domid, backendDomid: v.backendDomid ?? 0 });
}
