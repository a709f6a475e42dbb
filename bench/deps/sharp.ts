/**
 * sharp (libvips) and thumbhash as apps/worker has them (see README.md), required as that package
 * would: it works from bench/deps/ under tsx and from bench/dist/deps/ once compiled.
 */
import type SharpType from '../../apps/worker/node_modules/sharp/lib/index.js';
import type * as ThumbHash from '../../apps/worker/node_modules/thumbhash/thumbhash.js';
import { repoUrl, requireFrom } from './root.js';

export const sharp = requireFrom('apps/worker')('sharp') as typeof SharpType;
export const { rgbaToThumbHash } = (await import(repoUrl('apps/worker/node_modules/thumbhash/thumbhash.js').href)) as typeof ThumbHash;
