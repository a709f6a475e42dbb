/** node-postgres as packages/db has it (see README.md), typed from @types/pg. */
import { createRequire } from 'node:module';
import type PgTypes from '../../packages/db/node_modules/@types/pg/index.js';

export const pg = createRequire(new URL('../../packages/db/package.json', import.meta.url))('pg') as typeof PgTypes;
