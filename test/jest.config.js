import preset from '../jest.preset.js';

export default { ...preset, testMatch: ['<rootDir>/src/**/*.test.ts'], maxWorkers: 2 };
