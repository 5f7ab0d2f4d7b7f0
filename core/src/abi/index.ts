export * from './bytes';
export * from './layout';
export * from './types';
export * from './xen';
export * as abi from './structs';
