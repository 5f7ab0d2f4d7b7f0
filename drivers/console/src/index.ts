/**
 * @xenotype/console — the PV console protocol (io/console.h): the shared page layout, the guest's
 * frontend and the daemon's backend step function. Front and back never import each other.
 */
export * from './layout';
export { ConsoleFrontend } from './frontend';
export { ConsoleBackend, type PumpResult } from './backend';
