/** sharp (libvips) and thumbhash as apps/worker has them (see README.md). */
export { default as sharp } from '../../apps/worker/node_modules/sharp/dist/index.mjs';
export { rgbaToThumbHash } from '../../apps/worker/node_modules/thumbhash/thumbhash.js';
