/** got as packages/telegram has it (see README.md). */
import type GotModule from '../../packages/telegram/node_modules/got/dist/source/index.js';
import { repoUrl } from './root.js';

export const got = ((await import(repoUrl('packages/telegram/node_modules/got/dist/source/index.js').href)) as { default: typeof GotModule }).default;
