/**
 * The S3 client the bare baselines use: the SDK as anyone would set it up for RGW/R2, with the
 * checksum setting these stores need (the same one packages/storage uses, for the same reason),
 * and bounded waits (5 s to connect, 30 s without a byte) so a silent store fails the run
 * instead of hanging it.
 */
import { s3 } from '../deps/s3.js';

export function bareS3Client() {
  const env = process.env;
  return new s3.S3Client({
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION ?? 'auto',
    forcePathStyle: true,
    credentials: { accessKeyId: env.S3_ACCESS_KEY_ID!, secretAccessKey: env.S3_SECRET_ACCESS_KEY! },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
  });
}

export const bucket = (): string => process.env.S3_BUCKET!;
