import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'prisma/config';
import { createMigrationAdapter } from './src/pg-shims.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// engine 'js': migrations run through the pg driver adapter and the WASM schema
// engine, so nothing is downloaded (see ../../README.md, "Toolchain notes").
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join(root, 'prisma/schema.prisma'),
  migrations: { path: path.join(root, 'prisma/migrations') },
  adapter: async () => createMigrationAdapter(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/rehost'),
});
