// Piscina worker entry: load TypeScript through tsx's loader in this thread (the xt launcher
// registers it with tsx/esm/api, which worker threads do not inherit), then serve task.ts.
import { register } from 'tsx/esm/api';

register();
const task = await import('./task.ts');
export default task.default;
