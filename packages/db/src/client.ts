import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.js';

export type Db = PrismaClient;

export interface CreateDbOptions {
  /** Pool size per process. @defaultValue 10 */
  max?: number;
}

/**
 * Prisma over the `pg` driver adapter (no native engine). A `?schema=` in the URL
 * selects the PostgreSQL schema (tests give each suite its own).
 */
export function createDb(databaseUrl: string, opts: CreateDbOptions = {}): Db {
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get('schema') ?? undefined;
  url.searchParams.delete('schema');
  const adapter = new PrismaPg(
    { connectionString: url.toString(), max: opts.max ?? 10, connectionTimeoutMillis: 5000 },
    schema ? { schema } : undefined,
  );
  return new PrismaClient({ adapter });
}
