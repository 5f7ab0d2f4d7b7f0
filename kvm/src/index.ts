/** @xenotype/kvm — real vCPUs on KVM: the addon, the execution backend and the platform. */
export { kvmStatus, loadAddon, ADDON_PATH, type Addon } from './addon';
export { KvmExecutor, XEN_HYPERCALL_MSR, type KvmOptions } from './executor';
export { KvmPlatform, kvmPlatform, type KvmPlatformOptions } from './platform';
export { SlotMirror } from './slots';
