/**
 * io/console.h: struct xencons_interface, one page shared by a guest and the console daemon.
 *
 *   offset    0  char in[1024]        input: daemon → guest
 *   offset 1024  char out[2048]       output: guest → daemon
 *   offset 3072  XENCONS_RING_IDX in_cons, in_prod
 *   offset 3080  XENCONS_RING_IDX out_cons, out_prod
 *
 * Indices are free-running u32; MASK_XENCONS_IDX(idx, ring) = idx & (sizeof(ring) - 1). Checked
 * against the header by test/conformance/rings.test.ts.
 */
import type { StreamLayout } from '@xenotype/ring';

/** The `in` direction (daemon produces, guest consumes). */
export const CONSOLE_IN: StreamLayout = { data: 0, size: 1024, cons: 3072, prod: 3076 };
/** The `out` direction (guest produces, daemon consumes). */
export const CONSOLE_OUT: StreamLayout = { data: 1024, size: 2048, cons: 3080, prod: 3084 };
/** sizeof(struct xencons_interface). */
export const XENCONS_INTERFACE_SIZE = 3088;
