/** node-postgres as packages/db has it (see README.md), typed from @types/pg. */
import type PgTypes from '../../packages/db/node_modules/@types/pg/index.js';
import { requireFrom } from './root.js';

export const pg = requireFrom('packages/db')('pg') as typeof PgTypes;
