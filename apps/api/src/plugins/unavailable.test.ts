import { describe, expect, it } from '@jest/globals';
import { isServiceUnavailable } from './unavailable.js';

const withCode = (message: string, code?: string, extra: object = {}) => Object.assign(new Error(message), code ? { code } : {}, extra);

describe('isServiceUnavailable', () => {
  it.each([
    ['pg ECONNREFUSED', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['pg aggregate', Object.assign(new AggregateError([withCode('x', 'ECONNREFUSED')]), {})],
    ['pg terminated', new Error('Connection terminated unexpectedly')],
    ['pg connect timeout', new Error('timeout exceeded when trying to connect')],
    ['pg admin shutdown', withCode('terminating connection due to administrator command', '57P01')],
    ['SQLSTATE 08006', withCode('connection failure', '08006')],
    ['wrapped', new Error('outer', { cause: withCode('inner', 'ECONNRESET') })],
  ])('%s', (_name, err) => {
    expect(isServiceUnavailable(err)).toBe(true);
  });

  it.each([
    ['unique violation', withCode('duplicate key', '23505')],
    ['syntax error', withCode('syntax error', '42601')],
    ['plain', new Error('boom')],
    ['not an error', 'ECONNREFUSED'],
  ])('not %s', (_name, err) => {
    expect(isServiceUnavailable(err)).toBe(false);
  });
});
