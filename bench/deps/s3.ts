/**
 * The AWS SDK's S3 client and lib-storage as packages/storage has them (see README.md): CommonJS,
 * required as that package would, typed from their declaration files.
 */
import type * as S3Types from '../../packages/storage/node_modules/@aws-sdk/client-s3/dist-types/index.js';
import type * as LibStorageTypes from '../../packages/storage/node_modules/@aws-sdk/lib-storage/dist-types/index.js';
import { requireFrom } from './root.js';

const fromStorage = requireFrom('packages/storage');

export const s3 = fromStorage('@aws-sdk/client-s3') as typeof S3Types;
export const { Upload } = fromStorage('@aws-sdk/lib-storage') as typeof LibStorageTypes;
