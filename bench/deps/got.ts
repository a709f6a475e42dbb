/** got as packages/telegram has it (see README.md). */
export { default as got } from '../../packages/telegram/node_modules/got/dist/source/index.js';
