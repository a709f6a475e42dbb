export * from './services.js';
export * from './images.js';
export * from './bot-api-double.js';
