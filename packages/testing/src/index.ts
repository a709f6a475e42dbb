export * from './services.js';
export * from './images.js';
