export * from './env.js';
export * from './load.js';
