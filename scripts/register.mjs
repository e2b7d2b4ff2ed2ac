// `node --import ./scripts/register.mjs`: TypeScript through tsx, `?raw` WGSL.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

register('./raw-loader.mjs', import.meta.url);
registerTsx();
