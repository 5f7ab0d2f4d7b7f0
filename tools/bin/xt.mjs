#!/usr/bin/env node
// Launcher for the xt CLI: runs the TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/xt.ts');
